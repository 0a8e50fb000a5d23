//! Prometheus metrics at `/metrics`: requests by route and status, latency, features per layer,
//! reloads and their failures.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LayerLabel {
    pub layer: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// The server's counters.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    features: Family<LayerLabel, Gauge>,
    pub reloads: Counter,
    pub reload_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kat");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let features = Family::<LayerLabel, Gauge>::default();
        let reloads = Counter::default();
        let reload_failures = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route pattern",
            latency.clone(),
        );
        registry.register(
            "layer_features",
            "Features served per layer",
            features.clone(),
        );
        registry.register("reloads", "Successful data reloads", reloads.clone());
        registry.register(
            "reload_failures",
            "Reloads refused because a data file was bad",
            reload_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            features,
            reloads,
            reload_failures,
        }
    }

    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Sets the features gauge from `(layer id, feature count)` pairs.
    pub fn set_features<'a>(&self, counts: impl Iterator<Item = (&'a str, usize)>) {
        for (layer, n) in counts {
            self.features
                .get_or_create(&LayerLabel {
                    layer: layer.to_string(),
                })
                .set(n as i64);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
