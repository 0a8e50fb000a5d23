//! `properties=a,b` and `skipGeometry=true`: features with only some of their members.
//!
//! The store keeps each feature as the JSON bytes it serves; a selection re-reads those bytes
//! and writes the feature again with the chosen members, for these requests only.

use super::encode::{write_head, Link};
use super::params::ParamError;
use crate::layer::Layer;
use crate::query::Results;
use serde_json::Value;

/// The most names in `properties`.
pub const MAX_PROPERTIES: usize = 64;

/// Which members of each feature an answer keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The properties to keep, in the feature's own order; `None` keeps them all.
    pub properties: Option<Vec<String>>,
    pub skip_geometry: bool,
}

impl Selection {
    /// Whether the features are served whole.
    pub fn is_whole(&self) -> bool {
        self.properties.is_none() && !self.skip_geometry
    }

    /// Reads `properties` and `skipGeometry`.
    ///
    /// ```
    /// use kat::api::select::Selection;
    /// let s = Selection::parse(Some("event_type,fatalities"), Some("true")).unwrap();
    /// assert_eq!(s.properties.unwrap(), ["event_type", "fatalities"]);
    /// assert!(Selection::parse(None, Some("yes")).is_err());
    /// ```
    pub fn parse(properties: Option<&str>, skip: Option<&str>) -> Result<Selection, ParamError> {
        let properties = properties
            .map(|s| {
                let names: Vec<String> = if s.is_empty() {
                    Vec::new()
                } else {
                    s.split(',').map(|n| n.trim().to_string()).collect()
                };
                if names.len() > MAX_PROPERTIES
                    || names.iter().any(|n| n.is_empty() || n.len() > 64)
                {
                    return Err(ParamError::new(
                        "properties",
                        s,
                        format!(
                            "a comma-separated list of at most {MAX_PROPERTIES} property names \
                             (empty for none)"
                        ),
                    ));
                }
                Ok(names)
            })
            .transpose()?;
        let skip_geometry = match skip {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ParamError::new("skipGeometry", other, "true or false")),
        };
        Ok(Selection {
            properties,
            skip_geometry,
        })
    }

    /// Appends feature `idx` with only the selected members.
    pub fn write_feature(
        &self,
        layer: &Layer,
        idx: u32,
        distance_m: Option<f64>,
        out: &mut Vec<u8>,
    ) {
        let mut whole = Vec::with_capacity(layer.feature_len(idx) + 32);
        layer.write_feature(idx, &mut whole, distance_m);
        let Ok(mut feature) = serde_json::from_slice::<Value>(&whole) else {
            out.extend_from_slice(&whole);
            return;
        };
        if self.skip_geometry {
            feature["geometry"] = Value::Null;
        }
        if let (Some(keep), Some(Value::Object(props))) =
            (&self.properties, feature.get_mut("properties"))
        {
            props.retain(|k, _| keep.iter().any(|n| n == k) || k == "distance_m");
        }
        if serde_json::to_writer(&mut *out, &feature).is_err() {
            out.extend_from_slice(&whole);
        }
    }

    /// The FeatureCollection for one page, each feature reduced to the selection.
    pub fn feature_collection(
        &self,
        layer: &Layer,
        results: &Results,
        links: &[Link],
        time_stamp: &str,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(2048 + results.items.len() * 256);
        write_head(results, links, time_stamp, &mut out);
        self.write_features(layer, results, 0..results.items.len(), &mut out);
        out.extend_from_slice(b"]}");
        out
    }

    /// Appends the features of `range` (positions in `results.items`), comma-separated.
    pub fn write_features(
        &self,
        layer: &Layer,
        results: &Results,
        range: std::ops::Range<usize>,
        out: &mut Vec<u8>,
    ) {
        for i in range {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            let d = results.distances.as_ref().map(|d| d[i]);
            self.write_feature(layer, results.items[i], d, out);
        }
    }
}
