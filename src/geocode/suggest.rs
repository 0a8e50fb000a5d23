//! Suggestions while a name is being typed: the answers for the query as it stands, then
//! the names that begin with it ("Pont-So" → Pont-Sondé), so that a search box can offer
//! places before the last word is finished.

use std::collections::HashSet;

use super::matching::{Cand, Resolved};
use super::normalize::{compact, tokens};
use super::types::Candidate;
use super::Gazetteer;

/// Fewer letters than this (spaces and accents aside) complete nothing: two letters begin
/// too many names to be worth listing.
pub const MIN_PREFIX: usize = 3;

impl Gazetteer {
    /// Up to `limit` places for a name being typed, best first: [`Gazetteer::search`]'s
    /// answers for the text as it is, then the names that begin with it or have a word that
    /// begins with it, commune and department names before neighbourhoods, shorter names
    /// first. A completion's score is the share of its name already typed, below 1.
    ///
    /// ```no_run
    /// use kat::geocode::Gazetteer;
    /// let g = Gazetteer::load(std::path::Path::new("data")).unwrap();
    /// let s = g.suggest("Pont-So", 5);
    /// assert!(s.iter().any(|c| c.name.starts_with("Pont")));
    /// ```
    pub fn suggest(&self, q: &str, limit: usize) -> Vec<Candidate> {
        let mut out = self.search(q, limit);
        let mut seen: HashSet<(String, [i64; 2])> = out.iter().map(place_key).collect();
        let words = tokens(q);
        let typed = compact(&words.join(" "));
        if out.len() >= limit || typed.chars().count() < MIN_PREFIX {
            return out;
        }
        let mut hits: Vec<(u8, usize, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.compact.starts_with(&typed)
                    || (words.len() == 1 && e.key.split(' ').any(|w| w.starts_with(&typed)))
            })
            .map(|(i, e)| (e.rank(&self.units), e.compact.len(), i))
            .collect();
        hits.sort_unstable();
        for (_, len, i) in hits {
            if out.len() >= limit {
                break;
            }
            let e = &self.entries[i];
            let score = (typed.len() as f64 / len.max(1) as f64).min(0.95);
            let r = Resolved {
                unit: e.unit,
                parts: vec![e.unit],
                point: e.point,
                chosen: vec![Cand {
                    entry: i,
                    unit: e.unit,
                    score,
                    loose: false,
                }],
                score,
            };
            let c = self.candidate(&r);
            if seen.insert(place_key(&c)) {
                out.push(c);
            }
        }
        out
    }
}

/// Where a candidate lands: its most precise P-code and its point to about a metre. Two
/// spellings of one place ("Pont-Sondé", "Pont Sonde") land at the same place and are
/// offered once.
fn place_key(c: &Candidate) -> (String, [i64; 2]) {
    let code = c
        .section_pcode
        .clone()
        .or_else(|| c.commune_pcode.clone())
        .unwrap_or_else(|| c.department_pcode.clone());
    let at = c.point.map(|v| (v * 1e5).round() as i64);
    (code, at)
}
