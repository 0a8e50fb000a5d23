//! Rendered tiles and aggregates, kept by their ETag: the data version and the request. A
//! map asks the same tiles and counts of every viewer, and at a million points rendering one
//! costs hundreds of milliseconds; kept, it costs a lookup. A reload changes the version, so
//! old answers are never served again and age out as new ones come in.
//!
//! ```
//! use kat::tiles::cache::{Rendered, Answer};
//! let cache = Rendered::new(1 << 20);
//! cache.put("\"v1-tile\"", Answer::new(bytes::Bytes::from_static(b"tile"), "application/vnd.mapbox-vector-tile"));
//! assert_eq!(cache.get("\"v1-tile\"").unwrap().body.as_ref(), b"tile");
//! assert!(cache.get("\"v2-tile\"").is_none());
//! ```

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// One rendered answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    pub content_type: &'static str,
    /// The `OGC-NumberMatched` of an aggregate.
    pub matched: Option<u64>,
    /// The `Content-Disposition` of a CSV download.
    pub disposition: Option<String>,
}

impl Answer {
    pub fn new(body: Bytes, content_type: &'static str) -> Answer {
        Answer {
            body,
            content_type,
            matched: None,
            disposition: None,
        }
    }
}

#[derive(Default)]
struct Held {
    answers: HashMap<String, Arc<Answer>>,
    /// Keys, oldest first: the first to go when the cache is full.
    order: VecDeque<String>,
    bytes: usize,
}

/// Answers up to a number of bytes, the oldest dropped first.
pub struct Rendered {
    held: Mutex<Held>,
    capacity: usize,
}

impl Rendered {
    /// A cache holding at most `capacity` bytes of answers.
    pub fn new(capacity: usize) -> Rendered {
        Rendered {
            held: Mutex::new(Held::default()),
            capacity,
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Answer>> {
        self.held.lock().ok()?.answers.get(key).cloned()
    }

    /// Keeps `answer` under `key`; an answer over an eighth of the capacity is not kept.
    pub fn put(&self, key: &str, answer: Answer) {
        let size = answer.body.len() + key.len();
        if size > self.capacity / 8 {
            return;
        }
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        if held.answers.contains_key(key) {
            return;
        }
        while held.bytes + size > self.capacity {
            let Some(old) = held.order.pop_front() else {
                break;
            };
            if let Some(a) = held.answers.remove(&old) {
                held.bytes -= a.body.len() + old.len();
            }
        }
        held.bytes += size;
        held.order.push_back(key.to_string());
        held.answers.insert(key.to_string(), Arc::new(answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_answers_go_first_when_the_cache_is_full() {
        let cache = Rendered::new(800);
        for k in 0..20 {
            cache.put(
                &format!("k{k:02}"),
                Answer::new(Bytes::from(vec![0u8; 97]), "x"),
            );
        }
        // 100 bytes each (97 + a 3-byte key): the last eight fit.
        assert!(cache.get("k11").is_none());
        assert!((12..20).all(|k| cache.get(&format!("k{k:02}")).is_some()));
        cache.put("big", Answer::new(Bytes::from(vec![0u8; 200]), "x"));
        assert!(cache.get("big").is_none(), "over an eighth of the capacity");
    }
}
