//! Minimum-cost linear assignment with a cost threshold, on sparse candidate pairs.
//!
//! # The problem
//!
//! Rows (tracks) and columns (detections) are joined by candidate [`Edge`]s with a cost.
//! Given a threshold `max_cost`, [`Assigner::solve`] returns a matching (each row and each
//! column used at most once) made only of edges with `cost <= max_cost` that minimises
//!
//! ```text
//! sum over matched edges of (cost - max_cost)
//! ```
//!
//! i.e. every match earns `max_cost - cost`, and leaving a row or column unmatched costs
//! nothing. This is exactly the problem `lap.lapjv(cost, extend_cost=True,
//! cost_limit=max_cost)` solves in ByteTrack and Ultralytics (an unmatched row or column
//! costs `max_cost / 2` there, an unmatched pair `max_cost`). An edge whose cost equals
//! `max_cost` earns nothing: it may or may not be taken. Edges with a non-finite cost,
//! a cost above `max_cost` or an index out of range are ignored; of duplicate edges the
//! cheapest counts.
//!
//! # How it scales
//!
//! Tracking costs come from box overlap, so almost every track can only match the one or
//! two detections it overlaps. The solver therefore:
//!
//! 1. gets candidate pairs from [`OverlapFinder`], a uniform grid over the boxes that
//!    reports the pairs whose boxes intersect (`O(n + pairs)` for boxes of similar sizes,
//!    instead of all `n^2` pairs);
//! 2. splits the bipartite graph of feasible edges into connected components (union-find);
//! 3. solves each component exactly: a single edge directly, a component with one row or
//!    one column by taking its cheapest edge, anything larger with the Hungarian algorithm
//!    (shortest augmenting paths with potentials, `O(r^2 (r + c))` for `r <= c`), on a
//!    dense `r x (c + r)` matrix where the `r` extra zero-cost columns stand for "leave the
//!    row unmatched" (the smaller side is made the rows).
//!
//! Components are independent (no edge joins them), so the union of their optima is the
//! optimum. All scratch memory is kept between calls: no allocation in steady state.

use visualpath_core::BBox;

/// A candidate pair: `row` may be matched to `col` at `cost`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    /// Row index (a track).
    pub row: u32,
    /// Column index (a detection).
    pub col: u32,
    /// Cost (e.g. `1 - IoU`); lower is better.
    pub cost: f64,
}

/// Whether a box has a positive finite area.
pub fn is_valid_box(b: &BBox) -> bool {
    // Written so that NaN fails every comparison.
    b.x2 > b.x1
        && b.y2 > b.y1
        && b.x1.is_finite()
        && b.y1.is_finite()
        && b.x2.is_finite()
        && b.y2.is_finite()
}

/// Most grid cells a box may cover before it is handled on its own (compared with every
/// box of the other list instead of going through the grid).
const MAX_CELLS_PER_BOX: usize = 16;

/// Finds the pairs of boxes, one from each of two lists, whose intersection has a positive
/// area (so `IoU > 0`), with a uniform grid. Reusable: keeps its scratch memory.
///
/// The boxes of the first list are bucketed into square cells whose side is the larger of
/// the mean box width and height (over both lists), over the first list's bounding area,
/// with at most `4 n + 16` cells (the side grows if needed). Each box of the second list
/// looks only at the cells it covers, and a pair is reported only from the cell that holds
/// the top-left corner of its intersection, so it is reported once. Boxes covering more
/// than 16 cells are compared with the whole other list. Cost `O(n + m + pairs)` for boxes
/// of similar sizes, whatever their layout (rows, columns, crowds), with no sorting.
#[derive(Debug, Default)]
pub struct OverlapFinder {
    /// First-list boxes per cell (CSR: `start[c]..start[c + 1]` in `cells`).
    start: Vec<u32>,
    cells: Vec<u32>,
    /// Valid first-list boxes covering too many cells.
    big: Vec<u32>,
    /// Valid first-list boxes.
    valid_a: Vec<u32>,
}

