//! Reductions over all dims or a list of dims, with keepdim: sum, mean,
//! prod, max/min (values and indices), argmax/argmin, var/std, logsumexp,
//! norm, any/all.
//!
//! Every reduction is brought to the form `out[o, i] = reduce_r x[o, r, i]`
//! over contiguous data (a copy is made only when the reduced dims are not
//! one contiguous range of a contiguous tensor). Rows (`I == 1`) and columns
//! (`I > 1`) are each reduced by a fixed pairwise tree over blocks of
//! `BLOCK` elements (`ROW_BLOCK` rows), so the result is bitwise the same
//! whatever the thread count: threads only decide who computes a subtree,
//! never its shape. Pairwise summation bounds the rounding error by
//! O(log n) ulps, like PyTorch's cascade sum.

use crate::convert::{as_same, as_same_mut, cast_fast, convert};
use crate::isa::{Isa, Job, dispatch, dispatch_with};
use crate::iter::PAR_GRAIN;
use crate::math::F;
use crate::simd::Vf32;
use ft_core::layout::wrap_dim;
use ft_core::{DType, Element, Error, ErrorKind, Result, TensorImpl, with_dtype};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Elements per leaf of the row tree.
pub const BLOCK: usize = 2048;
/// Rows per leaf of the column tree.
pub const ROW_BLOCK: usize = 16;
/// The most bytes of accumulators one column task keeps (L1-sized).
const COL_ACC_BYTES: usize = 32 << 10;

/// `out[o * I + i] = reduce_r x[(o * R + r) * I + i]`.
struct Geometry {
    src: TensorImpl,
    o: usize,
    r: usize,
    i: usize,
    out_shape: Vec<usize>,
}

/// The reduced dims of `x` (None or empty: all), checked as PyTorch does.
fn reduced_mask(x: &TensorImpl, dims: Option<&[isize]>) -> Result<Vec<bool>> {
    let nd = x.ndim();
    let mut mask = vec![false; nd];
    match dims {
        None | Some([]) => mask.fill(true),
        Some(ds) => {
            for &d in ds {
                let w = wrap_dim(d, nd)?;
                if nd == 0 {
                    continue;
                }
                if mask[w] {
                    return Err(Error::new(
                        ErrorKind::Value,
                        format!("dim {w} appears multiple times in the list of dims"),
                    ));
                }
                mask[w] = true;
            }
        }
    }
    Ok(mask)
}

fn geometry(x: &TensorImpl, dims: Option<&[isize]>, keepdim: bool) -> Result<Geometry> {
    x.device().check_executable()?;
    let mask = reduced_mask(x, dims)?;
    let shape = x.shape();
    let out_shape: Vec<usize> = shape
        .iter()
        .zip(&mask)
        .filter_map(|(&s, &m)| if m { keepdim.then_some(1) } else { Some(s) })
        .collect();
    let first = mask.iter().position(|&m| m);
    let last = mask.iter().rposition(|&m| m);
    let prod = |r: std::ops::Range<usize>| shape[r].iter().product::<usize>();
    let (src, o, r, i) = match (first, last) {
        (None, _) | (_, None) => (x.contiguous()?, x.numel(), 1, 1),
        (Some(p), Some(q)) if x.is_contiguous() && mask[p..=q].iter().all(|&m| m) => (
            x.clone(),
            prod(0..p),
            prod(p..q + 1),
            prod(q + 1..shape.len()),
        ),
        _ => {
            let perm: Vec<isize> = (0..shape.len())
                .filter(|&d| !mask[d])
                .chain((0..shape.len()).filter(|&d| mask[d]))
                .map(|d| d as isize)
                .collect();
            let kept: usize = (0..shape.len())
                .filter(|&d| !mask[d])
                .map(|d| shape[d])
                .product();
            let red: usize = (0..shape.len())
                .filter(|&d| mask[d])
                .map(|d| shape[d])
                .product();
            (x.permute(&perm)?.contiguous()?, kept, red, 1)
        }
    };
    Ok(Geometry {
        src,
        o,
        r,
        i,
        out_shape,
    })
}

/// How one reduction accumulates. `merge(a, b)` combines an earlier range
/// `a` with a later range `b`.
trait Reducer: Sync {
    type In: Element;
    type Acc: Copy + Send + Sync;
    fn init(&self) -> Self::Acc;
    fn feed(&self, acc: Self::Acc, x: Self::In, index: usize) -> Self::Acc;
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The ISA a row walk of this reducer runs on: the active one, or a
    /// narrower one where that streams faster ([`SumF32`]).
    #[inline(always)]
    fn row_isa(&self) -> Isa {
        crate::isa::isa()
    }
    /// A leaf over contiguous elements; reducers with a SIMD body override.
    #[inline(always)]
    fn leaf<S: Vf32>(&self, _s: S, xs: &[Self::In], base: usize) -> Self::Acc {
        let mut acc = self.init();
        for (k, &x) in xs.iter().enumerate() {
            acc = self.feed(acc, x, base + k);
        }
        acc
    }
    /// A leaf of f16 or bf16 elements read without a widened copy, where
    /// the reducer can ([`SumF32`]); `None`: widen the leaf first.
    #[inline(always)]
    fn leaf_half<S: Vf32>(&self, _s: S, _xs: Half<'_>, _base: usize) -> Option<Self::Acc> {
        None
    }
    /// Feeds row `r` into one accumulator per column.
    #[inline(always)]
    fn col_feed<S: Vf32>(&self, _s: S, acc: &mut [Self::Acc], row: &[Self::In], r: usize) {
        for (a, &x) in acc.iter_mut().zip(row) {
            *a = self.feed(*a, x, r);
        }
    }
    /// Feeds rows `r0, r0 + 1, ...` (`rows`, at most [`ROW_BLOCK`]) into one
    /// accumulator per column, in that order; reducers with a SIMD body
    /// override it to keep partial sums in registers across rows.
    #[inline(always)]
    fn col_leaf<S: Vf32>(&self, s: S, acc: &mut [Self::Acc], rows: &[&[Self::In]], r0: usize) {
        for (k, row) in rows.iter().enumerate() {
            self.col_feed(s, acc, row, r0 + k);
        }
    }
    /// [`Self::col_leaf`] into accumulators not set yet: as if each held
    /// `init()` first. Reducers with a SIMD body override it to start from
    /// registers instead of filling and reloading `acc`.
    #[inline(always)]
    fn col_leaf_new<S: Vf32>(&self, s: S, acc: &mut [Self::Acc], rows: &[&[Self::In]], r0: usize) {
        acc.fill(self.init());
        self.col_leaf(s, acc, rows, r0);
    }
    /// `a[i] = merge(a[i], b[i])`.
    #[inline(always)]
    fn col_merge<S: Vf32>(&self, _s: S, a: &mut [Self::Acc], b: &[Self::Acc]) {
        for (x, &y) in a.iter_mut().zip(b) {
            *x = self.merge(*x, y);
        }
    }
}

/// Runs a reducer over a geometry; one accumulator per output element.
fn run_reducer<R: Reducer>(g: &Geometry, red: &R) -> Result<Vec<R::Acc>> {
    let n_out = g.o * g.i;
    let mut out = vec![red.init(); n_out];
    if n_out == 0 {
        return Ok(out);
    }
    let guard = g.src.storage().read()?;
    let offset = g.src.storage_offset();
    with_dtype!(g.src.dtype(), U => {
        let all: &[U] = ft_core::tensor::typed::<U>(guard.bytes());
        let data = &all[offset..offset + g.src.numel()];
        reduce_typed::<U, R>(data, g, red, &mut out);
    });
    Ok(out)
}

fn reduce_typed<U: Element, R: Reducer>(data: &[U], g: &Geometry, red: &R, out: &mut [R::Acc]) {
    let total = g.o * g.r * g.i;
    if total >= PAR_GRAIN && rayon::current_num_threads() > 1 {
        crate::par::region(|| reduce_on::<U, R>(data, g, red, out, true));
    } else {
        reduce_on::<U, R>(data, g, red, out, false);
    }
}

/// [`reduce_typed`] with threads (`par`) or on the calling thread.
fn reduce_on<U: Element, R: Reducer>(
    data: &[U],
    g: &Geometry,
    red: &R,
    out: &mut [R::Acc],
    par: bool,
) {
    if g.i == 1 {
        // Rows.
        // The ISA once per reduction, not per row (`sum_dim1_f32_256`: +6
        // instructions per row when each row asked).
        let isa = red.row_isa();
        if par && g.o == 1 {
            out[0] = tree_par(isa, red, data);
        } else if par {
            let chunk = g.o.div_ceil(rayon::current_num_threads() * 4);
            crate::par::chunks_mut(out, chunk, |k, dst| {
                let first = k * chunk * g.r;
                tree_rows(isa, red, &data[first..first + dst.len() * g.r], g.r, dst);
            });
        } else {
            tree_rows(isa, red, data, g.r, out);
        }
    } else {
        // Columns: each task owns a range of columns of one o (at most
        // COL_ACC_BYTES of accumulators, so they stay in L1) and walks
        // every row of it, ROW_BLOCK rows per leaf. With rows enough for
        // every thread, threads split the row tree (each reads whole rows:
        // one contiguous range of memory), else the columns.
        let threads = if par { rayon::current_num_threads() } else { 1 };
        let by_rows = par && g.r >= 2 * ROW_BLOCK * threads;
        let split = if by_rows { 1 } else { threads };
        let cap = (COL_ACC_BYTES / std::mem::size_of::<R::Acc>().max(1)).max(16);
        let per = g.i.div_ceil(split).min(cap).next_multiple_of(16).max(16);
        let mut tasks: Vec<(usize, usize, &mut [R::Acc])> = out
            .chunks_mut(g.i)
            .enumerate()
            .flat_map(|(o, row)| {
                row.chunks_mut(per)
                    .enumerate()
                    .map(move |(c, dst)| (o, c * per, dst))
            })
            .collect();
        let work = |(o, i0, dst): (usize, usize, &mut [R::Acc])| {
            let block = &data[o * g.r * g.i..(o + 1) * g.r * g.i];
            ColJob {
                red,
                block,
                stride: g.i,
                i0,
                dst,
                rows: g.r,
                par: by_rows,
            }
            .run();
        };
        if par && !by_rows && tasks.len() > 1 {
            crate::par::chunks_mut(&mut tasks, 1, |_, t| {
                let (o, i0, dst) = &mut t[0];
                work((*o, *i0, dst));
            });
        } else {
            tasks.into_iter().for_each(work);
        }
    }
}

/// Columns `[i0, i0 + dst.len())` of one `[R, I]` block, reduced down the
/// rows by a pairwise tree over leaves of `ROW_BLOCK` rows: the tree
/// [`split_point`] cuts, each (sub)tree walked in one pass on the active
/// ISA ([`col_walk`]).
struct ColJob<'a, U, R: Reducer> {
    red: &'a R,
    block: &'a [U],
    stride: usize,
    i0: usize,
    dst: &'a mut [R::Acc],
    rows: usize,
    /// The top of the row tree runs on the caller and the pool ([`TreeTop`]).
    par: bool,
}

