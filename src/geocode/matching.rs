//! Turning a location cell into places: split it into mentions, match each mention against
//! the gazetteer (exact, then spacing, sound and typo tolerant), then choose among homonyms
//! with the other mentions and the row's stated unit as context.

use std::collections::{BTreeMap, HashSet};

use super::admin::UnitRef;
use super::fuzzy::{damerau_levenshtein, edit_budget};
use super::normalize::{compact, phonetic, tokens};
use super::types::{Candidate, GeocodeStatus, Kind, Placement};
use super::{Entry, Gazetteer, Origin};

/// Below this score a match is not offered as an answer.
pub const SCORE_MIN: f64 = 0.7;
/// Score of a spelling two edits away from a short name: never an answer on its own, only
/// support when another place in the same cell points to the same area ("Seguin, Pont-Sonde").
const LOOSE_SCORE: f64 = 0.5;
/// Extra weight of a candidate lying inside the row's stated commune or department.
const CONTEXT_BONUS: f64 = 0.5;

/// Words that are never a place name on their own: they describe buildings, roads or the
/// kind of area ("Commissariat de Cabaret", "Prison civile", "centre-ville").
const STOPWORDS: &[&str] = &[
    "a",
    "au",
    "aux",
    "d",
    "de",
    "du",
    "des",
    "en",
    "l",
    "la",
    "le",
    "les",
    "of",
    "the",
    "in",
    "at",
    "on",
    "to",
    "from",
    "and",
    "et",
    "or",
    "incl",
    "including",
    "commissariat",
    "sous",
    "prison",
    "civile",
    "centre",
    "ville",
    "route",
    "rue",
    "avenue",
    "base",
    "post",
    "poste",
    "section",
    "communale",
    "communales",
    "communal",
    "commune",
    "hopital",
    "lycee",
    "college",
    "market",
    "zone",
    "zones",
    "area",
    "quartier",
    "hills",
    "town",
    "hall",
    "destroyed",
    "demolished",
    "public",
    "institutions",
    "state",
    "national",
    "nationale",
    "no",
    "road",
    "coastal",
    "port",
    "general",
    "penitencier",
    "universite",
    "etat",
    "near",
    "approach",
    "aeroport",
    "international",
    "sur",
    "pres",
    "entree",
    "nord",
    "sud",
];

/// Words that turn what follows into a reference point rather than the place itself
/// ("near Pont-Sondé", "behind Tabarre town hall", "periphery of La Chapelle").
const REFERENCE_MARKERS: &[&str] = &[
    "near",
    "pres",
    "proche",
    "behind",
    "derriere",
    "periphery",
    "peripherie",
    "outskirts",
    "approach",
    "towards",
    "vers",
    "west",
    "east",
    "north",
    "south",
    "border",
    "frontiere",
];

/// Words that join several places in one cell.
const JOINERS: &[&str] = &["and", "et", "or"];

fn is_stop(t: &str) -> bool {
    STOPWORDS.contains(&t)
}

/// One gazetteer entry that a mention may mean.
#[derive(Debug, Clone)]
pub(crate) struct Cand {
    pub entry: usize,
    pub unit: UnitRef,
    pub score: f64,
    pub loose: bool,
}

/// One place named in a cell, with every entry it may mean.
#[derive(Debug, Clone)]
pub(crate) struct Mention {
    pub cands: Vec<Cand>,
    /// Named only as a landmark nearby ("near X").
    pub reference: bool,
    pub order: usize,
}

/// The place a cell resolves to.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub unit: UnitRef,
    /// The most precise unit known for each place named (departments named as qualifiers
    /// left out).
    pub parts: Vec<UnitRef>,
    pub point: Option<[f64; 2]>,
    pub chosen: Vec<Cand>,
    pub score: f64,
}