/// The grid geometry of one call.
#[derive(Clone, Copy, Debug)]
struct Grid {
    x0: f32,
    y0: f32,
    inv: f32,
    gx: usize,
    gy: usize,
}

impl Grid {
    /// `floor(v)` clamped to `0..n` (truncation is floor for `v >= 0`; NaN gives 0).
    fn cell(v: f32, n: usize) -> usize {
        if v > 0.0 { (v as usize).min(n - 1) } else { 0 }
    }
    fn col(&self, x: f32) -> usize {
        Self::cell((x - self.x0) * self.inv, self.gx)
    }
    fn row(&self, y: f32) -> usize {
        Self::cell((y - self.y0) * self.inv, self.gy)
    }
    /// Column and row ranges (inclusive) of `b`, and their number of cells.
    fn span(&self, b: &BBox) -> (usize, usize, usize, usize, usize) {
        let (c0, c1, r0, r1) = (
            self.col(b.x1),
            self.col(b.x2),
            self.row(b.y1),
            self.row(b.y2),
        );
        (c0, c1, r0, r1, (c1 - c0 + 1) * (r1 - r0 + 1))
    }
}

/// The intersection's top-left corner, if `a` and `b` overlap with a positive area.
fn overlap_corner(a: &BBox, b: &BBox) -> Option<(f32, f32)> {
    let (x1, y1) = (a.x1.max(b.x1), a.y1.max(b.y1));
    (a.x2.min(b.x2) > x1 && a.y2.min(b.y2) > y1).then_some((x1, y1))
}

impl OverlapFinder {
    /// A finder with no scratch memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces `out` with every `(i, j)` such that `a[i]` and `b[j]` overlap with a positive
    /// area. Boxes without a positive finite area never overlap anything. The order of the
    /// pairs is unspecified.
    pub fn find(&mut self, a: &[BBox], b: &[BBox], out: &mut Vec<(u32, u32)>) {
        out.clear();
        self.valid_a.clear();
        self.valid_a
            .extend((0..a.len() as u32).filter(|&i| is_valid_box(&a[i as usize])));
        if self.valid_a.is_empty() || b.is_empty() {
            return;
        }
        // Cell side and bounds.
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        let (mut sum, mut n) = (0.0f64, 0usize);
        for &i in &self.valid_a {
            let bb = &a[i as usize];
            x0 = x0.min(bb.x1);
            y0 = y0.min(bb.y1);
            x1 = x1.max(bb.x2);
            y1 = y1.max(bb.y2);
            sum += (f64::from(bb.x2) - f64::from(bb.x1)).max(f64::from(bb.y2) - f64::from(bb.y1));
            n += 1;
        }
        for bb in b.iter().filter(|bb| is_valid_box(bb)) {
            sum += (f64::from(bb.x2) - f64::from(bb.x1)).max(f64::from(bb.y2) - f64::from(bb.y1));
            n += 1;
        }
        let max_cells = 4 * self.valid_a.len() + 16;
        let (w, h) = (f64::from(x1) - f64::from(x0), f64::from(y1) - f64::from(y0));
        let mut side = (sum / n as f64).max(1e-3);
        let cells_for = |side: f64| ((w / side).ceil().max(1.0), (h / side).ceil().max(1.0));
        let (mut gx, mut gy) = cells_for(side);
        while gx * gy > max_cells as f64 {
            side *= 2.0;
            (gx, gy) = cells_for(side);
        }
        let grid = Grid {
            x0,
            y0,
            inv: (1.0 / side) as f32,
            gx: gx as usize,
            gy: gy as usize,
        };
        let total = grid.gx * grid.gy;

        // Bucket the first list (counting sort into CSR).
        self.start.clear();
        self.start.resize(total + 1, 0);
        self.big.clear();
        for &i in &self.valid_a {
            let (c0, c1, r0, r1, k) = grid.span(&a[i as usize]);
            if k > MAX_CELLS_PER_BOX {
                self.big.push(i);
                continue;
            }
            for r in r0..=r1 {
                for c in c0..=c1 {
                    self.start[r * grid.gx + c + 1] += 1;
                }
            }
        }
        for c in 0..total {
            self.start[c + 1] += self.start[c];
        }
        self.cells.clear();
        self.cells.resize(self.start[total] as usize, 0);
        for &i in &self.valid_a {
            let (c0, c1, r0, r1, k) = grid.span(&a[i as usize]);
            if k > MAX_CELLS_PER_BOX {
                continue;
            }
            for r in r0..=r1 {
                for c in c0..=c1 {
                    // `start[cell]` is used as the fill cursor, then restored below.
                    let slot = &mut self.start[r * grid.gx + c];
                    self.cells[*slot as usize] = i;
                    *slot += 1;
                }
            }
        }
        for c in (1..=total).rev() {
            self.start[c] = self.start[c - 1];
        }
        self.start[0] = 0;

        // Query with the second list.
        for (j, bj) in b.iter().enumerate() {
            if !is_valid_box(bj) {
                continue;
            }
            let j = j as u32;
            let (c0, c1, r0, r1, k) = grid.span(bj);
            if k > MAX_CELLS_PER_BOX {
                for &i in &self.valid_a {
                    if overlap_corner(&a[i as usize], bj).is_some() {
                        out.push((i, j));
                    }
                }
                continue;
            }
            for r in r0..=r1 {
                for c in c0..=c1 {
                    let cell = r * grid.gx + c;
                    let members =
                        &self.cells[self.start[cell] as usize..self.start[cell + 1] as usize];
                    for &i in members {
                        if let Some((x, y)) = overlap_corner(&a[i as usize], bj)
                            && grid.col(x) == c
                            && grid.row(y) == r
                        {
                            out.push((i, j));
                        }
                    }
                }
            }
            for &i in &self.big {
                if overlap_corner(&a[i as usize], bj).is_some() {
                    out.push((i, j));
                }
            }
        }
    }
}