impl<U: Element, R: Reducer> ColJob<'_, U, R> {
    fn run(self) {
        let acc = if self.par {
            TreeTop::new(ROW_BLOCK).run(
                self.rows,
                |r0, n| col_walk(&self, r0, r0 + n),
                |mut a, b| {
                    dispatch(ColMerge {
                        red: self.red,
                        a: &mut a,
                        b: &b,
                    });
                    a
                },
            )
        } else {
            col_walk(&self, 0, self.rows)
        };
        self.dst.copy_from_slice(&acc);
    }
}

/// The column tree over rows `[r0, r1)` (the whole block or a subtree of
/// it), its leaves walked in memory order on the active ISA by a
/// [`Pairwise`] counter whose values are slots of accumulators.
fn col_walk<U: Element, R: Reducer>(j: &ColJob<'_, U, R>, r0: usize, r1: usize) -> Vec<R::Acc> {
    struct Walk<'a, 'b, U, R: Reducer> {
        j: &'a ColJob<'b, U, R>,
        r0: usize,
        r1: usize,
    }
    impl<U: Element, R: Reducer> Job for Walk<'_, '_, U, R> {
        type Output = Vec<R::Acc>;
        #[inline(always)]
        fn run<S: Vf32>(self, s: S) -> Vec<R::Acc> {
            let (j, r0, r1) = (self.j, self.r0, self.r1);
            let leaves = (r1 - r0).div_ceil(ROW_BLOCK);
            let mut slots = ColSlots::new(s, j.red, j.dst.len(), leaves);
            let first = slots.leaf(j, r0, r1.min(r0 + ROW_BLOCK));
            let mut tree = Pairwise::new(first);
            for r in (r0 + ROW_BLOCK..r1).step_by(ROW_BLOCK) {
                let h = slots.leaf(j, r, r1.min(r + ROW_BLOCK));
                tree.push(&mut slots, h);
            }
            let h = tree.finish(&mut slots);
            slots.into_slot(h)
        }
    }
    dispatch(Walk { j, r0, r1 })
}

/// The values of a column walk: slots of `w` accumulators in one buffer,
/// named by index, with a mask of the free ones. A merge keeps the earlier
/// slot and frees the later, so a walk allocates once, not once per leaf.
struct ColSlots<'a, S, R: Reducer> {
    s: S,
    red: &'a R,
    w: usize,
    buf: Vec<R::Acc>,
    /// Bit `k` set: slot `k` is free.
    free: u64,
    /// Rows converted to the reducer's input type ([`col_leaf`]).
    conv: Vec<R::In>,
}

impl<'a, S: Vf32, R: Reducer> ColSlots<'a, S, R> {
    /// Enough slots for a walk over `leaves` leaves: one per bit of the
    /// counter (the subtrees it holds) and one for the incoming leaf.
    #[inline(always)]
    fn new(s: S, red: &'a R, w: usize, leaves: usize) -> Self {
        // At most 61 slots: a leaf is 16 rows, so `leaves < 2^60`.
        let n = (usize::BITS - leaves.leading_zeros()) as usize + 1;
        ColSlots {
            s,
            red,
            w,
            buf: vec![red.init(); n * w],
            free: u64::MAX >> (64 - n),
            conv: Vec::new(),
        }
    }

    /// A free slot, made to hold rows `[r0, r1)` of `j` reduced.
    #[inline(always)]
    fn leaf<U: Element>(&mut self, j: &ColJob<'_, U, R>, r0: usize, r1: usize) -> usize {
        debug_assert!(self.free != 0, "a column walk ran out of slots");
        let h = self.free.trailing_zeros() as usize;
        self.free &= self.free - 1;
        col_leaf(
            self.s,
            j,
            r0,
            r1,
            &mut self.buf[h * self.w..(h + 1) * self.w],
            &mut self.conv,
        );
        h
    }

    /// Slot `h`'s accumulators.
    fn into_slot(mut self, h: usize) -> Vec<R::Acc> {
        self.buf.copy_within(h * self.w..(h + 1) * self.w, 0);
        self.buf.truncate(self.w);
        self.buf
    }
}

impl<S: Vf32, R: Reducer> Merge<usize> for ColSlots<'_, S, R> {
    #[inline(always)]
    fn merge(&mut self, a: usize, b: usize) -> usize {
        let w = self.w;
        let (lo, hi) = self.buf.split_at_mut(a.max(b) * w);
        let (x, y) = if a < b {
            (&mut lo[a * w..(a + 1) * w], &hi[..w])
        } else {
            (&mut hi[..w], &lo[b * w..(b + 1) * w])
        };
        self.red.col_merge(self.s, x, y);
        self.free |= 1 << b;
        a
    }
}

/// Rows `[r0, r1)` (at most [`ROW_BLOCK`]) of a column job reduced into
/// `acc` (whatever it held) in order, converted to the reducer's input
/// type (in `conv`, kept from leaf to leaf), on ISA `s`.
#[inline(always)]
fn col_leaf<S: Vf32, U: Element, R: Reducer>(
    s: S,
    j: &ColJob<'_, U, R>,
    r0: usize,
    r1: usize,
    acc: &mut [R::Acc],
    conv: &mut Vec<R::In>,
) {
    let w = acc.len();
    let row = |r: usize| &j.block[r * j.stride + j.i0..r * j.stride + j.i0 + w];
    if U::DTYPE == <R::In as Element>::DTYPE {
        let mut rows: [&[R::In]; ROW_BLOCK] = [&[]; ROW_BLOCK];
        for (k, r) in (r0..r1).enumerate() {
            rows[k] = as_same(row(r)).expect("equal dtypes");
        }
        j.red.col_leaf_new(s, acc, &rows[..r1 - r0], r0);
        return;
    }
    // Another input type: converted `CONV` columns at a time, all the
    // leaf's rows of them, so the reducer's (SIMD) leaf serves it too.
    // `conv` is the walk's, set once: zeroing it per leaf cost as much as
    // a bf16 column sum's leaves.
    const CONV: usize = 128;
    if conv.is_empty() {
        conv.resize(ROW_BLOCK * CONV, <R::In as Element>::zero());
    }
    for c0 in (0..w).step_by(CONV) {
        let c1 = (c0 + CONV).min(w);
        let mut rows: [&[R::In]; ROW_BLOCK] = [&[]; ROW_BLOCK];
        for ((dst, r), rows_k) in conv.chunks_exact_mut(CONV).zip(r0..r1).zip(rows.iter_mut()) {
            convert(&row(r)[c0..c1], &mut dst[..c1 - c0]);
            *rows_k = &dst[..c1 - c0];
        }
        j.red
            .col_leaf_new(s, &mut acc[c0..c1], &rows[..r1 - r0], r0);
    }
}

struct ColMerge<'a, R: Reducer> {
    red: &'a R,
    a: &'a mut [R::Acc],
    b: &'a [R::Acc],
}

impl<R: Reducer> Job for ColMerge<'_, R> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        self.red.col_merge(s, self.a, self.b);
    }
}

/// Where a pairwise tree over leaves of `leaf` elements (rows) splits a
/// range of `len > leaf`: after the largest power-of-two count of leaves
/// short of the whole, the same place whichever thread computes the halves.
/// This is the tree a binary counter builds walking the leaves left to
/// right ([`Pairwise`]), so a subtree is reduced in one streaming pass: no
/// recursion, no call per leaf.
#[inline]
fn split_point(len: usize, leaf: usize) -> usize {
    let leaves = len.div_ceil(leaf);
    debug_assert!(leaves >= 2);
    leaf << (leaves - 1).ilog2()
}

/// How a pairwise walk combines the value `a` of a range with the value
/// `b` of the range just after it.
trait Merge<A> {
    fn merge(&mut self, a: A, b: A) -> A;
}

/// A reducer's own merge, for walks over its accumulators.
struct ByReducer<'a, R>(&'a R);

impl<R: Reducer> Merge<R::Acc> for ByReducer<'_, R> {
    #[inline(always)]
    fn merge(&mut self, a: R::Acc, b: R::Acc) -> R::Acc {
        self.0.merge(a, b)
    }
}

/// Vectors of f32 partial sums, added lane by lane on ISA `S`.
struct AddF32s<S>(S);

impl<S: Vf32> Merge<F<S>> for AddF32s<S> {
    #[inline(always)]
    fn merge(&mut self, a: F<S>, b: F<S>) -> F<S> {
        self.0.add_f32s(a, b)
    }
}

/// The pairwise tree over `parts[..n]` (`parts[0]` if `n` is 0), in place
/// level by level: adjacent pairs merged, an odd last one carried up. The
/// tree of [`Pairwise`] (tested), for values already in an array: over a
/// leaf's eight sub-blocks it costs fewer instructions than the counter
/// (`ft-bench gate`: `sum_f32_64k` +1.4% through the counter). The array's
/// length is a constant so that the loops need no bounds checks (through
/// a slice, +15%).
#[inline(always)]
fn fold_pairs<A: Copy, const N: usize>(parts: &mut [A; N], n: usize, m: &mut impl Merge<A>) -> A {
    let mut n = n.min(N);
    while n > 1 {
        for k in 0..n / 2 {
            parts[k] = m.merge(parts[2 * k], parts[2 * k + 1]);
        }
        if n % 2 == 1 {
            parts[n / 2] = parts[n - 1];
        }
        n = n.div_ceil(2);
    }
    parts[0]
}

/// The pairwise tree over leaves pushed in order, with its left subtrees
/// of a power-of-two count of leaves: the tree [`split_point`] cuts (and
/// the one adjacent pairs with the odd one carried up build). A binary
/// counter: `stack[d]` holds the value
/// of the latest complete subtree of `2^d` leaves, so every merge is the
/// tree's and the walk reads its leaves in memory order. (Plain methods and
/// [`Merge`] types, not closures: a closure is compiled without the ISA's
/// target features of the kernel around it.)
struct Pairwise<A> {
    stack: [A; usize::BITS as usize],
    count: usize,
}

impl<A: Copy> Pairwise<A> {
    /// A walk whose first leaf has the value `first`.
    #[inline(always)]
    fn new(first: A) -> Self {
        Pairwise {
            stack: [first; usize::BITS as usize],
            count: 1,
        }
    }

    /// Adds the next leaf: it closes one subtree per trailing one bit of
    /// the count so far.
    #[inline(always)]
    fn push(&mut self, m: &mut impl Merge<A>, mut v: A) {
        let closes = self.count.trailing_ones() as usize;
        for d in 0..closes {
            v = m.merge(self.stack[d], v);
        }
        self.stack[closes] = v;
        self.count += 1;
    }