impl Gazetteer {
    /// Candidates for a free-text place query, best first. The first candidate resolves the
    /// whole query (several places in one query give the smallest unit that holds them all);
    /// the others are alternative readings. An unknown place gives an empty vector.
    ///
    /// ```no_run
    /// use kat::geocode::Gazetteer;
    /// let g = Gazetteer::load(std::path::Path::new("data")).unwrap();
    /// assert_eq!(g.search("Seguin", 1)[0].department, "Sud-Est");
    /// assert_eq!(g.search("Seguin, Pont-Sonde", 1)[0].department, "Artibonite");
    /// assert!(g.search("?!", 5).is_empty());
    /// ```
    pub fn search(&self, q: &str, limit: usize) -> Vec<Candidate> {
        if limit == 0 {
            return Vec::new();
        }
        let mentions = self.mentions(q);
        let Some(best) = self.resolve(&mentions, None) else {
            return Vec::new();
        };
        if best.score < SCORE_MIN {
            return Vec::new();
        }
        let first = self.candidate(&best);
        let mut seen: HashSet<(String, String)> = HashSet::new();
        seen.insert((first.name.clone(), self.units.pcode(best.unit).to_string()));
        let cap = first.score;
        let mut out = vec![first];
        let mut alternatives: Vec<Cand> = mentions
            .iter()
            .flat_map(|m| m.cands.iter())
            .filter(|c| !c.loose && c.score >= SCORE_MIN)
            .cloned()
            .collect();
        alternatives.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| {
                    self.entries[a.entry]
                        .rank(&self.units)
                        .cmp(&self.entries[b.entry].rank(&self.units))
                })
                .then(a.entry.cmp(&b.entry))
        });
        for c in alternatives {
            if out.len() >= limit {
                break;
            }
            let single = Resolved {
                unit: c.unit,
                parts: vec![c.unit],
                point: self.entries[c.entry].point,
                chosen: vec![c.clone()],
                score: c.score,
            };
            let mut cand = self.candidate(&single);
            if !seen.insert((cand.name.clone(), self.units.pcode(c.unit).to_string())) {
                continue;
            }
            // Alternatives rank below the reading chosen with the whole query's context.
            cand.score = cand.score.min(cap * 0.95);
            out.push(cand);
        }
        out.truncate(limit);
        out
    }

    /// Places one import row: its location cell read with its commune and department columns
    /// as context. The row's own commune and department are what the source states; a name
    /// may refine them (to a section or a point inside) but never move the row elsewhere.
    ///
    /// ```no_run
    /// use kat::geocode::{Gazetteer, GeocodeStatus};
    /// let g = Gazetteer::load(std::path::Path::new("data")).unwrap();
    /// let p = g.place_row("Pont-Sondé", Some("Saint-Marc"), Some("Artibonite"));
    /// assert_eq!(p.geocode_status, GeocodeStatus::Matched);
    /// assert_eq!(p.geo_precision, Some(2));
    /// ```
    pub fn place_row(
        &self,
        location: &str,
        commune: Option<&str>,
        department: Option<&str>,
    ) -> Placement {
        let commune = commune.map(str::trim).filter(|s| !s.is_empty());
        let department = department.map(str::trim).filter(|s| !s.is_empty());
        let dept_unit = department.and_then(|d| self.admin_unit(d, None, true));
        let commune_unit = commune.and_then(|c| self.admin_unit(c, dept_unit, false));
        let stated = commune_unit.or(dept_unit);
        let mentions = self.mentions(location);
        let resolved = self
            .resolve(&mentions, stated)
            .filter(|r| r.score >= SCORE_MIN);
        match (resolved, stated) {
            (Some(r), None) => {
                self.placement(r.unit, r.point, GeocodeStatus::Matched, self.basis(&r))
            }
            (Some(r), Some(s)) if self.units.within(r.unit, s) => {
                self.placement(r.unit, r.point, GeocodeStatus::Matched, self.basis(&r))
            }
            (Some(r), Some(s)) if self.units.within(s, r.unit) => {
                self.placement(s, None, GeocodeStatus::Matched, self.basis(&r))
            }
            (Some(r), Some(s)) => self.placement(s, None, GeocodeStatus::Conflict, self.basis(&r)),
            (None, Some(s)) => {
                let level = match s {
                    UnitRef::Department(_) => "department",
                    UnitRef::Commune(_) => "commune",
                    UnitRef::Section(_) => "section",
                };
                let basis = format!("{level}: {}", self.units.name(s));
                self.placement(s, None, GeocodeStatus::Matched, basis)
            }
            (None, None) => Placement::unresolved(),
        }
    }

    /// The units a cell names, one list per place, each as the most precise unit known for
    /// it: used to build areas. Empty when nothing matches.
    pub(crate) fn resolve_units(
        &self,
        location: &str,
        commune: Option<&str>,
        department: Option<&str>,
    ) -> (Vec<UnitRef>, Option<UnitRef>) {
        let commune = commune.map(str::trim).filter(|s| !s.is_empty());
        let department = department.map(str::trim).filter(|s| !s.is_empty());
        let dept_unit = department.and_then(|d| self.admin_unit(d, None, true));
        let commune_unit = commune.and_then(|c| self.admin_unit(c, dept_unit, false));
        let stated = commune_unit.or(dept_unit);
        let mentions = self.mentions(location);
        let units = match self
            .resolve(&mentions, stated)
            .filter(|r| r.score >= SCORE_MIN)
        {
            Some(r) if stated.is_none_or(|s| self.units.within(r.unit, s)) => r.parts,
            _ => Vec::new(),
        };
        (units, stated)
    }

    /// The unit a commune or department column names. Department columns only accept
    /// departments; commune columns prefer COD-AB communes and then the alias table (for the
    /// communes created after 2018, which COD-AB does not have).
    pub(crate) fn admin_unit(
        &self,
        name: &str,
        within: Option<UnitRef>,
        department: bool,
    ) -> Option<UnitRef> {
        let mentions = self.mentions_of_tokens(&tokens(name), true);
        let mut cands: Vec<&Cand> = mentions
            .iter()
            .flat_map(|m| m.cands.iter())
            .filter(|c| !c.loose && c.score >= SCORE_MIN)
            .filter(|c| within.is_none_or(|w| self.units.within(c.unit, w)))
            .filter(|c| department == matches!(c.unit, UnitRef::Department(_)))
            .collect();
        cands.sort_by(|a, b| {
            b.score.total_cmp(&a.score).then_with(|| {
                let level = |c: &Cand| u8::from(!matches!(c.unit, UnitRef::Commune(_)));
                level(a).cmp(&level(b)).then(
                    self.entries[a.entry]
                        .rank(&self.units)
                        .cmp(&self.entries[b.entry].rank(&self.units)),
                )
            })
        });
        cands.first().map(|c| c.unit)
    }

    fn basis(&self, r: &Resolved) -> String {
        let mut names: Vec<&str> = Vec::new();
        for c in &r.chosen {
            let e = &self.entries[c.entry];
            let name = match e.origin {
                Origin::Colloquial | Origin::Unit | Origin::SectionBare => self.units.name(e.unit),
                Origin::Locality | Origin::GeoNames => e.name.as_str(),
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join("; ")
    }

    fn placement(
        &self,
        unit: UnitRef,
        point: Option<[f64; 2]>,
        status: GeocodeStatus,
        basis: String,
    ) -> Placement {
        let u = &self.units;
        let d = &u.departments[u.department_of(unit)];
        let commune = u.commune_of(unit).map(|c| &u.communes[c]);
        let section = match unit {
            UnitRef::Section(s) => Some(&u.sections[s]),
            _ => None,
        };
        let precision = match (point, unit) {
            (Some(_), _) => 1,
            (None, UnitRef::Section(_)) => 2,
            (None, UnitRef::Commune(_)) => 3,
            (None, UnitRef::Department(_)) => 4,
        };
        Placement {
            point: Some(point.unwrap_or_else(|| u.point(unit))),
            geo_precision: Some(precision),
            geocode_status: status,
            geocode_basis: Some(basis),
            section: section.map(|s| s.name.clone()),
            section_pcode: section.map(|s| s.pcode.clone()),
            commune: commune.map(|c| c.name.clone()),
            commune_pcode: commune.map(|c| c.pcode.clone()),
            department: Some(d.name.clone()),
            department_pcode: Some(d.pcode.clone()),
        }
    }

    pub(crate) fn candidate(&self, r: &Resolved) -> Candidate {
        let u = &self.units;
        let p = self.placement(r.unit, r.point, GeocodeStatus::Matched, self.basis(r));
        let (name, kind, source) = match r.chosen.as_slice() {
            [only] => {
                let e: &Entry = &self.entries[only.entry];
                let name = match e.origin {
                    Origin::Locality | Origin::GeoNames => e.name.clone(),
                    _ => u.name(e.unit).to_string(),
                };
                // A single name placed at a coarser unit than it names keeps its own kind.
                (name, e.kind(), e.source.clone())
            }
            many => {
                let kind = match (r.point, r.unit) {
                    (Some(_), _) => Kind::Locality,
                    (None, UnitRef::Section(_)) => Kind::Section,
                    (None, UnitRef::Commune(_)) => Kind::Commune,
                    (None, UnitRef::Department(_)) => Kind::Department,
                };
                let mut sources: Vec<&str> = Vec::new();
                for c in many {
                    let s = self.entries[c.entry].source.as_str();
                    if !sources.contains(&s) {
                        sources.push(s);
                    }
                }
                (u.name(r.unit).to_string(), kind, sources.join(" ; "))
            }
        };
        Candidate {
            name,
            kind,
            section: p.section,
            section_pcode: p.section_pcode,
            commune: p.commune,
            commune_pcode: p.commune_pcode,
            department: p.department.unwrap_or_default(),
            department_pcode: p.department_pcode.unwrap_or_default(),
            precision: p.geo_precision.unwrap_or(4),
            score: r.score.clamp(0.0, 1.0),
            source,
            point: p.point.unwrap_or_default(),
            basis: p.geocode_basis.unwrap_or_default(),
        }
    }

    /// Splits a cell into mentions of places.
    pub(crate) fn mentions(&self, q: &str) -> Vec<Mention> {
        let mut out = Vec::new();
        let pieces = q.split(|c: char| ";,/()[]{}|\n".contains(c));
        for piece in pieces {
            let toks = tokens(piece);
            let (section_mentions, rest) = self.ordinal_sections(&toks);
            out.extend(section_mentions);
            for part in rest.split(|t| JOINERS.contains(&t.as_str())) {
                let (subject, reference) = split_reference(part);
                let found = self.mentions_of_tokens(subject, false);
                if found.is_empty()
                    && subject
                        .iter()
                        .any(|t| !is_stop(t) && t.parse::<u32>().is_err())
                {
                    // A place that the gazetteer does not know ("Carrefour ODN", "Rue
                    // Capois"): kept as an empty mention, so that the answer is not made
                    // finer than the unknown place allows.
                    out.push(Mention {
                        cands: Vec::new(),
                        reference: false,
                        order: 0,
                    });
                }
                out.extend(found);
                for mut m in self.mentions_of_tokens(reference, false) {
                    m.reference = true;
                    out.push(m);
                }
            }
        }
        for (i, m) in out.iter_mut().enumerate() {
            m.order = i;
        }
        out
    }

    /// "1re et 2e sections communales de Petite-Rivière de l'Artibonite" names sections by
    /// number: one mention per number, each the section of that number in the named commune.
    /// Returns those mentions and the tokens left to read as names.
    fn ordinal_sections(&self, toks: &[String]) -> (Vec<Mention>, Vec<String>) {
        let Some(at) = toks.iter().position(|t| t == "section") else {
            return (Vec::new(), toks.to_vec());
        };
        let mut numbers = Vec::new();
        let mut start = at;
        while start > 0 {
            let t = &toks[start - 1];
            if let Ok(n) = t.parse::<u32>() {
                numbers.push(n);
            } else if !JOINERS.contains(&t.as_str()) {
                break;
            }
            start -= 1;
        }
        if numbers.is_empty() {
            return (Vec::new(), toks.to_vec());
        }
        numbers.reverse();
        let mut rest_at = at + 1;
        while rest_at < toks.len()
            && matches!(
                toks[rest_at].as_str(),
                "communale" | "communales" | "communal" | "de" | "of" | "du" | "d"
            )
        {
            rest_at += 1;
        }
        let mut leftover = toks[..start].to_vec();
        let commune_cands: Vec<Cand> = self
            .mentions_of_tokens(&toks[rest_at..], true)
            .into_iter()
            .flat_map(|m| m.cands)
            .filter(|c| !c.loose && matches!(c.unit, UnitRef::Commune(_)))
            .collect();
        if commune_cands.is_empty() {
            // "Lamadelle (1re section)": the number alone says nothing the name does not.
            leftover.extend_from_slice(&toks[rest_at..]);
            return (Vec::new(), leftover);
        }
        let mentions = numbers
            .iter()
            .filter_map(|&n| {
                let cands: Vec<Cand> = commune_cands
                    .iter()
                    .filter_map(|c| {
                        let pcode = format!("{}-{n:02}", self.units.pcode(c.unit));
                        let unit = *self.units.by_pcode.get(&pcode)?;
                        Some(Cand {
                            entry: self.unit_entry[&unit],
                            unit,
                            score: c.score,
                            loose: false,
                        })
                    })
                    .collect();
                (!cands.is_empty()).then_some(Mention {
                    cands,
                    reference: false,
                    order: 0,
                })
            })
            .collect();
        (mentions, leftover)
    }

    /// Finds the places named in a run of tokens: the longest spans that match exactly first,
    /// then typo-tolerant matches in what is left. `whole` says that the tokens are a whole
    /// column value (a commune or department column), where department names may match.
    pub(crate) fn mentions_of_tokens(&self, toks: &[String], whole: bool) -> Vec<Mention> {
        let n = toks.len();
        let mut covered = vec![false; n];
        let mut found: Vec<(usize, Mention)> = Vec::new();
        let meaningful = |i: usize, j: usize| {
            // A whole column value ("Centre") is a name even when it is also a common word.
            whole
                || toks[i..j]
                    .iter()
                    .any(|t| !is_stop(t) && t.parse::<u32>().is_err())
        };
        let whole_span = |i: usize, j: usize| {
            whole
                || toks[..i]
                    .iter()
                    .chain(&toks[j..])
                    .all(|t| is_stop(t) || t == "departement" || t == "department")
        };
        for len in (1..=n.min(7)).rev() {
            for i in 0..=n - len {
                let j = i + len;
                if covered[i..j].iter().any(|&c| c) || !meaningful(i, j) {
                    continue;
                }
                // "Carrefour X" is a crossroads named X, not the commune of Carrefour.
                if len == 1
                    && matches!(toks[i].as_str(), "carrefour" | "kafou")
                    && toks[j..].iter().any(|t| !is_stop(t))
                {
                    continue;
                }
                let key = toks[i..j].join(" ");
                if let Some(cands) = self.exact_cands(&key, whole_span(i, j)) {
                    covered[i..j].iter_mut().for_each(|c| *c = true);
                    found.push((
                        i,
                        Mention {
                            cands,
                            reference: false,
                            order: 0,
                        },
                    ));
                }
            }
        }
        for len in (1..=n.min(6)).rev() {
            for i in 0..=n - len {
                let j = i + len;
                if covered[i..j].iter().any(|&c| c)
                    || is_stop(&toks[i])
                    || is_stop(&toks[j - 1])
                    || !meaningful(i, j)
                {
                    continue;
                }
                let key = toks[i..j].join(" ");
                let cands = self.fuzzy_cands(&key, whole_span(i, j), false);
                if cands.iter().any(|c| !c.loose) {
                    covered[i..j].iter_mut().for_each(|c| *c = true);
                    found.push((
                        i,
                        Mention {
                            cands,
                            reference: false,
                            order: 0,
                        },
                    ));
                }
            }
        }
        found.sort_by_key(|(i, _)| *i);
        found.into_iter().map(|(_, m)| m).collect()
    }

    /// Entries whose key, spaceless key or sound key equals the span; with the loose
    /// neighbours of short names added as context-only candidates.
    fn exact_cands(&self, key: &str, whole: bool) -> Option<Vec<Cand>> {
        let ckey = compact(key);
        let tiers: [(Option<&Vec<usize>>, f64); 3] = [
            (self.exact.get(key), 1.0),
            (self.compact.get(&ckey), 0.97),
            (
                (ckey.len() >= 5)
                    .then(|| self.phonetic.get(&phonetic(key)))
                    .flatten(),
                0.9,
            ),
        ];
        for (hits, score) in tiers {
            let Some(hits) = hits else { continue };
            let mut cands: Vec<Cand> = hits
                .iter()
                .filter(|&&e| whole || !self.whole_only(&self.entries[e]))
                .map(|&e| Cand {
                    entry: e,
                    unit: self.entries[e].unit,
                    score,
                    loose: false,
                })
                .collect();
            if cands.is_empty() {
                continue;
            }
            cands.extend(self.fuzzy_cands(key, whole, true));
            let mut seen = HashSet::new();
            cands.retain(|c| seen.insert(c.entry));
            return Some(cands);
        }
        None
    }

    /// Typo-tolerant candidates: within the edit budget of the shorter name (strict), or —
    /// when `loose_only` — one edit further for names of 5–8 letters, as context-only support.
    fn fuzzy_cands(&self, key: &str, whole: bool, loose_only: bool) -> Vec<Cand> {
        let q = compact(key);
        let qlen = q.chars().count();
        if qlen < 5 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if !whole && self.whole_only(e) {
                continue;
            }
            let elen = e.compact.chars().count();
            let shorter = qlen.min(elen);
            let budget = edit_budget(shorter);
            let loose_budget = if (5..=8).contains(&shorter) {
                budget + 1
            } else {
                budget
            };
            let Some(d) = damerau_levenshtein(&q, &e.compact, loose_budget) else {
                continue;
            };
            if d == 0 {
                continue;
            }
            if d <= budget && !loose_only {
                out.push(Cand {
                    entry: i,
                    unit: e.unit,
                    score: 0.9 - 0.08 * d as f64,
                    loose: false,
                });
            } else if d > budget || loose_only {
                out.push(Cand {
                    entry: i,
                    unit: e.unit,
                    score: LOOSE_SCORE,
                    loose: true,
                });
            }
        }
        if !loose_only {
            // Keep only the closest strict spellings: a name one edit away hides those two away.
            let best = out
                .iter()
                .filter(|c| !c.loose)
                .map(|c| c.score)
                .fold(f64::MIN, f64::max);
            out.retain(|c| c.loose || c.score >= best);
        }
        out
    }

    /// Department names that are ordinary words ("Centre", "Nord", Kreyòl "Nò" = "no") only
    /// count when they are the whole value, never inside a longer cell.
    fn whole_only(&self, e: &Entry) -> bool {
        matches!(e.unit, UnitRef::Department(_))
            && matches!(e.origin, Origin::Unit | Origin::Colloquial)
    }

    /// Chooses one reading of the mentions: the department that the mentions (and the stated
    /// unit) support most, then the commune, then the smallest unit holding every mention.
    pub(crate) fn resolve(
        &self,
        mentions: &[Mention],
        context: Option<UnitRef>,
    ) -> Option<Resolved> {
        let u = &self.units;
        let strict = |m: &&Mention| m.cands.iter().any(|c| !c.loose);
        let active: Vec<&Mention> = mentions
            .iter()
            .filter(|m| !m.reference)
            .filter(strict)
            .collect();
        let (used, ref_only): (Vec<&Mention>, bool) = if active.is_empty() {
            (mentions.iter().filter(strict).collect(), true)
        } else {
            (active, false)
        };
        if used.is_empty() {
            return None;
        }
        let eff = |c: &Cand| {
            let bonus = match context {
                Some(ctx) if u.within(c.unit, ctx) => CONTEXT_BONUS,
                Some(ctx) if u.within(ctx, c.unit) => CONTEXT_BONUS / 2.0,
                _ => 0.0,
            };
            c.score + bonus
        };
        // Department support: each mention counts once, with its best reading there; landmarks
        // ("near X") count half.
        let mut support: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
        for m in mentions {
            let weight = if m.reference && !ref_only { 0.5 } else { 1.0 };
            let mut best_here: BTreeMap<usize, f64> = BTreeMap::new();
            for c in &m.cands {
                let d = u.department_of(c.unit);
                let s = best_here.entry(d).or_insert(0.0);
                *s = s.max(eff(c));
            }
            let first_choice = self
                .best_of(m.cands.iter().filter(|c| !c.loose), &eff)
                .map(|c| u.department_of(c.unit));
            for (d, s) in best_here {
                let e = support.entry(d).or_insert((0.0, usize::MAX));
                e.0 += weight * s;
                if first_choice == Some(d) && (!m.reference || ref_only) {
                    e.1 = e.1.min(m.order);
                }
            }
        }
        let (&dept, _) = support
            .iter()
            .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))?;

        // Commune support inside the chosen department.
        let mut commune_support: BTreeMap<Option<usize>, f64> = BTreeMap::new();
        for m in &used {
            let mut best_here: BTreeMap<Option<usize>, f64> = BTreeMap::new();
            for c in m.cands.iter().filter(|c| u.department_of(c.unit) == dept) {
                let s = best_here.entry(u.commune_of(c.unit)).or_insert(0.0);
                *s = s.max(eff(c));
            }
            for (k, s) in best_here {
                *commune_support.entry(k).or_insert(0.0) += s;
            }
        }

        // Places named but not placed: unknown to the gazetteer, or outside the chosen area.
        let mut unplaced = mentions
            .iter()
            .filter(|m| !m.reference && m.cands.is_empty())
            .count();
        let mut picks: Vec<(UnitRef, Option<[f64; 2]>, Vec<Cand>)> = Vec::new();
        for m in &used {
            let here: Vec<&Cand> = m
                .cands
                .iter()
                .filter(|c| u.department_of(c.unit) == dept)
                .collect();
            if here.is_empty() {
                unplaced += usize::from(!ref_only);
                continue;
            }
            let key = |c: &Cand| {
                (
                    eff(c),
                    commune_support
                        .get(&u.commune_of(c.unit))
                        .copied()
                        .unwrap_or(0.0),
                )
            };
            let top = here
                .iter()
                .map(|c| key(c))
                .fold((f64::MIN, f64::MIN), |a, b| {
                    if b.0 > a.0 || (b.0 == a.0 && b.1 > a.1) {
                        b
                    } else {
                        a
                    }
                });
            let tied: Vec<&Cand> = here.iter().copied().filter(|c| key(c) == top).collect();
            let best_rank = tied
                .iter()
                .map(|c| self.entries[c.entry].rank(u))
                .min()
                .unwrap_or(0);
            let tied: Vec<Cand> = tied
                .into_iter()
                .filter(|c| self.entries[c.entry].rank(u) == best_rank)
                .cloned()
                .collect();
            let units: Vec<UnitRef> = tied.iter().map(|c| c.unit).collect();
            let unit = u.cover(&units)?;
            let point = match tied.as_slice() {
                [one] => self.entries[one.entry].point,
                _ => None,
            };
            picks.push((unit, point, tied));
        }
        // With a stated unit, mentions that fall outside it are other places named in passing
        // (or homonyms); when some mention agrees with the statement, keep those only.
        if let Some(ctx) = context {
            let agrees = |unit: UnitRef| u.within(unit, ctx) || u.within(ctx, unit);
            if picks.iter().any(|(unit, _, _)| agrees(*unit)) {
                let before = picks.len();
                picks.retain(|(unit, _, _)| agrees(*unit));
                unplaced += before - picks.len();
            }
        }
        if picks.is_empty() || picks.iter().all(|(_, _, cs)| cs.iter().all(|c| c.loose)) {
            return None;
        }
        // A department named beside places inside it ("Ponsonde, Latibonit") says where they
        // are; it does not widen them to the whole department.
        let qualifier = |(unit, _, cs): &(UnitRef, Option<[f64; 2]>, Vec<Cand>)| {
            matches!(unit, UnitRef::Department(_))
                && cs.iter().all(|c| {
                    matches!(
                        self.entries[c.entry].origin,
                        Origin::Unit | Origin::Colloquial
                    )
                })
        };
        let mut units: Vec<UnitRef> = picks
            .iter()
            .filter(|p| !qualifier(p))
            .map(|p| p.0)
            .collect();
        if units.is_empty() {
            units = picks.iter().map(|p| p.0).collect();
        }
        let mut unit = u.cover(&units)?;
        let points: Vec<Option<[f64; 2]>> = picks
            .iter()
            .filter(|p| !qualifier(p) || units.len() == picks.len())
            .map(|p| p.1)
            .collect();
        let mut point = match points.as_slice() {
            [Some(p), rest @ ..] if rest.iter().all(|q| *q == Some(*p)) => Some(*p),
            _ => None,
        };
        // Near a place is not at it; and beside a place Kat cannot locate, the event may lie
        // anywhere in the commune: either way, keep only the commune.
        if ref_only || unplaced > 0 {
            point = None;
            let to_commune = |unit: UnitRef| match unit {
                UnitRef::Section(s) => UnitRef::Commune(u.sections[s].commune),
                other => other,
            };
            unit = to_commune(unit);
            units.iter_mut().for_each(|x| *x = to_commune(*x));
        }
        let chosen: Vec<Cand> = picks
            .iter()
            .flat_map(|p| p.2.iter().take(1).cloned())
            .collect();
        let score = picks
            .iter()
            .map(|p| p.2.iter().map(|c| c.score).fold(0.0, f64::max))
            .sum::<f64>()
            / picks.len() as f64;
        units.sort();
        units.dedup();
        Some(Resolved {
            unit,
            parts: units,
            point,
            chosen,
            score,
        })
    }

    fn best_of<'a>(
        &self,
        cands: impl Iterator<Item = &'a Cand>,
        eff: &impl Fn(&Cand) -> f64,
    ) -> Option<&'a Cand> {
        let mut best: Option<&Cand> = None;
        for c in cands {
            best = match best {
                None => Some(c),
                Some(b) => {
                    let (ec, eb) = (eff(c), eff(b));
                    if ec > eb
                        || (ec == eb
                            && self.entries[c.entry].rank(&self.units)
                                < self.entries[b.entry].rank(&self.units))
                    {
                        Some(c)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        best
    }
}

/// Splits a part at its first reference marker: what comes before is the place, what comes
/// after is a landmark ("hills near Léogâne"). "X border" makes X the landmark.
fn split_reference(part: &[String]) -> (&[String], &[String]) {
    let Some(k) = part
        .iter()
        .position(|t| REFERENCE_MARKERS.contains(&t.as_str()))
    else {
        return (part, &[]);
    };
    if matches!(part[k].as_str(), "border" | "frontiere") {
        return (&[], &part[..k]);
    }
    if matches!(part[k].as_str(), "west" | "east" | "north" | "south")
        && part.get(k + 1).map(String::as_str) != Some("of")
    {
        return (part, &[]);
    }
    let mut r = k + 1;
    while r < part.len()
        && matches!(
            part[r].as_str(),
            "of" | "de" | "du" | "des" | "the" | "to" | "a" | "l" | "la" | "le"
        )
    {
        r += 1;
    }
    (&part[..k], &part[r..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokens(s)
    }

    #[test]
    fn near_turns_the_rest_into_a_landmark() {
        let t = toks("hills near Léogâne");
        let (subject, landmark) = split_reference(&t);
        assert_eq!(subject, &toks("hills")[..]);
        assert_eq!(landmark, &toks("leogane")[..]);
    }

    #[test]
    fn border_makes_what_precedes_it_a_landmark() {
        let t = toks("Léogâne border");
        let (subject, landmark) = split_reference(&t);
        assert!(subject.is_empty());
        assert_eq!(landmark, &toks("leogane")[..]);
    }

    #[test]
    fn compass_words_without_of_are_names() {
        let t = toks("Nord Ouest");
        assert_eq!(split_reference(&t).0.len(), 2);
    }
}