/// Exact sparse assignment solver; see the module docs. Reusable: keeps its scratch memory.
#[derive(Debug, Default)]
pub struct Assigner {
    parent: Vec<u32>,
    /// `component root << 32 | edge index` of the feasible edges.
    order: Vec<u64>,
    /// Node (rows, then columns) to its index within the current component.
    local: Vec<u32>,
    comp_rows: Vec<u32>,
    comp_cols: Vec<u32>,
    matrix: Vec<f64>,
    hungarian: Hungarian,
}

const UNSET: u32 = u32::MAX;

impl Assigner {
    /// A solver with no scratch memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces `out` with an optimal matching `(row, col)`, sorted by row, for `rows` rows
    /// and `cols` columns joined by `edges`, with threshold `max_cost` (see the module
    /// docs). Never panics; a NaN `max_cost` matches nothing.
    pub fn solve(
        &mut self,
        rows: usize,
        cols: usize,
        edges: &[Edge],
        max_cost: f64,
        out: &mut Vec<(u32, u32)>,
    ) {
        out.clear();
        let (Ok(rows32), Ok(cols32)) = (u32::try_from(rows), u32::try_from(cols)) else {
            return;
        };
        let Some(nodes) = rows32.checked_add(cols32).filter(|&n| n < UNSET) else {
            return;
        };
        let feasible =
            |e: &Edge| e.row < rows32 && e.col < cols32 && e.cost.is_finite() && e.cost <= max_cost;
        self.parent.clear();
        self.parent.extend(0..nodes);
        for e in edges.iter().filter(|e| feasible(e)) {
            let (a, b) = (self.find(e.row), self.find(rows32 + e.col));
            if a != b {
                self.parent[a.max(b) as usize] = a.min(b);
            }
        }
        self.order.clear();
        for (k, e) in edges.iter().enumerate() {
            if feasible(e) {
                let root = self.find(e.row);
                self.order.push(u64::from(root) << 32 | k as u64);
            }
        }
        self.order.sort_unstable();
        self.local.clear();
        self.local.resize(nodes as usize, UNSET);
        let mut start = 0;
        while start < self.order.len() {
            let root = self.order[start] >> 32;
            let end = start
                + self.order[start..]
                    .iter()
                    .take_while(|&&o| o >> 32 == root)
                    .count();
            self.solve_component(rows32, edges, start, end, max_cost, out);
            start = end;
        }
        out.sort_unstable();
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let up = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = up;
            x = up;
        }
        x
    }

    fn solve_component(
        &mut self,
        rows: u32,
        edges: &[Edge],
        start: usize,
        end: usize,
        max_cost: f64,
        out: &mut Vec<(u32, u32)>,
    ) {
        let group = &self.order[start..end];
        let edge = |o: u64| &edges[(o & 0xffff_ffff) as usize];
        if group.len() == 1 {
            let e = edge(group[0]);
            out.push((e.row, e.col));
            return;
        }
        self.comp_rows.clear();
        self.comp_cols.clear();
        for &o in group {
            let e = edge(o);
            let (r, c) = (e.row as usize, (rows + e.col) as usize);
            if self.local[r] == UNSET {
                self.local[r] = self.comp_rows.len() as u32;
                self.comp_rows.push(e.row);
            }
            if self.local[c] == UNSET {
                self.local[c] = self.comp_cols.len() as u32;
                self.comp_cols.push(e.col);
            }
        }
        let (nr, nc) = (self.comp_rows.len(), self.comp_cols.len());
        if nr == 1 || nc == 1 {
            // A star: the cheapest edge is optimal (every edge earns >= 0, only one fits).
            let best = group.iter().map(|&o| edge(o)).min_by(|a, b| {
                a.cost
                    .total_cmp(&b.cost)
                    .then(a.row.cmp(&b.row))
                    .then(a.col.cmp(&b.col))
            });
            if let Some(e) = best {
                out.push((e.row, e.col));
            }
        } else {
            // Hungarian rows are the smaller side.
            let transpose = nr > nc;
            let (n, m) = if transpose { (nc, nr) } else { (nr, nc) };
            let width = m + n;
            self.matrix.clear();
            self.matrix.resize(n * width, f64::INFINITY);
            for i in 0..n {
                self.matrix[i * width + m..(i + 1) * width].fill(0.0);
            }
            for &o in group {
                let e = edge(o);
                let lr = self.local[e.row as usize] as usize;
                let lc = self.local[(rows + e.col) as usize] as usize;
                let (i, j) = if transpose { (lc, lr) } else { (lr, lc) };
                let cell = &mut self.matrix[i * width + j];
                *cell = cell.min(e.cost - max_cost);
            }
            if self.hungarian.solve(n, width, &self.matrix) {
                for j in 0..m {
                    if let Some(i) = self.hungarian.row_of(j) {
                        let (lr, lc) = if transpose { (j, i) } else { (i, j) };
                        out.push((self.comp_rows[lr], self.comp_cols[lc]));
                    }
                }
            }
        }
        for &r in &self.comp_rows {
            self.local[r as usize] = UNSET;
        }
        for &c in &self.comp_cols {
            self.local[(rows + c) as usize] = UNSET;
        }
    }
}