    /// The tree's value: the partial subtrees left (one per one bit of the
    /// count), latest (smallest) first.
    #[inline(always)]
    fn finish(&self, m: &mut impl Merge<A>) -> A {
        let mut bits = self.count;
        let mut acc = self.stack[bits.trailing_zeros() as usize];
        bits &= bits - 1;
        while bits != 0 {
            acc = m.merge(self.stack[bits.trailing_zeros() as usize], acc);
            bits &= bits - 1;
        }
        acc
    }
}

/// Pairwise tree over a row: leaves of `BLOCK` elements at fixed offsets,
/// walked in one pass on `isa` (the reducer's [`Reducer::row_isa`]).
fn tree<U: Element, R: Reducer>(isa: Isa, red: &R, xs: &[U], base: usize) -> R::Acc {
    struct TreeJob<'a, U, R> {
        red: &'a R,
        xs: &'a [U],
        base: usize,
    }
    impl<U: Element, R: Reducer> Job for TreeJob<'_, U, R> {
        type Output = R::Acc;
        #[inline(always)]
        fn run<S: Vf32>(self, s: S) -> R::Acc {
            tree_in(s, self.red, self.xs, self.base)
        }
    }
    dispatch_with(isa, TreeJob { red, xs, base })
}

/// [`tree`] of each `r`-element row of `data` into `out`, one dispatch for
/// them all (a dispatch a row was 20 instructions of a 256-row sum's 190).
fn tree_rows<U: Element, R: Reducer>(isa: Isa, red: &R, data: &[U], r: usize, out: &mut [R::Acc]) {
    struct RowsJob<'a, U, R: Reducer> {
        red: &'a R,
        data: &'a [U],
        r: usize,
        out: &'a mut [R::Acc],
    }
    impl<U: Element, R: Reducer> Job for RowsJob<'_, U, R> {
        type Output = ();
        #[inline(always)]
        fn run<S: Vf32>(self, s: S) {
            for (o, acc) in self.out.iter_mut().enumerate() {
                *acc = tree_in(s, self.red, &self.data[o * self.r..(o + 1) * self.r], 0);
            }
        }
    }
    dispatch_with(isa, RowsJob { red, data, r, out })
}

/// The body of [`tree`], inside a job.
#[inline(always)]
fn tree_in<S: Vf32, U: Element, R: Reducer>(s: S, red: &R, xs: &[U], base: usize) -> R::Acc {
    if xs.len() <= BLOCK {
        return leaf(s, red, xs, base);
    }
    let mut leaves = xs.chunks(BLOCK);
    let first = leaf(s, red, leaves.next().unwrap_or(xs), base);
    let mut tree = Pairwise::new(first);
    for (k, x) in leaves.enumerate() {
        let v = leaf(s, red, x, base + (k + 1) * BLOCK);
        tree.push(&mut ByReducer(red), v);
    }
    tree.finish(&mut ByReducer(red))
}

/// [`tree`] with its subtrees on the caller and the pool ([`TreeTop`]).
fn tree_par<U: Element, R: Reducer>(isa: Isa, red: &R, xs: &[U]) -> R::Acc {
    TreeTop::new(BLOCK).run(
        xs.len(),
        |off, len| tree(isa, red, &xs[off..off + len], off),
        |a, b| red.merge(a, b),
    )
}

/// The top levels of a pairwise tree over `0..len` (split by
/// [`split_point`]), cut where there are about four subtrees per thread:
/// the subtrees run as [`crate::par::parts`] and are merged up the same
/// tree on the calling thread, so the value is the tree's whatever the
/// thread count.
struct TreeTop {
    /// Ranges this long or shorter are leaves.
    leaf: usize,
    /// How many levels are cut off the top.
    depth: u32,
}

impl TreeTop {
    fn new(leaf: usize) -> Self {
        let subtrees = 4 * rayon::current_num_threads();
        TreeTop {
            leaf,
            depth: subtrees.next_power_of_two().trailing_zeros(),
        }
    }

    fn stops(&self, len: usize, depth: u32) -> bool {
        depth == 0 || len <= self.leaf
    }

    fn nodes(&self, off: usize, len: usize, depth: u32, out: &mut Vec<(usize, usize)>) {
        if self.stops(len, depth) {
            out.push((off, len));
        } else {
            let mid = split_point(len, self.leaf);
            self.nodes(off, mid, depth - 1, out);
            self.nodes(off + mid, len - mid, depth - 1, out);
        }
    }

    fn fold<A>(
        &self,
        len: usize,
        depth: u32,
        vals: &mut impl Iterator<Item = A>,
        merge: &mut impl FnMut(A, A) -> A,
    ) -> Option<A> {
        if self.stops(len, depth) {
            return vals.next();
        }
        let mid = split_point(len, self.leaf);
        let a = self.fold(mid, depth - 1, vals, merge)?;
        let b = self.fold(len - mid, depth - 1, vals, merge)?;
        Some(merge(a, b))
    }

    /// The tree's value: `sub(off, len)` for each subtree at the cut,
    /// `merge` above it.
    fn run<A: Send>(
        &self,
        len: usize,
        sub: impl Fn(usize, usize) -> A + Sync,
        mut merge: impl FnMut(A, A) -> A,
    ) -> A {
        let mut nodes = Vec::with_capacity(1 << self.depth);
        self.nodes(0, len, self.depth, &mut nodes);
        let mut vals: Vec<Option<A>> = nodes.iter().map(|_| None).collect();
        crate::par::chunks_mut(&mut vals, 1, |k, v| {
            v[0] = Some(sub(nodes[k].0, nodes[k].1));
        });
        // Every subtree has its value, and the fold takes them in order.
        let mut vals = vals.into_iter().flatten();
        match self.fold(len, self.depth, &mut vals, &mut merge) {
            Some(a) => a,
            None => sub(0, len),
        }
    }
}

/// One leaf, converted to the reducer's input type, on ISA `s`.
#[inline(always)]
fn leaf<S: Vf32, U: Element, R: Reducer>(s: S, red: &R, xs: &[U], base: usize) -> R::Acc {
    if let Some(xs) = as_same::<U, R::In>(xs) {
        return red.leaf(s, xs, base);
    }
    // No closure here: one the compiler leaves out of line runs without
    // the job's target features (its intrinsics become calls).
    if let Some(h) = Half::of(xs)
        && let Some(acc) = red.leaf_half(s, h, base)
    {
        return acc;
    }
    // The whole leaf converted, then reduced as one: the tree of the
    // reducer's own input type (f16 and bf16 sums are f32 sums' tree).
    debug_assert!(xs.len() <= BLOCK);
    let mut buf = Leaf([<R::In as Element>::zero(); BLOCK]);
    let buf = &mut buf.0[..xs.len()];
    match (Half::of(xs), as_same_mut::<R::In, f32>(buf)) {
        // f16 / bf16 to f32 in registers, without `convert`'s dispatch.
        (Some(Half::Bf16(xs)), Some(wide)) => widen_half(s, xs, wide),
        (Some(Half::F16(xs)), Some(wide)) => widen_half(s, xs, wide),
        _ => convert(xs, buf),
    }
    red.leaf(s, buf, base)
}

/// A leaf's worth of elements on the stack, aligned to a cache line: a
/// vector store into a misaligned buffer splits across two lines (the
/// bf16 `max(dim=1)` widened into one ran at 8.4 GB/s, 2/3 of the speed).
#[repr(C, align(64))]
struct Leaf<T>([T; BLOCK]);

/// `xs` widened into `dst` (as long), a vector at a time.
#[inline(always)]
fn widen_half<S: Vf32, H: crate::map::Half>(s: S, xs: &[H], dst: &mut [f32]) {
    let c = crate::simd::HalfConv::new(s);
    let lanes = crate::simd::lanes::<S>();
    let (head, tail) = S::as_mut_simd_f32s(dst);
    for (d, x) in head.iter_mut().zip(xs.chunks_exact(lanes)) {
        *d = H::load(c, x);
    }
    for (d, &x) in tail.iter_mut().zip(&xs[head.len() * lanes..]) {
        *d = cast_fast(x);
    }
}

