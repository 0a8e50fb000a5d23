//! The features of one stretch of the file gathered column by column: their stored JSON, id
//! hashes, points or shapes, dates and queryables' codes, until the first that fails.

use super::feature::{check_type, parse_feature, text_of, FeatureError, ParsedFeature};
use super::geometry::FeatureGeometry;
use super::id_hash;
use crate::catalog::config::CollectionSpec;
use crate::layer::json;
use crate::layer::store::{FramePiece, Segment, SegmentBuilder, SharedDict, TextMemo};
use crate::temporal::Interval;
use geo::Geometry;

/// The features of one stretch of the file, parsed and gathered column by column.
pub(super) struct ParsedBlock {
    /// The position of its first feature in the layer.
    pub(super) first: usize,
    /// The features' JSON, and where each is in it.
    pub(super) segment: Segment,
    pub(super) stored: Vec<(u32, u32)>,
    /// Each feature's [`id_hash`], for the id table.
    pub(super) id_hashes: Vec<u64>,
    /// Each feature's point: NaN for a feature without a geometry, or whose geometry is
    /// another shape (listed in `shapes`). A layer of points then needs one copy of them.
    pub(super) points: Vec<[f64; 2]>,
    /// The features whose geometry is not a point: their position in the block, and shape.
    pub(super) shapes: Vec<(u32, Box<Geometry<f64>>)>,
    pub(super) times: Vec<Interval>,
    /// Per queryable: distinct raw values (in order of first appearance) and each feature's
    /// index into them (`u32::MAX` for none).
    pub(super) distinct: Vec<Vec<Box<str>>>,
    pub(super) codes: Vec<Vec<u32>>,
    pub(super) tmin: i64,
    pub(super) tmax: i64,
    /// The first failure: the feature's position in the block and what is wrong.
    pub(super) error: Option<(usize, FeatureError)>,
}

impl ParsedBlock {
    pub(super) fn failure(&self) -> Option<(usize, &FeatureError)> {
        self.error.as_ref().map(|(k, e)| (self.first + k, e))
    }
}

/// `s` without the JSON whitespace around it.
pub(super) fn trim_whitespace(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && json::is_whitespace(c as u8))
}

pub(super) fn parse_block<'t>(
    spec: &CollectionSpec,
    wanted: &[&str],
    features: impl ExactSizeIterator<Item = &'t str>,
    first: usize,
    dict: &SharedDict,
) -> ParsedBlock {
    let mut block = BlockBuilder::new(spec, dict, features.len());
    for raw in features {
        let parsed = parse_feature(spec, wanted, raw, &mut block.members, &mut block.dates);
        if !block.add(raw, parsed) {
            break;
        }
    }
    let mut block = block.finish();
    block.first = first;
    block
}

/// Gathers parsed features into a [`ParsedBlock`], one at a time, until the first that fails.
pub(super) struct BlockBuilder<'s> {
    pub(super) spec: &'s CollectionSpec,
    pub(super) block: ParsedBlock,
    pub(super) segment: SegmentBuilder<'s>,
    /// The members of the feature being read, as the one-pass scan lists them.
    pub(super) members: Vec<(usize, usize)>,
    /// Per queryable, the code of each raw text seen; the interval of each date's text.
    pub(super) local: Vec<TextMemo<u32>>,
    pub(super) dates: TextMemo<Interval>,
}

/// What a [`BlockBuilder`] learns that holds for the whole layer, handed from one block to the
/// next on a thread: the dictionary's entries met, each date's interval.
#[derive(Default)]
pub(super) struct BlockMemos {
    entries: TextMemo<u32>,
    dates: TextMemo<Interval>,
}

impl<'s> BlockBuilder<'s> {
    pub(super) fn new(spec: &'s CollectionSpec, dict: &'s SharedDict, n: usize) -> Self {
        Self::with_memos(spec, dict, n, BlockMemos::default())
    }

    /// A builder starting from what earlier builders of the same layer (and dictionary)
    /// learnt.
    pub(super) fn with_memos(
        spec: &'s CollectionSpec,
        dict: &'s SharedDict,
        n: usize,
        memos: BlockMemos,
    ) -> Self {
        let nq = spec.queryables.len();
        BlockBuilder {
            spec,
            block: ParsedBlock {
                first: 0,
                segment: Segment::default(),
                stored: Vec::with_capacity(n),
                id_hashes: Vec::with_capacity(n),
                points: Vec::with_capacity(n),
                shapes: Vec::new(),
                times: Vec::with_capacity(if spec.time_property.is_some() { n } else { 0 }),
                distinct: vec![Vec::new(); nq],
                codes: vec![Vec::with_capacity(n); nq],
                tmin: i64::MAX,
                tmax: i64::MIN,
                error: None,
            },
            segment: SegmentBuilder::with_memo(dict, memos.entries),
            members: Vec::new(),
            local: (0..nq).map(|_| TextMemo::default()).collect(),
            dates: memos.dates,
        }
    }