/// Hungarian algorithm (shortest augmenting paths with potentials) for an `n x m` matrix
/// with `n <= m`, assigning every row. Infinite entries are forbidden pairs; the caller
/// guarantees that every row has enough finite entries (the zero "unmatched" columns).
#[derive(Debug, Default)]
struct Hungarian {
    u: Vec<f64>,
    v: Vec<f64>,
    minv: Vec<f64>,
    /// `p[j]`: 1-based row assigned to 1-based column `j` (0: none).
    p: Vec<usize>,
    way: Vec<usize>,
    used: Vec<bool>,
}

impl Hungarian {
    /// Solves; returns `false` if some row could not be assigned (never with the caller's
    /// zero columns).
    fn solve(&mut self, n: usize, m: usize, a: &[f64]) -> bool {
        self.u.clear();
        self.u.resize(n + 1, 0.0);
        self.v.clear();
        self.v.resize(m + 1, 0.0);
        self.p.clear();
        self.p.resize(m + 1, 0);
        self.way.clear();
        self.way.resize(m + 1, 0);
        for i in 1..=n {
            self.p[0] = i;
            let mut j0 = 0;
            self.minv.clear();
            self.minv.resize(m + 1, f64::INFINITY);
            self.used.clear();
            self.used.resize(m + 1, false);
            loop {
                self.used[j0] = true;
                let i0 = self.p[j0];
                let row = &a[(i0 - 1) * m..i0 * m];
                let mut delta = f64::INFINITY;
                let mut j1 = 0;
                for j in 1..=m {
                    if !self.used[j] {
                        let cur = row[j - 1] - self.u[i0] - self.v[j];
                        if cur < self.minv[j] {
                            self.minv[j] = cur;
                            self.way[j] = j0;
                        }
                        if self.minv[j] < delta {
                            delta = self.minv[j];
                            j1 = j;
                        }
                    }
                }
                if j1 == 0 || !delta.is_finite() {
                    return false;
                }
                for j in 0..=m {
                    if self.used[j] {
                        self.u[self.p[j]] += delta;
                        self.v[j] -= delta;
                    } else {
                        self.minv[j] -= delta;
                    }
                }
                j0 = j1;
                if self.p[j0] == 0 {
                    break;
                }
            }
            loop {
                let j1 = self.way[j0];
                self.p[j0] = self.p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
        true
    }

    /// The 0-based row assigned to 0-based column `j`.
    fn row_of(&self, j: usize) -> Option<usize> {
        self.p.get(j + 1).and_then(|&i| i.checked_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic PRNG (PCG-style LCG, high bits).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn unit(&mut self) -> f64 {
            self.next() as f64 / (1u64 << 31) as f64
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Best objective by enumerating every matching.
    fn brute(rows: usize, cols: usize, cost: &[Option<f64>], t: f64) -> f64 {
        fn go(
            r: usize,
            rows: usize,
            cols: usize,
            cost: &[Option<f64>],
            t: f64,
            used: &mut Vec<bool>,
        ) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = go(r + 1, rows, cols, cost, t, used);
            for c in 0..cols {
                if let Some(x) = cost[r * cols + c]
                    && !used[c]
                    && x <= t
                {
                    used[c] = true;
                    best = best.min(x - t + go(r + 1, rows, cols, cost, t, used));
                    used[c] = false;
                }
            }
            best
        }
        go(0, rows, cols, cost, t, &mut vec![false; cols])
    }

    fn value(m: &[(u32, u32)], rows: usize, cols: usize, cost: &[Option<f64>], t: f64) -> f64 {
        let mut rs = vec![false; rows];
        let mut cs = vec![false; cols];
        let mut total = 0.0;
        for &(r, c) in m {
            let (r, c) = (r as usize, c as usize);
            assert!(!rs[r] && !cs[c], "row or column used twice: {m:?}");
            rs[r] = true;
            cs[c] = true;
            let x = cost[r * cols + c].expect("matched a pair that is not an edge");
            assert!(x <= t, "matched above the threshold");
            total += x - t;
        }
        total
    }

    #[test]
    fn agrees_with_brute_force_on_random_instances() {
        let mut rng = Rng(12345);
        let mut solver = Assigner::new();
        let mut out = Vec::new();
        for case in 0..3000 {
            let rows = 1 + rng.below(6) as usize;
            let cols = 1 + rng.below(6) as usize;
            let density = rng.unit();
            let t = 0.2 + 0.8 * rng.unit();
            let mut cost = vec![None; rows * cols];
            let mut edges = Vec::new();
            for r in 0..rows {
                for c in 0..cols {
                    if rng.unit() < density {
                        // Some costs are quantised so that ties happen.
                        let x = if case % 3 == 0 {
                            rng.below(5) as f64 / 4.0
                        } else {
                            rng.unit() * 1.2
                        };
                        cost[r * cols + c] = Some(x);
                        edges.push(Edge {
                            row: r as u32,
                            col: c as u32,
                            cost: x,
                        });
                    }
                }
            }
            // Shuffle the edge order: the result must not depend on it.
            for i in (1..edges.len()).rev() {
                edges.swap(i, rng.below(i as u64 + 1) as usize);
            }
            solver.solve(rows, cols, &edges, t, &mut out);
            let got = value(&out, rows, cols, &cost, t);
            let best = brute(rows, cols, &cost, t);
            assert!(
                (got - best).abs() < 1e-9,
                "case {case}: got {got}, best {best}, {out:?}"
            );
            assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "sorted by row");
        }
    }

    #[test]
    fn sparse_components_agree_with_one_dense_solve() {
        // Larger instances: the decomposition must give the same optimum as solving the
        // whole matrix at once with the Hungarian algorithm.
        let mut rng = Rng(99);
        let mut solver = Assigner::new();
        let mut out = Vec::new();
        for _ in 0..50 {
            let rows = 20 + rng.below(40) as usize;
            let cols = 20 + rng.below(40) as usize;
            let t = 0.8;
            let mut cost = vec![None; rows * cols];
            let mut edges = Vec::new();
            for r in 0..rows {
                for _ in 0..3 {
                    let c = rng.below(cols as u64) as usize;
                    let x = rng.unit();
                    if cost[r * cols + c].is_none() {
                        cost[r * cols + c] = Some(x);
                        edges.push(Edge {
                            row: r as u32,
                            col: c as u32,
                            cost: x,
                        });
                    }
                }
            }
            solver.solve(rows, cols, &edges, t, &mut out);
            let got = value(&out, rows, cols, &cost, t);
            // Dense reference: rows x (cols + rows), zero columns for "unmatched".
            let (n, m) = (rows, cols + rows);
            let mut a = vec![0.0; n * m];
            for r in 0..rows {
                for c in 0..cols {
                    a[r * m + c] = match cost[r * cols + c] {
                        Some(x) if x <= t => x - t,
                        _ => f64::INFINITY,
                    };
                }
            }
            let mut h = Hungarian::default();
            assert!(h.solve(n, m, &a));
            let dense: f64 = (0..cols)
                .filter_map(|c| h.row_of(c).map(|r| a[r * m + c]))
                .sum();
            assert!((got - dense).abs() < 1e-9, "{got} vs {dense}");
        }
    }

    #[test]
    fn ignores_bad_edges_and_prefers_cheaper_duplicates() {
        let mut s = Assigner::new();
        let mut out = Vec::new();
        let edges = [
            Edge {
                row: 0,
                col: 0,
                cost: f64::NAN,
            },
            Edge {
                row: 5,
                col: 0,
                cost: 0.1,
            },
            Edge {
                row: 0,
                col: 7,
                cost: 0.1,
            },
            Edge {
                row: 1,
                col: 1,
                cost: 0.95,
            },
            Edge {
                row: 1,
                col: 0,
                cost: f64::NEG_INFINITY,
            },
        ];
        s.solve(2, 2, &edges, 0.9, &mut out);
        assert!(out.is_empty(), "{out:?}");
        // Duplicates: the cheaper one decides.
        let edges = [
            Edge {
                row: 0,
                col: 0,
                cost: 0.7,
            },
            Edge {
                row: 0,
                col: 1,
                cost: 0.5,
            },
            Edge {
                row: 1,
                col: 1,
                cost: 0.1,
            },
            Edge {
                row: 0,
                col: 0,
                cost: 0.0,
            },
        ];
        s.solve(2, 2, &edges, 0.9, &mut out);
        assert_eq!(out, vec![(0, 0), (1, 1)]);
        s.solve(2, 2, &edges, f64::NAN, &mut out);
        assert!(out.is_empty());
        s.solve(0, 0, &[], 1.0, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn threshold_semantics_follow_lapjv() {
        // One row, one column over the threshold: unmatched. Two rows competing for one
        // column: the cheaper wins. A pair of moderate matches beats one excellent match
        // that blocks both (0.3 + 0.3 earns more than 0.0 alone at threshold 0.8).
        let mut s = Assigner::new();
        let mut out = Vec::new();
        s.solve(
            1,
            1,
            &[Edge {
                row: 0,
                col: 0,
                cost: 0.81,
            }],
            0.8,
            &mut out,
        );
        assert!(out.is_empty());
        let edges = [
            Edge {
                row: 0,
                col: 0,
                cost: 0.0,
            },
            Edge {
                row: 0,
                col: 1,
                cost: 0.3,
            },
            Edge {
                row: 1,
                col: 0,
                cost: 0.3,
            },
        ];
        s.solve(2, 2, &edges, 0.8, &mut out);
        assert_eq!(out, vec![(0, 1), (1, 0)]);
        // With a tight threshold only the excellent match is worth it.
        s.solve(2, 2, &edges, 0.35, &mut out);
        assert_eq!(out, vec![(0, 0)]);
    }

    fn all_pairs(a: &[BBox], b: &[BBox]) -> Vec<(u32, u32)> {
        let mut expect = Vec::new();
        for (i, p) in a.iter().enumerate() {
            for (j, q) in b.iter().enumerate() {
                let overlap = p.x2.min(q.x2) > p.x1.max(q.x1) && p.y2.min(q.y2) > p.y1.max(q.y1);
                if is_valid_box(p) && is_valid_box(q) && overlap {
                    expect.push((i as u32, j as u32));
                }
            }
        }
        expect
    }

    #[test]
    fn overlap_finder_matches_all_pairs() {
        let mut rng = Rng(5);
        let mut finder = OverlapFinder::new();
        let mut out = Vec::new();
        for case in 0..400 {
            // Mixed sizes (some boxes span many cells), integer coordinates so that
            // touching edges happen, and a spread that sometimes hits the cell cap.
            let spread = if case % 4 == 0 { 100_000.0 } else { 200.0 };
            let gen_boxes = |rng: &mut Rng, n: usize| -> Vec<BBox> {
                (0..n)
                    .map(|_| {
                        let x = (rng.unit() * spread).floor() as f32;
                        let y = (rng.unit() * 200.0).floor() as f32;
                        let big = rng.below(10) == 0;
                        let w = rng.below(if big { 400 } else { 40 }) as f32;
                        let h = rng.below(if big { 400 } else { 40 }) as f32;
                        BBox::new(x, y, x + w, y + h)
                    })
                    .collect()
            };
            let na = rng.below(40) as usize;
            let nb = rng.below(40) as usize;
            let mut a = gen_boxes(&mut rng, na);
            let b = gen_boxes(&mut rng, nb);
            if na > 0 {
                a[0] = BBox::new(f32::NAN, 0.0, 10.0, 10.0);
            }
            finder.find(&a, &b, &mut out);
            out.sort_unstable();
            assert_eq!(out, all_pairs(&a, &b), "case {case}");
        }
    }

    #[test]
    fn overlap_finder_degenerate_layouts() {
        let mut finder = OverlapFinder::new();
        let mut out = Vec::new();
        // Identical boxes, a column of boxes, a huge box, extreme coordinates.
        let same = vec![BBox::new(0.0, 0.0, 10.0, 10.0); 50];
        let column: Vec<BBox> = (0..100)
            .map(|i| BBox::new(0.0, i as f32 * 8.0, 10.0, i as f32 * 8.0 + 10.0))
            .collect();
        let huge = vec![
            BBox::new(-1e6, -1e6, 1e6, 1e6),
            BBox::new(-3e38, -3e38, 3e38, 3e38),
        ];
        let far = vec![
            BBox::new(-3e30, 0.0, -2e30, 1.0),
            BBox::new(2e30, 0.0, 3e30, 1.0),
            BBox::new(5.0, 5.0, 6.0, 6.0),
        ];
        let sets = [&same, &column, &huge, &far];
        for a in sets {
            for b in sets {
                finder.find(a, b, &mut out);
                out.sort_unstable();
                assert_eq!(out, all_pairs(a, b));
            }
        }
        finder.find(&[], &same, &mut out);
        assert!(out.is_empty());
    }
}