/// f16 or bf16 elements.
#[derive(Clone, Copy)]
enum Half<'a> {
    F16(&'a [half::f16]),
    Bf16(&'a [half::bf16]),
}

impl<'a> Half<'a> {
    /// `xs` if its elements are f16 or bf16.
    #[inline(always)]
    fn of<U: Element>(xs: &'a [U]) -> Option<Self> {
        as_same(xs)
            .map(Half::Bf16)
            .or_else(|| as_same(xs).map(Half::F16))
    }
}

// ------------------------------------------------------------ reducers

/// Elements per sub-block of an f32 sum leaf: each sub-block is summed by
/// four vector accumulators, then the sub-blocks pairwise.
pub const SUM_SUB: usize = 256;

/// The worst-case count of roundings one element of an f32 sum goes
/// through, on an ISA with `lanes` f32 lanes, for `n` elements: serial adds
/// in an accumulator, the horizontal reduction, and the pairwise levels.
pub fn sum_rounding_depth(lanes: usize, n: usize) -> usize {
    let levels = |k: usize| k.max(1).next_power_of_two().trailing_zeros() as usize;
    SUM_SUB / (4 * lanes) + 2 + levels(lanes) + levels(BLOCK / SUM_SUB) + levels(n.div_ceil(BLOCK))
}

/// f32 sum with a SIMD leaf: four vector accumulators hide the add latency.
struct SumF32;
impl Reducer for SumF32 {
    type In = f32;
    type Acc = f32;
    fn init(&self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn feed(&self, acc: f32, x: f32, _: usize) -> f32 {
        acc + x
    }
    fn merge(&self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn row_isa(&self) -> Isa {
        sum_isa()
    }
    #[inline(always)]
    fn leaf<S: Vf32>(&self, s: S, xs: &[f32], _: usize) -> f32 {
        sum_leaf_by(s, xs, Prefetched(sum_prefetch()))
    }
    /// f16 and bf16 without a copy of the leaf: the same sub-blocks,
    /// accumulators and lanes as [`Self::leaf`] of the widened leaf, so the
    /// same sums, without the prefetch.
    #[inline(always)]
    fn leaf_half<S: Vf32>(&self, s: S, xs: Half<'_>, _: usize) -> Option<f32> {
        Some(match xs {
            Half::Bf16(xs) => sum_leaf_by(s, xs, InRegisters),
            Half::F16(xs) => sum_leaf_by(s, xs, InRegisters),
        })
    }
    #[inline(always)]
    fn col_feed<S: Vf32>(&self, s: S, acc: &mut [f32], row: &[f32], _: usize) {
        let (ah, at) = S::as_mut_simd_f32s(acc);
        let (rh, rt) = S::as_simd_f32s(row);
        for (a, &x) in ah.iter_mut().zip(rh) {
            *a = s.add_f32s(*a, x);
        }
        for (a, &x) in at.iter_mut().zip(rt) {
            *a += x;
        }
    }
    /// Four rows per pass over the accumulators: each column still adds
    /// its rows one at a time in order (the same roundings as
    /// [`Self::col_feed`] row by row), with the partial sum held in a
    /// register across the four, so the accumulators are loaded and stored
    /// a quarter as often. Row by row, their traffic halved the speed of a
    /// column sum (`perf-artifacts/kernels-v8-sum-dim0.md`).
    #[inline(always)]
    fn col_leaf<S: Vf32>(&self, s: S, acc: &mut [f32], rows: &[&[f32]], _: usize) {
        for q in rows.chunks_exact(4) {
            self.col_quad::<S, false>(s, acc, q);
        }
        for row in rows.chunks_exact(4).remainder() {
            self.col_feed(s, acc, row, 0);
        }
    }
    /// The first four rows start from 0.0 in registers: no fill of `acc`
    /// and no load of it before they are added.
    #[inline(always)]
    fn col_leaf_new<S: Vf32>(&self, s: S, acc: &mut [f32], rows: &[&[f32]], r0: usize) {
        if rows.len() < 4 {
            acc.fill(0.0);
            return self.col_leaf(s, acc, rows, r0);
        }
        self.col_quad::<S, true>(s, acc, &rows[..4]);
        self.col_leaf(s, acc, &rows[4..], r0 + 4);
    }
    #[inline(always)]
    fn col_merge<S: Vf32>(&self, s: S, a: &mut [f32], b: &[f32]) {
        self.col_feed(s, a, b, 0);
    }
}

impl SumF32 {
    /// Adds four rows `q` into the column sums `acc` (`NEW`: into 0.0, what
    /// `acc` holds unread), each column's rows one at a time in order: the
    /// roundings of [`Reducer::col_feed`] row by row, with the partial sum
    /// in a register across the four.
    #[inline(always)]
    fn col_quad<S: Vf32, const NEW: bool>(&self, s: S, acc: &mut [f32], q: &[&[f32]]) {
        let (ah, at) = S::as_mut_simd_f32s(acc);
        // Four calls, not `[0, 1, 2, 3].map(..)`: the map was an
        // out-of-line call per pass, 12% of a small column sum's count.
        let (h0, t0) = S::as_simd_f32s(q[0]);
        let (h1, t1) = S::as_simd_f32s(q[1]);
        let (h2, t2) = S::as_simd_f32s(q[2]);
        let (h3, t3) = S::as_simd_f32s(q[3]);
        let z = s.splat_f32s(0.0);
        for ((((a, &x0), &x1), &x2), &x3) in ah.iter_mut().zip(h0).zip(h1).zip(h2).zip(h3) {
            let a0 = if NEW { z } else { *a };
            *a = s.add_f32s(s.add_f32s(s.add_f32s(s.add_f32s(a0, x0), x1), x2), x3);
        }
        for ((((a, &x0), &x1), &x2), &x3) in at.iter_mut().zip(t0).zip(t1).zip(t2).zip(t3) {
            let a0 = if NEW { 0.0 } else { *a };
            *a = a0 + x0 + x1 + x2 + x3;
        }
    }
}

/// How far ahead of its loads an f32 sum asks for cache lines, in
/// elements (8 KiB), on the processors that gain from it
/// ([`crate::cpu::Cpu::streams_want_prefetch`]). One Zen 5 core streaming
/// from L3 or memory gets about a fifth more bandwidth with these requests
/// than from the hardware prefetchers alone
/// (`perf-artifacts/kernels-v10-sum-prefetch.md`); a Zen 4 core gets a
/// fifth less (`perf-artifacts/kernels-v14-sum-prefetch-by-core.md`).
pub const SUM_PREFETCH: usize = 2048;

/// The prefetch distance f32 sums use, in elements (0: none); `usize::MAX`
/// until chosen.
static SUM_PREFETCH_NOW: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets how far ahead of its loads an f32 sum asks for cache lines, in
/// elements (`Some(0)`: never), or `None` for the default: the
/// environment's `FT_SUM_PREFETCH=<elements>` if set, else this
/// processor's ([`SUM_PREFETCH`] where
/// [`crate::cpu::Cpu::streams_want_prefetch`], else none). Results do not
/// change: only which lines are asked for early.
///
/// ```
/// use ft_kernels::ops::reduce::{set_sum_prefetch, sum_prefetch};
/// set_sum_prefetch(Some(0));
/// assert_eq!(sum_prefetch(), 0);
/// set_sum_prefetch(None);
/// # let _ = sum_prefetch();
/// ```
pub fn set_sum_prefetch(elements: Option<usize>) {
    let d = setting(elements, "FT_SUM_PREFETCH", || {
        if crate::cpu::cpu().streams_want_prefetch() {
            SUM_PREFETCH
        } else {
            0
        }
    });
    // usize::MAX is the "not chosen" mark; a distance that far is none.
    SUM_PREFETCH_NOW.store(if d == usize::MAX { 0 } else { d }, Ordering::Relaxed);
}

/// The prefetch distance f32 sums use now, in elements (0: none).
pub fn sum_prefetch() -> usize {
    match SUM_PREFETCH_NOW.load(Ordering::Relaxed) {
        usize::MAX => {
            set_sum_prefetch(None);
            SUM_PREFETCH_NOW.load(Ordering::Relaxed)
        }
        d => d,
    }
}

/// The vector width, in bits, f32 row sums use on AVX-512 (512 or 256); 0
/// until chosen.
static SUM_WIDTH_NOW: AtomicU32 = AtomicU32::new(0);

/// Sets the vector width f32 row sums (`sum` and `mean` of f32, f16 and
/// bf16 along contiguous rows) use when the active ISA is AVX-512:
/// `Some(256)` runs them on the AVX2 body, `Some(512)` (or any other
/// value) on the AVX-512 one, `None` the default: the environment's
/// `FT_SUM_WIDTH=256|512` if set, else this processor's (256 where
/// [`crate::cpu::Cpu::streams_prefer_256`], else 512). Other ISAs and reductions are not affected. The width changes the
/// lanes of the sum's tree, so results differ in the last bits, as between
/// ISAs; each width is the same bits for every thread count.
///
/// ```
/// use ft_kernels::ops::reduce::{set_sum_width, sum_width};
/// set_sum_width(Some(256));
/// assert_eq!(sum_width(), 256);
/// set_sum_width(None);
/// # let _ = sum_width();
/// ```
pub fn set_sum_width(bits: Option<u32>) {
    let bits = setting(bits, "FT_SUM_WIDTH", || {
        if crate::cpu::cpu().streams_prefer_256() {
            256
        } else {
            512
        }
    });
    SUM_WIDTH_NOW.store(if bits == 256 { 256 } else { 512 }, Ordering::Relaxed);
}

/// A tuning setting: `given`, else the environment variable `var` if it
/// parses, else this processor's `default`.
pub(crate) fn setting<T: std::str::FromStr>(
    given: Option<T>,
    var: &str,
    default: impl FnOnce() -> T,
) -> T {
    given
        .or_else(|| std::env::var(var).ok()?.trim().parse().ok())
        .unwrap_or_else(default)
}

/// The vector width f32 row sums use on AVX-512 now: 512 or 256 bits.
pub fn sum_width() -> u32 {
    match SUM_WIDTH_NOW.load(Ordering::Relaxed) {
        0 => {
            set_sum_width(None);
            SUM_WIDTH_NOW.load(Ordering::Relaxed)
        }
        w => w,
    }
}

/// The ISA f32 row sums run on now: the active one ([`crate::isa()`]),
/// but AVX2 in its place where AVX-512 is active and [`sum_width`] is 256.
pub fn sum_isa() -> Isa {
    match crate::isa::isa() {
        Isa::Avx512 if sum_width() == 256 => Isa::Avx2,
        isa => isa,
    }
}

/// How an f32 sum leaf of `H` gets each sub-block's vector of partial
/// sums: as [`sum_sub`] gives them for the sub-block widened to f32. (A
/// trait, not a closure: a closure is a function of its own, compiled
/// without the ISA's target features when it is not inlined, and then
/// every vector add is a call; f16 row sums ran at 1.3 GB/s so.)
trait SubBlocks<H> {
    fn sum<S: Vf32>(&mut self, s: S, sub: &[H]) -> F<S>;
}

/// f32 sub-blocks, with the lines `.0` elements ahead prefetched (0: none).
struct Prefetched(usize);

impl SubBlocks<f32> for Prefetched {
    #[inline(always)]
    fn sum<S: Vf32>(&mut self, s: S, sub: &[f32]) -> F<S> {
        if self.0 == 0 {
            sum_sub::<S, false>(s, sub, 0)
        } else {
            sum_sub::<S, true>(s, sub, self.0)
        }
    }
}

/// f16 and bf16 sub-blocks widened in registers as they are added
/// ([`crate::map::Half::load`]): no copy to f32 in memory.
struct InRegisters;

impl<H: crate::map::Half> SubBlocks<H> for InRegisters {
    #[inline(always)]
    fn sum<S: Vf32>(&mut self, s: S, sub: &[H]) -> F<S> {
        sum_sub_half(s, sub)
    }
}

/// [`SumF32::leaf`] of `xs` widened to f32: vector partial sums of the
/// sub-blocks (by `by`), combined pairwise; one horizontal reduction.
#[inline(always)]
fn sum_leaf_by<S: Vf32, H, B: SubBlocks<H>>(s: S, xs: &[H], mut by: B) -> f32 {
    let mut parts = [s.splat_f32s(0.0); BLOCK / SUM_SUB];
    let mut n = 0;
    for sub in xs.chunks(SUM_SUB) {
        parts[n] = by.sum(s, sub);
        n += 1;
    }
    s.reduce_sum_f32s(fold_pairs(&mut parts, n, &mut AddF32s(s)))
}

/// [`sum_sub`] (without prefetch) of `xs` widened to f32 in registers:
/// the same accumulators in the same order. Element `i` of a pass of
/// `4 * lanes` goes to accumulator `i / lanes`, lane `i % lanes`; left-over
/// whole vectors to accumulators 0, 1, 2, a partial one (its missing lanes
/// +0.0, which add nothing to an accumulator that starts at +0.0) to
/// accumulator 3.
#[inline(always)]
fn sum_sub_half<S: Vf32, H: crate::map::Half>(s: S, xs: &[H]) -> F<S> {
    let lanes = crate::simd::lanes::<S>();
    let c = crate::simd::HalfConv::new(s);
    let mut acc = [s.splat_f32s(0.0); 4];
    let mut passes = xs.chunks_exact(4 * lanes);
    for p in &mut passes {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = s.add_f32s(*a, H::load(c, &p[k * lanes..]));
        }
    }
    let mut vectors = passes.remainder().chunks_exact(lanes);
    for (a, v) in acc.iter_mut().zip(&mut vectors) {
        *a = s.add_f32s(*a, H::load(c, v));
    }
    let tail = vectors.remainder();
    if !tail.is_empty() {
        let mut t = [H::zero(); crate::simd::MAX_LANES];
        t[..tail.len()].copy_from_slice(tail);
        acc[3] = s.add_f32s(acc[3], H::load(c, &t));
    }
    s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3]))
}

