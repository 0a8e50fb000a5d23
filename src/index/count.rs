//! Counting the points in a box in time proportional to the box's perimeter, not its area.
//!
//! A large box over a point layer matches most of it, and `numberMatched` must say how many.
//! The packed R-tree counts the nodes inside the box by their length, but along the box's
//! edges it still tests every entry of every leaf the edges cross, and a Hilbert leaf is a
//! coarse, irregular shape. A regular grid does better: the cells strictly inside the box are
//! counted from a table of prefix sums in four lookups, and only the points of the cells an
//! edge runs through are tested.
//!
//! ```
//! use kat::index::{CountGrid, Rect};
//! let points: Vec<[f64; 2]> = (0..10_000).map(|i| [(i % 100) as f64, (i / 100) as f64]).collect();
//! let grid = CountGrid::build(&points);
//! assert_eq!(grid.count(&Rect::new([10.0, 20.0], [19.0, 29.5])), 100);
//! assert_eq!(grid.count(&Rect::new([500.0, 0.0], [600.0, 1.0])), 0);
//! ```

use super::Rect;
use rayon::prelude::*;

/// Points binned into a regular grid, with prefix sums of the cells' counts.
///
/// The grid has one empty cell of margin on every side of the points' extent, so that no
/// point's cell is ever clamped: the cell of a coordinate is `floor((v - origin) / size)`, a
/// non-decreasing function of `v`, so a point whose column lies strictly between the columns
/// of a box's two edges lies strictly between those edges. Only the edge cells need tests.
#[derive(Debug)]
pub struct CountGrid {
    origin: [f64; 2],
    size: [f64; 2],
    cols: usize,
    rows: usize,
    /// `(cols + 1) * (rows + 1)`: `prefix[r * (cols + 1) + c]` is the number of points in the
    /// cells of columns `< c` and rows `< r`.
    prefix: Vec<u32>,
    /// Cell `k = row * cols + col` holds `points[start[k]..start[k + 1]]`.
    start: Vec<u32>,
    points: Vec<[f64; 2]>,
    /// The same cells column by column: cell `k = col * rows + row` holds the x coordinates
    /// `column_x[column_start[k]..column_start[k + 1]]`. Between a box's bottom and top rows
    /// every point is within the box's y range, so a side edge needs only x.
    column_start: Vec<u32>,
    column_x: Vec<f64>,
}

impl CountGrid {
    /// Bins the points (NaN coordinates are left out), about four to a cell on average.
    pub fn build(points: &[[f64; 2]]) -> Self {
        Self::build_with(points.len(), |i| points[i], None)
    }

    /// [`CountGrid::build`] over the lower corners of boxes (a point layer's boxes are its
    /// points), read in place rather than copied out. Every box is finite, and `extent`
    /// covers them all: the index has worked it out already.
    pub(crate) fn of_boxes(boxes: &[[f64; 4]], extent: &[f64; 4]) -> Self {
        let known = ([extent[0], extent[1]], [extent[2], extent[3]], boxes.len());
        Self::build_with(boxes.len(), |i| [boxes[i][0], boxes[i][1]], Some(known))
    }