    /// Adds the feature `raw` as read; false (and the block records why) when it failed.
    pub(super) fn add<'t>(
        &mut self,
        raw: &'t str,
        parsed: Result<ParsedFeature<'t>, FeatureError>,
    ) -> bool {
        let spec = self.spec;
        let block = &mut self.block;
        let k = block.points.len();
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                block.error = Some((k, e));
                return false;
            }
        };
        let (from, to) = p.props;
        let prefix = frame(raw, 0, from + 1, &p.own);
        let suffix = frame(raw, to - 1, raw.len(), &p.own);
        block.id_hashes.push(id_hash(&p.id));
        block.stored.push(if p.listed {
            self.segment.push_framed(
                &p.id,
                &prefix,
                self.members.iter().map(|(a, b)| &raw[*a..*b]),
                true,
                &suffix,
            )
        } else {
            // The serde path does not list the members: keep them as one piece.
            let inner = trim_whitespace(&raw[from + 1..to - 1]);
            self.segment.push_framed(
                &p.id,
                &prefix,
                (!inner.is_empty()).then_some(inner),
                false,
                &suffix,
            )
        });
        if k == 0 {
            // Room for as many features as the block expects, going by the first one's size
            // (room never written is never given memory).
            let room = self.segment.size() * block.stored.capacity() * 9 / 8;
            self.segment.reserve(room);
        }
        const NOWHERE: [f64; 2] = [f64::NAN, f64::NAN];
        match p.geom {
            FeatureGeometry::None => block.points.push(NOWHERE),
            FeatureGeometry::Point(pt) => block.points.push(pt),
            FeatureGeometry::Shape(g) => {
                block.points.push(NOWHERE);
                block.shapes.push((k as u32, g));
            }
        }
        if spec.time_property.is_some() {
            if let Some(t) = p.time {
                block.tmin = block.tmin.min(t.start);
                block.tmax = block.tmax.max(t.end);
            }
            block.times.push(p.time.unwrap_or(Interval::ALL));
        }
        for (c, v) in p.values.into_iter().take(spec.queryables.len()).enumerate() {
            // Keyed by the raw text, so that a value seen before costs one lookup: no
            // reading of arrays, no allocation.
            let code = match v {
                None => u32::MAX,
                Some(raw) => match self.local[c].get(raw) {
                    Some(code) => *code,
                    None => {
                        let q = &spec.queryables[c];
                        let text = text_of(raw).and_then(|t| match t {
                            Some(text) => {
                                check_type(q.kind, q.array, raw, &text).map(|()| Some(text))
                            }
                            None => Ok(None),
                        });
                        let code = match text {
                            Ok(None) => u32::MAX,
                            Ok(Some(text)) => {
                                block.distinct[c].push(text.as_ref().into());
                                block.distinct[c].len() as u32 - 1
                            }
                            Err(e) => {
                                let problem = format!("\"{}\": {e}", q.property);
                                block.error =
                                    Some((k, FeatureError::new(Some(p.id.to_string()), problem)));
                                return false;
                            }
                        };
                        self.local[c].insert(raw, code);
                        code
                    }
                },
            };
            block.codes[c].push(code);
        }
        true
    }

    /// Room for `n` more features.
    pub(super) fn reserve(&mut self, n: usize) {
        let block = &mut self.block;
        block.stored.reserve(n);
        block.id_hashes.reserve(n);
        block.points.reserve(n);
        if self.spec.time_property.is_some() {
            block.times.reserve(n);
        }
        for c in &mut block.codes {
            c.reserve(n);
        }
    }

    pub(super) fn finish(self) -> ParsedBlock {
        self.finish_keeping_memos().0
    }

    /// [`finish`](Self::finish), also giving back what it learnt, for the next builder.
    pub(super) fn finish_keeping_memos(self) -> (ParsedBlock, BlockMemos) {
        let mut block = self.block;
        let (segment, entries) = self.segment.finish_keeping_memo();
        block.segment = segment;
        (
            block,
            BlockMemos {
                entries,
                dates: self.dates,
            },
        )
    }
}

/// `raw[from..to]` in pieces: the spans of `own` inside it kept as the feature's own, the
/// text around them as text other features repeat. At most five pieces.
pub(super) fn frame<'t>(
    raw: &'t str,
    from: usize,
    to: usize,
    own: &[(usize, usize); 2],
) -> FrameList<'t> {
    let mut pieces = FrameList::default();
    let mut at = from;
    for &(a, b) in own {
        if a < b && from <= a && b <= to {
            if at < a {
                pieces.push(FramePiece {
                    text: &raw[at..a],
                    shared: true,
                });
            }
            pieces.push(FramePiece {
                text: &raw[a..b],
                shared: false,
            });
            at = b;
        }
    }
    if at < to {
        pieces.push(FramePiece {
            text: &raw[at..to],
            shared: true,
        });
    }
    pieces
}

/// The pieces of a prefix or suffix, without an allocation per feature.
pub(super) struct FrameList<'t> {
    pieces: [FramePiece<'t>; 5],
    n: usize,
}

impl Default for FrameList<'_> {
    fn default() -> Self {
        let empty = FramePiece {
            text: "",
            shared: false,
        };
        FrameList {
            pieces: [empty; 5],
            n: 0,
        }
    }
}

impl<'t> FrameList<'t> {
    pub(super) fn push(&mut self, p: FramePiece<'t>) {
        self.pieces[self.n] = p;
        self.n += 1;
    }
}

impl<'t> std::ops::Deref for FrameList<'t> {
    type Target = [FramePiece<'t>];
    fn deref(&self) -> &Self::Target {
        &self.pieces[..self.n]
    }
}

/// Things handed from one block to the next, one per thread at a time: read buffers (a fresh
/// one for every block would have the kernel map and zero its pages each time), memos.
pub(super) struct Pool<B>(std::sync::Mutex<Vec<B>>);

impl<B> Default for Pool<B> {
    fn default() -> Self {
        Pool(std::sync::Mutex::new(Vec::new()))
    }
}

/// Read buffers.
pub(super) type Buffers = Pool<Vec<u8>>;

impl<B: Default> Pool<B> {
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut B) -> T) -> T {
        let taken = self.0.lock().ok().and_then(|mut v| v.pop());
        let mut buf = taken.unwrap_or_default();
        let out = f(&mut buf);
        if let Ok(mut v) = self.0.lock() {
            v.push(buf);
        }
        out
    }
}