/// One sub-block as a vector of partial sums (four accumulators), with a
/// prefetch `ahead` elements on (`PF`) or none.
#[inline(always)]
fn sum_sub<S: Vf32, const PF: bool>(s: S, xs: &[f32], ahead: usize) -> F<S> {
    let (head, tail) = S::as_simd_f32s(xs);
    let z = s.splat_f32s(0.0);
    let mut acc = [z; 4];
    let lanes = std::mem::size_of::<F<S>>() / 4;
    // Each pass of the loop below reads `4 * lanes` elements (`16 * lanes`
    // bytes) and, with `PF`, asks for the lines of as many `ahead` further
    // on, which lie in the next sub-blocks and leaves (or past the data's
    // end: a prefetch never faults, and the address is only computed).
    let ahead = xs.as_ptr().wrapping_add(ahead);
    let mut chunks = head.chunks_exact(4);
    for (i, c) in (&mut chunks).enumerate() {
        if PF {
            crate::simd::prefetch_lines(ahead.wrapping_add(i * 4 * lanes).cast(), 16 * lanes, 0);
        }
        for k in 0..4 {
            acc[k] = s.add_f32s(acc[k], c[k]);
        }
    }
    for (k, &v) in chunks.remainder().iter().enumerate() {
        acc[k] = s.add_f32s(acc[k], v);
    }
    if !tail.is_empty() {
        acc[3] = s.add_f32s(acc[3], s.partial_load_f32s(tail));
    }
    s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3]))
}

/// Sum or product in an accumulation type.
struct Fold<T> {
    prod: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}
macro_rules! fold_impl {
    ($t:ty, $add:ident, $mul:ident) => {
        impl Reducer for Fold<$t> {
            type In = $t;
            type Acc = $t;
            fn init(&self) -> $t {
                if self.prod { 1 as $t } else { 0 as $t }
            }
            #[inline(always)]
            fn feed(&self, acc: $t, x: $t, _: usize) -> $t {
                if self.prod { acc.$mul(x) } else { acc.$add(x) }
            }
            fn merge(&self, a: $t, b: $t) -> $t {
                self.feed(a, b, 0)
            }
        }
    };
}
trait FloatOps: Sized {
    fn fadd(self, o: Self) -> Self;
    fn fmul(self, o: Self) -> Self;
}
impl FloatOps for f64 {
    fn fadd(self, o: Self) -> Self {
        self + o
    }
    fn fmul(self, o: Self) -> Self {
        self * o
    }
}
impl FloatOps for f32 {
    fn fadd(self, o: Self) -> Self {
        self + o
    }
    fn fmul(self, o: Self) -> Self {
        self * o
    }
}
fold_impl!(f64, fadd, fmul);
fold_impl!(f32, fadd, fmul);
fold_impl!(i64, wrapping_add, wrapping_mul);

/// Max or min with the index of its first occurrence; NaN wins (first NaN).
struct Extreme {
    max: bool,
}
impl Reducer for Extreme {
    type In = f64;
    type Acc = (f64, i64);
    fn init(&self) -> (f64, i64) {
        (
            if self.max {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            -1,
        )
    }
    #[inline(always)]
    fn feed(&self, acc: (f64, i64), x: f64, index: usize) -> (f64, i64) {
        self.merge(acc, (x, index as i64))
    }
    #[inline(always)]
    fn merge(&self, a: (f64, i64), b: (f64, i64)) -> (f64, i64) {
        if a.1 < 0 {
            return b;
        }
        if b.1 < 0 || a.0.is_nan() {
            return a;
        }
        if b.0.is_nan() || (self.max && b.0 > a.0) || (!self.max && b.0 < a.0) {
            b
        } else {
            a
        }
    }
}

/// [`Extreme`] over f32 (and f16/bf16, widened exactly) with a SIMD leaf:
/// one pass for the leaf's largest (smallest) value and whether it holds
/// a NaN, then a pass for the first element equal to it (the first NaN):
/// PyTorch's value and index, the first occurrence on ties (`-0.0` and
/// `0.0` are equal, so the first zero and its sign).
struct ExtremeF32 {
    max: bool,
}

impl Reducer for ExtremeF32 {
    type In = f32;
    type Acc = (f64, i64);
    fn init(&self) -> (f64, i64) {
        Extreme { max: self.max }.init()
    }
    #[inline(always)]
    fn feed(&self, acc: (f64, i64), x: f32, index: usize) -> (f64, i64) {
        self.merge(acc, (x as f64, index as i64))
    }
    #[inline(always)]
    fn merge(&self, a: (f64, i64), b: (f64, i64)) -> (f64, i64) {
        Extreme { max: self.max }.merge(a, b)
    }
    #[inline(always)]
    fn leaf<S: Vf32>(&self, s: S, xs: &[f32], base: usize) -> (f64, i64) {
        let (head, tail) = S::as_simd_f32s(xs);
        // Pass 1: the extreme of the non-NaN elements, and NaN seen.
        let start = if self.max {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
        let mut m = [s.splat_f32s(start); 2];
        let mut nan = [s.splat_f32s(0.0); 2];
        let mut pairs = head.chunks_exact(2);
        for c in &mut pairs {
            for k in 0..2 {
                m[k] = self.pick(s, c[k], m[k]);
                // A NaN lane of `c[k]` replaces the 0.0 in `nan`.
                nan[k] = s.select_f32s(s.equal_f32s(c[k], c[k]), nan[k], c[k]);
            }
        }
        for &v in pairs.remainder() {
            m[0] = self.pick(s, v, m[0]);
            nan[0] = s.select_f32s(s.equal_f32s(v, v), nan[0], v);
        }
        let both = self.pick(s, m[0], m[1]);
        let mut best = if self.max {
            s.reduce_max_f32s(both)
        } else {
            s.reduce_min_f32s(both)
        };
        // Zeros and NaNs only: the sum is NaN iff one was seen.
        let mut any_nan = s.reduce_sum_f32s(s.add_f32s(nan[0], nan[1])).is_nan();
        for &v in tail {
            any_nan |= v.is_nan();
            if (self.max && v > best) || (!self.max && v < best) {
                best = v;
            }
        }
        // Pass 2: the first element equal to it, or the first NaN (rare:
        // element by element). The leaf is in L1 by now; a vector with a
        // match is searched lane by lane.
        if any_nan {
            return first_match(xs, 0, true, best, base, self.init());
        }
        let lanes = std::mem::size_of::<F<S>>() / 4;
        let want = s.splat_f32s(best);
        for (v, &x) in head.iter().enumerate() {
            if s.first_true_m32s(s.equal_f32s(x, want)) < lanes {
                return first_match(xs, v * lanes, false, best, base, self.init());
            }
        }
        first_match(xs, head.len() * lanes, false, best, base, self.init())
    }
    #[inline(always)]
    fn col_leaf<S: Vf32>(&self, s: S, acc: &mut [(f64, i64)], rows: &[&[f32]], r0: usize) {
        self.col_rows(s, rows, r0, |c, b| acc[c] = self.merge(acc[c], b));
    }
    #[inline(always)]
    fn col_leaf_new<S: Vf32>(&self, s: S, acc: &mut [(f64, i64)], rows: &[&[f32]], r0: usize) {
        if rows.is_empty() {
            return acc.fill(self.init());
        }
        self.col_rows(s, rows, r0, |c, b| acc[c] = b);
    }
}

impl ExtremeF32 {
    /// Rows `rows` (at most [`ROW_BLOCK`], rows `r0, r0 + 1, ...` of a
    /// column reduction) reduced column by column, lanes across columns:
    /// each column's first NaN, else its first largest (smallest) element,
    /// what feeding the rows one at a time finds. `put(c, v)` receives
    /// column `c`'s value and row.
    #[inline(always)]
    fn col_rows<S: Vf32>(
        &self,
        s: S,
        rows: &[&[f32]],
        r0: usize,
        mut put: impl FnMut(usize, (f64, i64)),
    ) {
        let Some((first, rest)) = rows.split_first() else {
            return;
        };
        let (h0, t0) = S::as_simd_f32s(first);
        let mut heads: [&[F<S>]; ROW_BLOCK] = [&[]; ROW_BLOCK];
        for (h, row) in heads.iter_mut().zip(rest) {
            *h = &S::as_simd_f32s(row).0[..h0.len()];
        }
        let heads = &heads[..rest.len()];
        const MAX_LANES: usize = 16;
        let lanes = std::mem::size_of::<F<S>>() / 4;
        let (mut vals, mut rows_at) = ([0f32; MAX_LANES], [0f32; MAX_LANES]);
        for (v, &x0) in h0.iter().enumerate() {
            let (mut m, mut at) = (x0, s.splat_f32s(0.0));
            for (k, h) in heads.iter().enumerate() {
                let x = h[v];
                // x wins where it is larger (smaller), or NaN where m is not.
                let beats = if self.max {
                    s.less_than_f32s(m, x)
                } else {
                    s.less_than_f32s(x, m)
                };
                let m_num = s.equal_f32s(m, m);
                let x_nan = s.and_m32s(s.xor_m32s(s.equal_f32s(x, x), m_num), m_num);
                let take = s.or_m32s(beats, x_nan);
                m = s.select_f32s(take, x, m);
                at = s.select_f32s(take, s.splat_f32s((k + 1) as f32), at);
            }
            S::as_mut_simd_f32s(&mut vals[..lanes]).0[0] = m;
            S::as_mut_simd_f32s(&mut rows_at[..lanes]).0[0] = at;
            for l in 0..lanes {
                put(
                    v * lanes + l,
                    (vals[l] as f64, (r0 + rows_at[l] as usize) as i64),
                );
            }
        }
        let done = h0.len() * lanes;
        for c in 0..t0.len() {
            let mut acc = self.init();
            for (k, row) in rows.iter().enumerate() {
                acc = self.feed(acc, row[done + c], r0 + k);
            }
            put(done + c, acc);
        }
    }