    /// Bins the `n` points `at(0..n)`, read in place: a million points are 16 MB of fresh
    /// memory per copy. Each point's cell is worked out once, on every core; counting and
    /// filling the cells then only read those numbers.
    /// `known`: the points' extent and how many are finite, when the caller knows them.
    fn build_with(
        n: usize,
        at: impl Fn(usize) -> [f64; 2] + Sync,
        known: Option<([f64; 2], [f64; 2], usize)>,
    ) -> Self {
        let finite = |p: &[f64; 2]| p[0].is_finite() && p[1].is_finite();
        let (mut lo, mut hi, m) = known.unwrap_or_else(|| {
            (0..n)
                .into_par_iter()
                .with_min_len(4096)
                .fold(
                    || ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2], 0usize),
                    |(lo, hi, m), i| {
                        let p = at(i);
                        if finite(&p) {
                            (
                                [lo[0].min(p[0]), lo[1].min(p[1])],
                                [hi[0].max(p[0]), hi[1].max(p[1])],
                                m + 1,
                            )
                        } else {
                            (lo, hi, m)
                        }
                    },
                )
                .reduce(
                    || ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2], 0usize),
                    |a, b| {
                        (
                            [a.0[0].min(b.0[0]), a.0[1].min(b.0[1])],
                            [a.1[0].max(b.1[0]), a.1[1].max(b.1[1])],
                            a.2 + b.2,
                        )
                    },
                )
        });
        if m == 0 {
            lo = [0.0; 2];
            hi = [0.0; 2];
        }
        let span = [(hi[0] - lo[0]).max(1e-9), (hi[1] - lo[1]).max(1e-9)];
        let cells = (m / 4).clamp(1, 1 << 22) as f64;
        let inner_cols = (cells * span[0] / span[1]).sqrt().clamp(1.0, 4096.0) as usize;
        let inner_rows = (cells / inner_cols as f64).clamp(1.0, 4096.0) as usize;
        let size = [span[0] / inner_cols as f64, span[1] / inner_rows as f64];
        let (cols, rows) = (inner_cols + 2, inner_rows + 2);
        let origin = [lo[0] - size[0], lo[1] - size[1]];
        let mut grid = CountGrid {
            origin,
            size,
            cols,
            rows,
            prefix: Vec::new(),
            start: Vec::new(),
            points: Vec::new(),
            column_start: Vec::new(),
            column_x: Vec::new(),
        };
        let cell_of = |p: &[f64; 2]| -> usize {
            let c = grid.axis_cell(p[0], 0).clamp(0, cols as i64 - 1) as usize;
            let r = grid.axis_cell(p[1], 1).clamp(0, rows as i64 - 1) as usize;
            r * cols + c
        };
        const NONE: u32 = u32::MAX;
        let mut point_cells: Vec<u32> = Vec::new();
        (0..n)
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| {
                let p = at(i);
                if finite(&p) {
                    cell_of(&p) as u32
                } else {
                    NONE
                }
            })
            .collect_into_vec(&mut point_cells);
        let mut start = vec![0u32; cols * rows + 1];
        for &k in point_cells.iter().filter(|k| **k != NONE) {
            start[k as usize + 1] += 1;
        }
        let mut prefix = vec![0u32; (cols + 1) * (rows + 1)];
        for r in 0..rows {
            let mut row_sum = 0u32;
            for c in 0..cols {
                row_sum += start[r * cols + c + 1];
                prefix[(r + 1) * (cols + 1) + c + 1] = prefix[r * (cols + 1) + c + 1] + row_sum;
            }
        }
        for k in 0..cols * rows {
            start[k + 1] += start[k];
        }
        let mut fill = start.clone();
        let mut binned = vec![[0.0; 2]; m];
        for (i, &k) in point_cells.iter().enumerate().filter(|(_, k)| **k != NONE) {
            let slot = &mut fill[k as usize];
            binned[*slot as usize] = at(i);
            *slot += 1;
        }
        drop(point_cells);
        // Column by column: written in order, each cell's x read from its row-major place.
        let mut column_start = Vec::with_capacity(cols * rows + 1);
        let mut column_x = Vec::with_capacity(m);
        column_start.push(0u32);
        for c in 0..cols {
            for r in 0..rows {
                let k = r * cols + c;
                let cell = &binned[start[k] as usize..start[k + 1] as usize];
                column_x.extend(cell.iter().map(|p| p[0]));
                column_start.push(column_x.len() as u32);
            }
        }
        grid.prefix = prefix;
        grid.start = start;
        grid.points = binned;
        grid.column_start = column_start;
        grid.column_x = column_x;
        grid
    }

    /// The cell of `v` along `axis`, unclamped (far-off values saturate).
    #[inline]
    fn axis_cell(&self, v: f64, axis: usize) -> i64 {
        ((v - self.origin[axis]) / self.size[axis]).floor() as i64
    }

    /// The number of points `p` with `r.min <= p <= r.max` on both axes.
    pub fn count(&self, r: &Rect) -> usize {
        let (cols, rows) = (self.cols as i64, self.rows as i64);
        // Edge columns and rows; anything beyond the grid is clamped one step outside it.
        let c0 = self.axis_cell(r.min[0], 0).clamp(-1, cols);
        let c1 = self.axis_cell(r.max[0], 0).clamp(-1, cols);
        let r0 = self.axis_cell(r.min[1], 1).clamp(-1, rows);
        let r1 = self.axis_cell(r.max[1], 1).clamp(-1, rows);
        if c1 < c0 || r1 < r0 || c1 < 0 || r1 < 0 || c0 >= cols || r0 >= rows {
            return 0;
        }
        // Strictly between the edges: counted from the prefix sums.
        let inner = |a: i64, b: i64, n: i64| ((a + 1).max(0) as usize, b.min(n).max(0) as usize);
        let (ca, cb) = inner(c0, c1, cols);
        let (ra, rb) = inner(r0, r1, rows);
        let mut n = 0usize;
        if ca < cb && ra < rb {
            let w = self.cols + 1;
            let p = |row: usize, col: usize| self.prefix[row * w + col] as usize;
            n += p(rb, cb) + p(ra, ca) - p(ra, cb) - p(rb, ca);
        }
        // On an edge: each point tested, an edge's cells read as one run.
        let (cl, ch) = (c0.max(0) as usize, c1.min(cols - 1) as usize);
        let edge_rows: &[i64] = if r0 == r1 { &[r0] } else { &[r0, r1] };
        for &row in edge_rows.iter().filter(|row| (0..rows).contains(*row)) {
            let k = row as usize * self.cols;
            let run = self.start[k + cl] as usize..self.start[k + ch + 1] as usize;
            n += self.points[run]
                .iter()
                .map(|p| {
                    usize::from(
                        (r.min[0] <= p[0])
                            & (p[0] <= r.max[0])
                            & (r.min[1] <= p[1])
                            & (p[1] <= r.max[1]),
                    )
                })
                .sum::<usize>();
        }
        // Rows strictly between the edge rows: only x decides.
        let (rl, rh) = ((r0 + 1).max(0), (r1 - 1).min(rows - 1));
        if rl <= rh {
            let edge_cols: &[i64] = if c0 == c1 { &[c0] } else { &[c0, c1] };
            for &col in edge_cols.iter().filter(|col| (0..cols).contains(*col)) {
                let k = col as usize * self.rows;
                let run = self.column_start[k + rl as usize] as usize
                    ..self.column_start[k + rh as usize + 1] as usize;
                n += self.column_x[run]
                    .iter()
                    .map(|x| usize::from((r.min[0] <= *x) & (*x <= r.max[0])))
                    .sum::<usize>();
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the test needs no crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn brute(points: &[[f64; 2]], r: &Rect) -> usize {
        points
            .iter()
            .filter(|p| {
                r.min[0] <= p[0] && p[0] <= r.max[0] && r.min[1] <= p[1] && p[1] <= r.max[1]
            })
            .count()
    }

    #[test]
    fn counts_agree_with_brute_force_on_random_and_edge_boxes() {
        let mut g = Lcg(7);
        // Points on a coarse lattice too, so that many lie exactly on box edges.
        let mut points: Vec<[f64; 2]> = (0..20_000)
            .map(|_| [-74.5 + 2.9 * g.next(), 18.0 + 2.1 * g.next()])
            .collect();
        points.extend((0..2_000).map(|i| {
            [
                -74.0 + (i % 40) as f64 * 0.05,
                18.5 + (i / 40) as f64 * 0.025,
            ]
        }));
        points.push([f64::NAN, f64::NAN]);
        let grid = CountGrid::build(&points);
        for i in 0..3_000 {
            let r = if i % 3 == 0 {
                // Edges on lattice points.
                let (a, b) = ((g.next() * 40.0) as usize, (g.next() * 40.0) as usize);
                let (c, d) = ((g.next() * 50.0) as usize, (g.next() * 50.0) as usize);
                Rect::new(
                    [
                        -74.0 + a.min(b) as f64 * 0.05,
                        18.5 + c.min(d) as f64 * 0.025,
                    ],
                    [
                        -74.0 + a.max(b) as f64 * 0.05,
                        18.5 + c.max(d) as f64 * 0.025,
                    ],
                )
            } else {
                let w = g.next() * if i % 2 == 0 { 3.5 } else { 0.1 };
                let h = g.next() * if i % 2 == 0 { 2.5 } else { 0.1 };
                let x = -75.0 + 4.0 * g.next();
                let y = 17.5 + 3.0 * g.next();
                Rect::new([x, y], [x + w, y + h])
            };
            assert_eq!(grid.count(&r), brute(&points, &r), "{r:?}");
        }
        // Boxes that hold everything, nothing, or a single point exactly.
        let all = Rect::new([-180.0, -90.0], [180.0, 90.0]);
        assert_eq!(grid.count(&all), points.len() - 1);
        // Boxes wholly beyond each side of the points, and boxes reaching in from beyond.
        for r in [
            Rect::new([-80.0, 18.0], [-76.0, 20.0]),
            Rect::new([-70.0, 18.0], [-60.0, 20.0]),
            Rect::new([-74.0, 10.0], [-72.0, 17.0]),
            Rect::new([-74.0, 21.0], [-72.0, 30.0]),
            Rect::new([-80.0, 10.0], [-74.2, 18.3]),
            Rect::new([-73.0, 19.0], [-60.0, 30.0]),
        ] {
            assert_eq!(grid.count(&r), brute(&points, &r), "{r:?}");
        }
        assert_eq!(grid.count(&Rect::new([0.0, 0.0], [1.0, 1.0])), 0);
        let p = points[5];
        assert!(grid.count(&Rect::new(p, p)) >= 1);
    }

    #[test]
    fn an_empty_or_single_point_layer_counts() {
        let empty = CountGrid::build(&[]);
        assert_eq!(empty.count(&Rect::new([-1.0, -1.0], [1.0, 1.0])), 0);
        let one = CountGrid::build(&[[-72.3, 18.5]]);
        assert_eq!(one.count(&Rect::new([-73.0, 18.0], [-72.0, 19.0])), 1);
        assert_eq!(one.count(&Rect::new([-72.3, 18.5], [-72.3, 18.5])), 1);
        assert_eq!(one.count(&Rect::new([-72.2, 18.0], [-72.0, 19.0])), 0);
    }
}