    /// Lane by lane the larger (smaller) of `x` and `m`, or `m` where `x`
    /// is NaN on x86 (`maxps`/`minps` return their second operand when
    /// either is NaN; elsewhere a NaN may win, and pass 2 then looks for
    /// NaN anyway).
    #[inline(always)]
    fn pick<S: Vf32>(&self, s: S, x: F<S>, m: F<S>) -> F<S> {
        if self.max {
            s.max_f32s(x, m)
        } else {
            s.min_f32s(x, m)
        }
    }
}

/// The first element of `xs[from..]` that is NaN (`nan`) or equal to
/// `best`, with its index past `base`; `none` if no element is.
#[inline(always)]
fn first_match(
    xs: &[f32],
    from: usize,
    nan: bool,
    best: f32,
    base: usize,
    none: (f64, i64),
) -> (f64, i64) {
    for (k, &x) in xs.iter().enumerate().skip(from) {
        if if nan { x.is_nan() } else { x == best } {
            return (x as f64, (base + k) as i64);
        }
    }
    none
}

/// Max/min over integers exactly (i64 values).
struct ExtremeInt {
    max: bool,
}
impl Reducer for ExtremeInt {
    type In = i64;
    type Acc = (i64, i64);
    fn init(&self) -> (i64, i64) {
        (0, -1)
    }
    #[inline(always)]
    fn feed(&self, acc: (i64, i64), x: i64, index: usize) -> (i64, i64) {
        self.merge(acc, (x, index as i64))
    }
    fn merge(&self, a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
        if a.1 < 0 {
            return b;
        }
        if b.1 < 0 {
            return a;
        }
        if (self.max && b.0 > a.0) || (!self.max && b.0 < a.0) {
            b
        } else {
            a
        }
    }
}

/// Count, mean and sum of squared deviations (Chan et al.'s parallel
/// update): stable, and merge keeps the tree deterministic.
struct Moments;
impl Reducer for Moments {
    type In = f64;
    type Acc = (f64, f64, f64);
    fn init(&self) -> (f64, f64, f64) {
        (0.0, 0.0, 0.0)
    }
    #[inline(always)]
    fn feed(&self, (n, mean, m2): (f64, f64, f64), x: f64, _: usize) -> (f64, f64, f64) {
        let n1 = n + 1.0;
        let d = x - mean;
        let mean1 = mean + d / n1;
        (n1, mean1, m2 + d * (x - mean1))
    }
    fn merge(&self, a: (f64, f64, f64), b: (f64, f64, f64)) -> (f64, f64, f64) {
        if a.0 == 0.0 {
            return b;
        }
        if b.0 == 0.0 {
            return a;
        }
        let n = a.0 + b.0;
        let d = b.1 - a.1;
        (n, a.1 + d * b.0 / n, a.2 + b.2 + d * d * a.0 * b.0 / n)
    }
}

/// Running max and sum of exp(x - max), rescaled on merge.
struct LogSumExp;
impl Reducer for LogSumExp {
    type In = f64;
    type Acc = (f64, f64);
    fn init(&self) -> (f64, f64) {
        (f64::NEG_INFINITY, 0.0)
    }
    #[inline(always)]
    fn feed(&self, acc: (f64, f64), x: f64, _: usize) -> (f64, f64) {
        self.merge(acc, (x, 1.0))
    }
    fn merge(&self, a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        if a.0.is_nan() || b.0.is_nan() {
            return (f64::NAN, f64::NAN);
        }
        let m = a.0.max(b.0);
        if m == f64::NEG_INFINITY {
            return (m, a.1 + b.1);
        }
        if m == f64::INFINITY {
            return (m, 1.0);
        }
        (m, a.1 * (a.0 - m).exp() + b.1 * (b.0 - m).exp())
    }
}

/// Norms: p = 1 (sum |x|), 2 (sqrt of sum x^2), inf (max |x|).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormP {
    One,
    Two,
    Inf,
}
struct Norm(NormP);
impl Reducer for Norm {
    type In = f64;
    type Acc = f64;
    fn init(&self) -> f64 {
        0.0
    }
    #[inline(always)]
    fn feed(&self, acc: f64, x: f64, _: usize) -> f64 {
        match self.0 {
            NormP::One => acc + x.abs(),
            NormP::Two => acc + x * x,
            NormP::Inf => {
                if x.is_nan() || acc.is_nan() {
                    f64::NAN
                } else {
                    acc.max(x.abs())
                }
            }
        }
    }
    fn merge(&self, a: f64, b: f64) -> f64 {
        match self.0 {
            NormP::Inf => {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.max(b)
                }
            }
            _ => a + b,
        }
    }
}

/// A reducer of f64 accumulators ([`Moments`], [`LogSumExp`], [`Norm`])
/// with a SIMD leaf over f32 elements: f32, and f16 / bf16 widened to f32
/// (exact, as is f32 to f64). The leaf widens its vectors to f64 lanes, so
/// the accumulation keeps the f64 reducer's precision (logsumexp's
/// exponentials are f32's, within 1.5 ulp, summed in f64).
trait WideLeaf: Reducer<In = f64> {
    fn leaf_f32<S: Vf32>(&self, s: S, xs: &[f32]) -> Self::Acc;
}

/// [`WideLeaf`]'s reducer as a reducer of f32 elements.
struct FromF32<R>(R);

impl<R: WideLeaf> Reducer for FromF32<R> {
    type In = f32;
    type Acc = R::Acc;
    fn init(&self) -> R::Acc {
        self.0.init()
    }
    #[inline(always)]
    fn feed(&self, acc: R::Acc, x: f32, index: usize) -> R::Acc {
        self.0.feed(acc, x as f64, index)
    }
    fn merge(&self, a: R::Acc, b: R::Acc) -> R::Acc {
        self.0.merge(a, b)
    }
    #[inline(always)]
    fn leaf<S: Vf32>(&self, s: S, xs: &[f32], _: usize) -> R::Acc {
        self.0.leaf_f32(s, xs)
    }
}

/// `red` over `g`: through its f32 leaf where the elements are f32, f16
/// or bf16; in f64 element by element otherwise (f64 itself, and the
/// integers, which f32 could round).
fn run_wide<R: WideLeaf>(g: &Geometry, red: R) -> Result<Vec<R::Acc>> {
    match g.src.dtype() {
        DType::F32 | DType::F16 | DType::BF16 => run_reducer(g, &FromF32(red)),
        _ => run_reducer(g, &red),
    }
}

/// The f64 lanes of `S`'s vector.
#[inline(always)]
fn wide_lanes<S: Vf32>() -> usize {
    std::mem::size_of::<S::f64s>() / 8
}

/// The first f64 vector's worth of `src`, widened.
#[inline(always)]
fn load_wide<S: Vf32>(src: &[f32]) -> S::f64s {
    let n = wide_lanes::<S>();
    let mut t = [0.0f64; crate::simd::MAX_LANES / 2];
    for (t, &x) in t[..n].iter_mut().zip(&src[..n]) {
        *t = x as f64;
    }
    S::as_simd_f64s(&t[..n]).0[0]
}

/// What [`sum_wide`] adds up: two sums of a term of each element.
trait Terms: Copy {
    fn vec<S: Vf32>(self, s: S, acc: [S::f64s; 2], x: S::f64s) -> [S::f64s; 2];
    fn one(self, acc: [f64; 2], x: f64) -> [f64; 2];
}

/// `x` (and nothing).
#[derive(Clone, Copy)]
struct Plain;
impl Terms for Plain {
    #[inline(always)]
    fn vec<S: Vf32>(self, s: S, [a, b]: [S::f64s; 2], x: S::f64s) -> [S::f64s; 2] {
        [s.add_f64s(a, x), b]
    }
    #[inline(always)]
    fn one(self, [a, b]: [f64; 2], x: f64) -> [f64; 2] {
        [a + x, b]
    }
}

/// `|x|` (and nothing).
#[derive(Clone, Copy)]
struct Abs;
impl Terms for Abs {
    #[inline(always)]
    fn vec<S: Vf32>(self, s: S, [a, b]: [S::f64s; 2], x: S::f64s) -> [S::f64s; 2] {
        [s.add_f64s(a, s.abs_f64s(x)), b]
    }
    #[inline(always)]
    fn one(self, [a, b]: [f64; 2], x: f64) -> [f64; 2] {
        [a + x.abs(), b]
    }
}

/// `x * x` (and nothing).
#[derive(Clone, Copy)]
struct Square;
impl Terms for Square {
    #[inline(always)]
    fn vec<S: Vf32>(self, s: S, [a, b]: [S::f64s; 2], x: S::f64s) -> [S::f64s; 2] {
        [s.mul_add_f64s(x, x, a), b]
    }
    #[inline(always)]
    fn one(self, [a, b]: [f64; 2], x: f64) -> [f64; 2] {
        [x.mul_add(x, a), b]
    }
}

/// `d = x - mean` and `d * d`.
#[derive(Clone, Copy)]
struct Deviation(f64);
impl Terms for Deviation {
    #[inline(always)]
    fn vec<S: Vf32>(self, s: S, [a, b]: [S::f64s; 2], x: S::f64s) -> [S::f64s; 2] {
        let d = s.sub_f64s(x, s.splat_f64s(self.0));
        [s.add_f64s(a, d), s.mul_add_f64s(d, d, b)]
    }
    #[inline(always)]
    fn one(self, [a, b]: [f64; 2], x: f64) -> [f64; 2] {
        let d = x - self.0;
        [a + d, d.mul_add(d, b)]
    }
}

/// The sums of `terms` over `xs`, each element widened to f64: four vector
/// accumulators per sum over groups of four vectors, the vectors left into
/// the first, the elements left one by one after the lanes are added.
#[inline(always)]
fn sum_wide<S: Vf32, T: Terms>(s: S, xs: &[f32], terms: T) -> [f64; 2] {
    let l = wide_lanes::<S>();
    let zero = s.splat_f64s(0.0);
    let mut acc = [[zero; 2]; 4];
    let mut quads = xs.chunks_exact(4 * l);
    for q in &mut quads {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = terms.vec(s, *a, load_wide::<S>(&q[k * l..]));
        }
    }
    let mut vecs = quads.remainder().chunks_exact(l);
    for v in &mut vecs {
        acc[0] = terms.vec(s, acc[0], load_wide::<S>(v));
    }
    let mut sums = [0.0; 2];
    for (j, sum) in sums.iter_mut().enumerate() {
        let low = s.add_f64s(acc[0][j], acc[1][j]);
        *sum = s.reduce_sum_f64s(s.add_f64s(low, s.add_f64s(acc[2][j], acc[3][j])));
    }
    for &x in vecs.remainder() {
        sums = terms.one(sums, x as f64);
    }
    sums
}

/// The largest of `xs` (`-inf` if empty), four vector accumulators (also
/// softmax's pass 1). A NaN element may or may not win, by ISA (`maxps`
/// returns its second operand when either is NaN); callers that must see
/// NaN look for it otherwise.
#[inline(always)]
pub(crate) fn max_f32<S: Vf32>(s: S, xs: &[f32]) -> f32 {
    let (head, tail) = S::as_simd_f32s(xs);
    let mut m = [s.splat_f32s(f32::NEG_INFINITY); 4];
    let mut quads = head.chunks_exact(4);
    for q in &mut quads {
        for k in 0..4 {
            m[k] = s.max_f32s(m[k], q[k]);
        }
    }
    for &v in quads.remainder() {
        m[0] = s.max_f32s(m[0], v);
    }
    let mut mx = s.reduce_max_f32s(s.max_f32s(s.max_f32s(m[0], m[1]), s.max_f32s(m[2], m[3])));
    for &v in tail {
        mx = mx.max(v);
    }
    mx
}

impl WideLeaf for Moments {
    /// Two passes over the leaf (the second in L1): the mean, then the
    /// deviations from it, whose sum corrects the mean's rounding and the
    /// sum of their squares: `M2 = Σd² - (Σd)²/n`.
    #[inline(always)]
    fn leaf_f32<S: Vf32>(&self, s: S, xs: &[f32]) -> (f64, f64, f64) {
        if xs.is_empty() {
            return self.init();
        }
        let n = xs.len() as f64;
        let mean = sum_wide(s, xs, Plain)[0] / n;
        let [d, q] = sum_wide(s, xs, Deviation(mean));
        (n, mean + d / n, q - d * d / n)
    }
}

impl WideLeaf for LogSumExp {
    /// The leaf's max `m` (f32), then `exp(x - m)` in f32 into an L1
    /// buffer and its sum in f64: `(m, Σ exp(x - m))`.
    #[inline(always)]
    fn leaf_f32<S: Vf32>(&self, s: S, xs: &[f32]) -> (f64, f64) {
        let nan = (f64::NAN, f64::NAN);
        let m = max_f32(s, xs);
        if m.is_nan() {
            return nan;
        }
        if m.is_infinite() {
            // +inf: the leaf's lse (unless a NaN is there too); -inf: every
            // element is -inf (or NaN), nothing to add.
            return if xs.iter().any(|x| x.is_nan()) {
                nan
            } else {
                (m as f64, if m > 0.0 { 1.0 } else { 0.0 })
            };
        }
        debug_assert!(xs.len() <= BLOCK);
        let mut buf = Leaf([0.0f32; BLOCK]);
        let buf = &mut buf.0[..xs.len()];
        let mv = s.splat_f32s(m);
        let (xh, xt) = S::as_simd_f32s(xs);
        let (bh, bt) = S::as_mut_simd_f32s(buf);
        for (b, &v) in bh.iter_mut().zip(xh) {
            *b = crate::math::exp(s, s.sub_f32s(v, mv));
        }
        if !xt.is_empty() {
            let v = s.sub_f32s(s.partial_load_f32s(xt), mv);
            s.partial_store_f32s(bt, crate::math::exp(s, v));
        }
        // A NaN element makes its exponential, and so the sum, NaN.
        let sum = sum_wide(s, buf, Plain)[0];
        if sum.is_nan() { nan } else { (m as f64, sum) }
    }
}

impl WideLeaf for Norm {
    #[inline(always)]
    fn leaf_f32<S: Vf32>(&self, s: S, xs: &[f32]) -> f64 {
        match self.0 {
            NormP::One => sum_wide(s, xs, Abs)[0],
            NormP::Two => sum_wide(s, xs, Square)[0],
            NormP::Inf => abs_max_f32(s, xs),
        }
    }
}

/// The largest `|x|` of `xs` (0 if empty), NaN if one is NaN: max is
/// exact in f32.
#[inline(always)]
fn abs_max_f32<S: Vf32>(s: S, xs: &[f32]) -> f64 {
    let (head, tail) = S::as_simd_f32s(xs);
    let zero = s.splat_f32s(0.0);
    let (mut m, mut nan) = ([zero; 2], [zero; 2]);
    let mut pairs = head.chunks_exact(2);
    for c in &mut pairs {
        for k in 0..2 {
            m[k] = s.max_f32s(m[k], s.abs_f32s(c[k]));
            // A NaN lane of `c[k]` replaces the 0.0 in `nan`.
            nan[k] = s.select_f32s(s.equal_f32s(c[k], c[k]), nan[k], c[k]);
        }
    }
    for &v in pairs.remainder() {
        m[0] = s.max_f32s(m[0], s.abs_f32s(v));
        nan[0] = s.select_f32s(s.equal_f32s(v, v), nan[0], v);
    }
    // Zeros and NaNs only: the sum is NaN iff one was seen.
    let mut any_nan = s.reduce_sum_f32s(s.add_f32s(nan[0], nan[1])).is_nan();
    let mut best = s.reduce_max_f32s(s.max_f32s(m[0], m[1]));
    for &v in tail {
        any_nan |= v.is_nan();
        best = best.max(v.abs());
    }
    if any_nan { f64::NAN } else { best as f64 }
}

/// any (or) / all (and).
struct AnyAll {
    all: bool,
}
impl Reducer for AnyAll {
    type In = bool;
    type Acc = bool;
    fn init(&self) -> bool {
        self.all
    }
    #[inline(always)]
    fn feed(&self, acc: bool, x: bool, _: usize) -> bool {
        if self.all { acc & x } else { acc | x }
    }
    fn merge(&self, a: bool, b: bool) -> bool {
        self.feed(a, b, 0)
    }
}

// ----------------------------------------------------------------- ops

fn write_out<T: Element>(values: Vec<T>, shape: &[usize]) -> Result<TensorImpl> {
    TensorImpl::from_vec(values, shape)
}

/// The dtype a sum or prod returns: integers and bool widen to int64.
fn sum_dtype(input: DType, dtype: Option<DType>) -> DType {
    dtype.unwrap_or(if input.is_floating_point() {
        input
    } else {
        DType::I64
    })
}

fn fold(
    x: &TensorImpl,
    dims: Option<&[isize]>,
    keepdim: bool,
    dtype: Option<DType>,
    prod: bool,
) -> Result<TensorImpl> {
    let out = sum_dtype(x.dtype(), dtype);
    let g = geometry(x, dims, keepdim)?;
    match out {
        DType::F32 | DType::F16 | DType::BF16 if !prod => {
            let v = run_reducer(&g, &SumF32)?;
            cast_vec(v, out, &g.out_shape)
        }
        DType::F32 | DType::F16 | DType::BF16 => {
            let v = run_reducer(
                &g,
                &Fold::<f32> {
                    prod,
                    _t: Default::default(),
                },
            )?;
            cast_vec(v, out, &g.out_shape)
        }
        DType::F64 => write_out(
            run_reducer(
                &g,
                &Fold::<f64> {
                    prod,
                    _t: Default::default(),
                },
            )?,
            &g.out_shape,
        ),
        _ => {
            let v = run_reducer(
                &g,
                &Fold::<i64> {
                    prod,
                    _t: Default::default(),
                },
            )?;
            cast_vec(v, out, &g.out_shape)
        }
    }
}

fn cast_vec<T: Element>(v: Vec<T>, dtype: DType, shape: &[usize]) -> Result<TensorImpl> {
    with_dtype!(dtype, U => write_out(v.into_iter().map(cast_fast::<T, U>).collect::<Vec<U>>(), shape))
}

/// `x.sum(dims, keepdim, dtype=)`; integer and bool inputs sum in int64.
pub fn sum(
    x: &TensorImpl,
    dims: Option<&[isize]>,
    keepdim: bool,
    dtype: Option<DType>,
) -> Result<TensorImpl> {
    fold(x, dims, keepdim, dtype, false)
}

/// `x.prod(dims, keepdim, dtype=)`.
///
/// f16 and bf16 multiply in f32 and round once, as their sums do. PyTorch
/// 2.15 on CPU multiplies in the half dtype itself, rounding at every
/// step, so its product drifts from the true one as rows grow (bf16 rows of
/// `1 + 0.01 * randn`: up to 4% off at 40 elements, 17% at 300, 81% at
/// 4096, against 0.3% for one rounding); ours stays within one rounding of
/// the f32 product, and so can differ from PyTorch's by that much.
pub fn prod(
    x: &TensorImpl,
    dims: Option<&[isize]>,
    keepdim: bool,
    dtype: Option<DType>,
) -> Result<TensorImpl> {
    fold(x, dims, keepdim, dtype, true)
}

fn require_float(op: &str, x: &TensorImpl, dtype: Option<DType>) -> Result<DType> {
    let d = dtype.unwrap_or(x.dtype());
    if !d.is_floating_point() {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "{op}(): could not infer output dtype. Input dtype must be either a floating point \
                 or complex dtype. Got: {}",
                d.scalar_type_name()
            ),
        ));
    }
    Ok(d)
}

/// `x.mean(dims, keepdim, dtype=)`: floating dtypes only; empty gives NaN.
pub fn mean(
    x: &TensorImpl,
    dims: Option<&[isize]>,
    keepdim: bool,
    dtype: Option<DType>,
) -> Result<TensorImpl> {
    let d = require_float("mean", x, dtype)?;
    let g = geometry(x, dims, keepdim)?;
    let n = g.r as f64;
    if d == DType::F64 {
        let v = run_reducer(
            &g,
            &Fold::<f64> {
                prod: false,
                _t: Default::default(),
            },
        )?;
        return write_out(v.into_iter().map(|s| s / n).collect(), &g.out_shape);
    }
    let v = run_reducer(&g, &SumF32)?;
    cast_vec(
        v.into_iter().map(|s| s / n as f32).collect::<Vec<f32>>(),
        d,
        &g.out_shape,
    )
}

fn check_nonempty(op: &str, x: &TensorImpl, dim: Option<isize>) -> Result<()> {
    if x.numel() != 0 {
        return Ok(());
    }
    // A 0-dim tensor always has its one element; only shapes can be empty.
    Err(match dim {
        None => Error::new(
            ErrorKind::Value,
            format!(
                "{op}(): Expected reduction dim to be specified for input.numel() == 0.{}",
                if op.starts_with("arg") {
                    ""
                } else {
                    " Specify the reduction dim with the 'dim' argument."
                }
            ),
        ),
        Some(d) => {
            let w = wrap_dim(d, x.ndim())?;
            if x.ndim() > 0 && x.shape()[w] != 0 {
                return Ok(()); // empty elsewhere: an empty result, as PyTorch
            }
            Error::new(
                ErrorKind::Index,
                format!("{op}(): Expected reduction dim {w} to have non-zero size."),
            )
        }
    })
}

fn extreme(
    x: &TensorImpl,
    dim: Option<isize>,
    keepdim: bool,
    max: bool,
) -> Result<(TensorImpl, TensorImpl)> {
    let name = if max { "max" } else { "min" };
    check_nonempty(name, x, dim)?;
    let dims = dim.map(|d| vec![d]);
    let g = geometry(x, dims.as_deref(), keepdim)?;
    let (values, idx) = if x.dtype().is_integral(true) {
        // Exact through i64 (f64 would round large int64 values).
        let (v, i): (Vec<i64>, Vec<i64>) =
            run_reducer(&g, &ExtremeInt { max })?.into_iter().unzip();
        (cast_vec(v, x.dtype(), &g.out_shape)?, i)
    } else if x.dtype() == DType::F64 {
        let (v, i): (Vec<f64>, Vec<i64>) = run_reducer(&g, &Extreme { max })?.into_iter().unzip();
        (cast_vec(v, x.dtype(), &g.out_shape)?, i)
    } else {
        // f32, f16, bf16: exact in f32.
        let (v, i): (Vec<f64>, Vec<i64>) =
            run_reducer(&g, &ExtremeF32 { max })?.into_iter().unzip();
        (cast_vec(v, x.dtype(), &g.out_shape)?, i)
    };
    Ok((values, write_out(idx, &g.out_shape)?))
}

/// `x.max()`: the largest element (NaN if any is NaN).
pub fn max(x: &TensorImpl) -> Result<TensorImpl> {
    extreme(x, None, false, true).map(|v| v.0)
}

/// `x.min()`.
pub fn min(x: &TensorImpl) -> Result<TensorImpl> {
    extreme(x, None, false, false).map(|v| v.0)
}

/// `x.max(dim, keepdim)`: values and the index of their first occurrence.
pub fn max_dim(x: &TensorImpl, dim: isize, keepdim: bool) -> Result<(TensorImpl, TensorImpl)> {
    extreme(x, Some(dim), keepdim, true)
}

/// `x.min(dim, keepdim)`.
pub fn min_dim(x: &TensorImpl, dim: isize, keepdim: bool) -> Result<(TensorImpl, TensorImpl)> {
    extreme(x, Some(dim), keepdim, false)
}

/// `x.argmax(dim, keepdim)`; over all elements (flattened) when `dim` is None.
pub fn argmax(x: &TensorImpl, dim: Option<isize>, keepdim: bool) -> Result<TensorImpl> {
    arg(x, dim, keepdim, true)
}

/// `x.argmin(dim, keepdim)`.
pub fn argmin(x: &TensorImpl, dim: Option<isize>, keepdim: bool) -> Result<TensorImpl> {
    arg(x, dim, keepdim, false)
}

fn arg(x: &TensorImpl, dim: Option<isize>, keepdim: bool, max: bool) -> Result<TensorImpl> {
    let name = if max { "argmax" } else { "argmin" };
    if x.dtype() == DType::Bool {
        return Err(Error::new(
            ErrorKind::DType,
            format!("{name}(): does not support bool input"),
        ));
    }
    check_nonempty(name, x, dim)?;
    match dim {
        Some(d) => extreme(x, Some(d), keepdim, max).map(|v| v.1),
        None => {
            let flat = x.reshape(&[-1])?;
            let i = extreme(&flat, Some(0), false, max)?.1;
            if keepdim {
                i.reshape(&vec![1isize; x.ndim()])
            } else {
                Ok(i)
            }
        }
    }
}

/// `x.var(dims, correction, keepdim)`: floating dtypes only; accumulated
/// in f64 (f32, f16 and bf16 widened in vector lanes) and rounded once.
pub fn var(
    x: &TensorImpl,
    dims: Option<&[isize]>,
    correction: f64,
    keepdim: bool,
) -> Result<TensorImpl> {
    moments(x, dims, correction, keepdim, false)
}

/// `x.std(dims, correction, keepdim)`.
pub fn std(
    x: &TensorImpl,
    dims: Option<&[isize]>,
    correction: f64,
    keepdim: bool,
) -> Result<TensorImpl> {
    moments(x, dims, correction, keepdim, true)
}

fn moments(
    x: &TensorImpl,
    dims: Option<&[isize]>,
    correction: f64,
    keepdim: bool,
    sqrt: bool,
) -> Result<TensorImpl> {
    if !x.dtype().is_floating_point() {
        return Err(Error::new(
            ErrorKind::DType,
            "std and var only support floating point and complex dtypes",
        ));
    }
    let g = geometry(x, dims, keepdim)?;
    let v: Vec<f64> = run_wide(&g, Moments)?
        .into_iter()
        .map(|(n, _, m2)| {
            // PyTorch: divide by max(0, n - correction); 0 / 0 is NaN.
            let v = m2 / (n - correction).max(0.0);
            if sqrt { v.sqrt() } else { v }
        })
        .collect();
    cast_vec(v, x.dtype(), &g.out_shape)
}

/// `torch.logsumexp(x, dims, keepdim)`; integer inputs give float32.
///
/// Accumulated in f64 and rounded once to the result dtype; for f32, f16
/// and bf16 the exponentials are f32's (`exp(x - max)`, within 1.5 ulp),
/// so a result may be off by about 2e-7 absolute. For f16 and bf16
/// PyTorch 2.15 composes half-dtype ops (`amax`, `x - max`, `exp`, `sum`,
/// `log`, `+ max`, each rounded to the half), so some results differ from
/// ours in the last bit (8 to 14 of 64 bf16 rows of 300 in a check).
pub fn logsumexp(x: &TensorImpl, dims: Option<&[isize]>, keepdim: bool) -> Result<TensorImpl> {
    let out = if x.dtype().is_floating_point() {
        x.dtype()
    } else {
        ft_core::dtype::DEFAULT_FLOAT
    };
    let g = geometry(x, dims, keepdim)?;
    let v: Vec<f64> = run_wide(&g, LogSumExp)?
        .into_iter()
        .map(|(m, s)| if m.is_infinite() { m } else { m + s.ln() })
        .collect();
    cast_vec(v, out, &g.out_shape)
}

/// `torch.linalg.vector_norm(x, p, dims, keepdim)` for p = 1, 2, inf.
pub fn norm(x: &TensorImpl, p: NormP, dims: Option<&[isize]>, keepdim: bool) -> Result<TensorImpl> {
    if !x.dtype().is_floating_point() {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "norm(): input dtype should be either floating point or complex. Got {} instead.",
                x.dtype().scalar_type_name()
            ),
        ));
    }
    let g = geometry(x, dims, keepdim)?;
    if p == NormP::Inf && g.r == 0 {
        return Err(Error::new(
            ErrorKind::Index,
            "linalg.vector_norm cannot compute the inf norm on an empty tensor because the \
             operation does not have an identity",
        ));
    }
    let v: Vec<f64> = run_wide(&g, Norm(p))?
        .into_iter()
        .map(|a| if p == NormP::Two { a.sqrt() } else { a })
        .collect();
    cast_vec(v, x.dtype(), &g.out_shape)
}

/// `x.any(dims, keepdim)`: bool, or uint8 for a uint8 input (as PyTorch).
pub fn any(x: &TensorImpl, dims: Option<&[isize]>, keepdim: bool) -> Result<TensorImpl> {
    any_all(x, dims, keepdim, false)
}

/// `x.all(dims, keepdim)`.
pub fn all(x: &TensorImpl, dims: Option<&[isize]>, keepdim: bool) -> Result<TensorImpl> {
    any_all(x, dims, keepdim, true)
}

fn any_all(x: &TensorImpl, dims: Option<&[isize]>, keepdim: bool, all: bool) -> Result<TensorImpl> {
    let g = geometry(x, dims, keepdim)?;
    let v = run_reducer(&g, &AnyAll { all })?;
    let out = if x.dtype() == DType::U8 {
        DType::U8
    } else {
        DType::Bool
    };
    cast_vec(v, out, &g.out_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaf sums merged by a hash that sees order and grouping, so two
    /// trees agree only when they have the same shape over the same leaves.
    struct Shape;
    impl Reducer for Shape {
        type In = i64;
        type Acc = u64;
        fn init(&self) -> u64 {
            0
        }
        fn feed(&self, acc: u64, x: i64, _: usize) -> u64 {
            acc.wrapping_add(x as u64)
        }
        fn merge(&self, a: u64, b: u64) -> u64 {
            a.wrapping_mul(1_000_003).wrapping_add(b).rotate_left(7) ^ 0x9e37
        }
    }

    /// The recursive tree that `split_point` describes.
    fn recursive(xs: &[i64]) -> u64 {
        if xs.len() <= BLOCK {
            return Shape.leaf(pulp::Scalar::new(), xs, 0);
        }
        let (l, r) = xs.split_at(split_point(xs.len(), BLOCK));
        Shape.merge(recursive(l), recursive(r))
    }

    #[test]
    fn one_pass_walk_builds_the_split_point_tree() {
        let xs: Vec<i64> = (0..70 * BLOCK as i64).map(|i| i * 7 % 1009).collect();
        for leaves in 1..=70 {
            for cut in [0, 1, BLOCK / 2, BLOCK - 1] {
                let n = leaves * BLOCK - cut;
                assert_eq!(
                    tree(Isa::Scalar, &Shape, &xs[..n], 0),
                    recursive(&xs[..n]),
                    "{leaves} leaves, last short by {cut}"
                );
            }
        }
        assert_eq!(tree(Isa::Scalar, &Shape, &xs[..0], 0), 0);
    }

    #[test]
    fn folding_pairs_builds_the_counters_tree() {
        for n in 1..=70u64 {
            let parts: Vec<u64> = (0..n).map(|k| k * 7919 % 1009).collect();
            let mut walk = Pairwise::new(parts[0]);
            for &v in &parts[1..] {
                walk.push(&mut ByReducer(&Shape), v);
            }
            let want = walk.finish(&mut ByReducer(&Shape));
            let mut array = [0; 70];
            array[..parts.len()].copy_from_slice(&parts);
            let got = fold_pairs(&mut array, parts.len(), &mut ByReducer(&Shape));
            assert_eq!(got, want, "{n} parts");
        }
    }

    /// The column tree that `split_point` describes, for one column.
    fn col_recursive(col: &[i64], r0: usize) -> u64 {
        if col.len() <= ROW_BLOCK {
            let mut acc = Shape.init();
            for (k, &x) in col.iter().enumerate() {
                acc = Shape.feed(acc, x, r0 + k);
            }
            return acc;
        }
        let mid = split_point(col.len(), ROW_BLOCK);
        Shape.merge(
            col_recursive(&col[..mid], r0),
            col_recursive(&col[mid..], r0 + mid),
        )
    }

    /// The column walk (its slots reused in every order) builds the same
    /// tree, alone and with its top on three threads.
    #[test]
    fn column_walk_builds_the_split_point_tree() {
        let w = 5;
        let xs: Vec<i64> = (0..(70 * ROW_BLOCK * w) as i64)
            .map(|i| i * 7 % 1009)
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for leaves in 1..=70 {
            for cut in [0, 1, ROW_BLOCK - 1] {
                let rows = leaves * ROW_BLOCK - cut;
                let want: Vec<u64> = (0..w)
                    .map(|c| {
                        let col: Vec<i64> = (0..rows).map(|r| xs[r * w + c]).collect();
                        col_recursive(&col, 0)
                    })
                    .collect();
                for par in [false, true] {
                    let mut got = vec![0; w];
                    pool.install(|| {
                        ColJob {
                            red: &Shape,
                            block: &xs[..rows * w],
                            stride: w,
                            i0: 0,
                            dst: &mut got,
                            rows,
                            par,
                        }
                        .run()
                    });
                    assert_eq!(got, want, "{leaves} leaves, last short by {cut}, par {par}");
                }
            }
        }
    }
}
