//! GEMM: `C = beta * C + alpha * A @ B`, written once over the SIMD type and
//! the element type, in BLIS's structure.
//!
//! - The loops, outermost first: `jc` over column blocks of `NC`, `pc` over
//!   the depth in blocks of `KC` (B's `KC x NC` block is packed here into
//!   `NR`-wide micro-panels, in parallel), then the row blocks of A, one
//!   rayon task each (A's `MC x KC` block packed into `MR`-tall
//!   micro-panels), then `jr` over B's micro-panels (each stays in L1 while)
//!   `ir` runs over A's, each pair feeding the micro-kernel.
//! - The micro-kernel keeps an `MR x NR` tile of C in registers (`NR` is
//!   `NV` vectors): 8 x 2 vectors on AVX-512, 6 x 2 on AVX2, 8 x 3 on NEON,
//!   4 x 4 lanes on the portable path. Every tile is computed whole from
//!   zero-padded panels; at the edges only the write-back is cut to the
//!   valid rows and columns.
//! - Any strides: packing reads A and B through their strides, so
//!   transposed and sliced operands need no copy first; a C with unit row
//!   stride is computed as `C^T = B^T A^T`.
//! - Threads split C by rows only and never split the depth, so every
//!   element of C sees the same operations in the same order for any
//!   thread count: results are bitwise identical.
//! - Small products (`m * n * k` up to [`SMALL`]) run on the calling thread
//!   with scratch buffers reused from the thread, so they allocate nothing.
//! - A bf16 C gets f32 accumulators, and each row block is rounded into C
//!   by the thread that computed it, right after its last depth block
//!   (the crate's `Epilogue`). With beta zero and the depth in one packed
//!   block the accumulators are a scratch block of that thread
//!   (`run_blocks`), not an f32 copy of all of C.

mod amx;
mod bf16;
mod elem;
mod pack;

pub use amx::amx_available;
pub use bf16::{bf16_path, dot_bf16_available, gemm_bf16, gemm_bf16_out, gemm_f16_out};
pub use elem::GemmElem;

use crate::isa::{Isa, Job, dispatch_with, isa};
use crate::simd::{Vf32, prefetch};
use ft_core::{Error, ErrorKind, Result};
use pack::{APanels, pack_a, pack_a_panels, pack_b, with_scratch};

/// Depth of a packed block, in packed steps (elements; bf16 pairs).
const KC: usize = 512;
/// Rows of A per packed block (rounded down to a multiple of `MR`).
const MC: usize = 144;
/// Columns of B per packed block.
const NC: usize = 4096;
/// Products of at most this many multiply-adds run on one thread.
pub const SMALL: usize = 96 * 96 * 96;

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// Checks that every element lies inside `data`.
    pub fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        check_extent(data.len(), rows, cols, rs, cs)?;
        Ok(MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The transpose, as a view.
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> &T {
        &self.data[i * self.rs + j * self.cs]
    }
}

/// A strided matrix to write; no two elements may share memory.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> MatMut<'a, T> {
    /// Checks that every element lies inside `data` and that no two
    /// elements alias.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        check_extent(data.len(), rows, cols, rs, cs)?;
        if rows > 1 && cols > 1 && !(rs >= cols * cs || cs >= rows * rs)
            || rows > 1 && rs == 0
            || cols > 1 && cs == 0
        {
            return Err(Error::new(
                ErrorKind::Value,
                "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.",
            ));
        }
        Ok(MatMut {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }
}

fn check_extent(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    match last {
        Some(l) if l < len => Ok(()),
        _ => Err(Error::new(
            ErrorKind::Value,
            format!(
                "a {rows}x{cols} matrix with strides ({rs}, {cs}) does not fit in {len} elements"
            ),
        )),
    }
}

/// How C's old value enters the result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Beta<T> {
    /// `C = alpha * AB`: C is never read (NaN in it does not propagate).
    Zero,
    /// `C += alpha * AB`.
    One,
    /// `C = beta * C + alpha * AB`.
    Other(T),
}

impl<T: GemmElem> Beta<T> {
    /// The case `beta` falls in.
    pub(crate) fn of(beta: T) -> Self {
        if beta == T::ZERO {
            Beta::Zero
        } else if beta == T::ONE {
            Beta::One
        } else {
            Beta::Other(beta)
        }
    }
}

/// A (`m x k`) @ B (`k x n`) fits a C of `rows x cols`, or PyTorch's kind
/// of error naming the three shapes.
pub(crate) fn check_dims<T>(
    a: &MatRef<'_, T>,
    b: &MatRef<'_, T>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    if a.cols != b.rows || a.rows != rows || b.cols != cols {
        return Err(Error::new(
            ErrorKind::Shape,
            format!(
                "gemm: A is {}x{}, B is {}x{}, C is {}x{}",
                a.rows, a.cols, b.rows, b.cols, rows, cols
            ),
        ));
    }
    Ok(())
}

/// What happens to each row block of C once its last depth block is in:
/// nothing ([`Done`]: the accumulators are the result), or a copy into
/// the output the caller asked for, as the bf16 product rounds its f32
/// accumulators ([`bf16::IntoHalf`]). It runs on the thread that
/// computed the block, right after it, while the block's rows are still
/// in that core's caches, instead of in a pass of its own over all of C.
pub(crate) trait Epilogue<T>: Sync {
    /// The output rows of one row block, handed to the thread computing it.
    type Rows<'a>: Send
    where
        Self: 'a;
    /// The output cut into `blocks` blocks of `rows` rows (the last may
    /// be shorter), first to last.
    fn split(&mut self, rows: usize, blocks: usize) -> Vec<Self::Rows<'_>>;
    /// Columns `jc..jc + nc` of C from `m` rows of accumulators (`acc`,
    /// rows `ldc` apart from the block's first row, column `jc` at
    /// `acc_col0` in each) into `out`.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        out: &mut Self::Rows<'_>,
        acc: &[T],
        ldc: usize,
        acc_col0: usize,
        m: usize,
        jc: usize,
        nc: usize,
    );
}

/// The accumulators are the result.
pub(crate) struct Done;

impl<T> Epilogue<T> for Done {
    type Rows<'a> = ();
    fn split(&mut self, _rows: usize, blocks: usize) -> Vec<()> {
        // A `Vec` of `()` allocates nothing.
        vec![(); blocks]
    }
    #[inline(always)]
    fn finish(_: &mut (), _: &[T], _: usize, _: usize, _: usize, _: usize, _: usize) {}
}

/// `C = beta * C + alpha * A @ B`. `A` is `m x k`, `B` is `k x n`, `C` is
/// `m x n`. When `beta` is zero C is only written, as in BLAS and PyTorch.
/// `parallel` lets the product use the rayon pool it is called from.
///
/// ```
/// use ft_kernels::gemm::{gemm, MatMut, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [5.0f32, 6.0, 7.0, 8.0];
/// let mut c = [0.0f32; 4];
/// gemm(
///     1.0,
///     MatRef::new(&a, 2, 2, 2, 1)?,
///     MatRef::new(&b, 2, 2, 2, 1)?,
///     0.0,
///     MatMut::new(&mut c, 2, 2, 2, 1)?,
///     true,
/// )?;
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn gemm<T: GemmElem>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    parallel: bool,
) -> Result<()> {
    drive::<Plain<T>>(alpha, a, b, beta, c, parallel, isa())
}

/// Checks the shapes and brings C to unit column stride (directly, by
/// computing `C^T = B^T A^T`, or through a contiguous copy) for [`run_with`].
pub(crate) fn drive<F: Family>(
    alpha: F::T,
    a: MatRef<'_, F::In>,
    b: MatRef<'_, F::In>,
    beta: F::T,
    c: MatMut<'_, F::T>,
    parallel: bool,
    isa: Isa,
) -> Result<()> {
    check_dims(&a, &b, c.rows, c.cols)?;
    let zero = <F::T as GemmElem>::ZERO;
    let beta = Beta::of(beta);
    let (m, n) = (c.rows, c.cols);
    if m == 0 || n == 0 {
        return Ok(());
    }
    // C with unit column stride (or one column): rows are contiguous runs.
    if c.cs == 1 || n == 1 {
        let ldc = if m == 1 { n } else { c.rs };
        return run_with::<F, _>(alpha, a, b, beta, c.data, ldc, parallel, isa, &mut Done);
    }
    // Unit row stride: C^T = B^T A^T has contiguous rows.
    if c.rs == 1 || m == 1 {
        let ldc = if n == 1 { m } else { c.cs };
        return run_with::<F, _>(
            alpha,
            b.t(),
            a.t(),
            beta,
            c.data,
            ldc,
            parallel,
            isa,
            &mut Done,
        );
    }
    // Neither: compute into a contiguous copy and scatter it back.
    let mut tmp = vec![zero; m * n];
    if beta != Beta::Zero {
        for i in 0..m {
            for j in 0..n {
                tmp[i * n + j] = c.data[i * c.rs + j * c.cs];
            }
        }
    }
    run_with::<F, _>(alpha, a, b, beta, &mut tmp, n, parallel, isa, &mut Done)?;
    for i in 0..m {
        for j in 0..n {
            c.data[i * c.rs + j * c.cs] = tmp[i * n + j];
        }
    }
    Ok(())
}

/// The register tile for an ISA and element size: `(MR, NV, lanes)`.
fn tile(isa: Isa, elem_bytes: usize) -> (usize, usize, usize) {
    let vec_bytes = match isa {
        Isa::Avx512 => 64,
        Isa::Avx2 => 32,
        Isa::Neon => 16,
        Isa::Scalar => elem_bytes,
    };
    let (mr, nv) = tile_of_vec(vec_bytes, elem_bytes);
    (mr, nv, vec_bytes / elem_bytes)
}

/// `(MR, NV)` for a vector of `vec_bytes`. One table for the packing code
/// (which knows the ISA) and the micro-kernel (which knows the vector type).
const fn tile_of_vec(vec_bytes: usize, elem_bytes: usize) -> (usize, usize) {
    if vec_bytes == elem_bytes {
        return (4, 4);
    }
    match vec_bytes {
        64 => (8, 2),
        32 => (6, 2),
        _ => (8, 3),
    }
}

/// How one kind of product packs its operands and computes a tile: the
/// float GEMM over `T` ([`Plain`]), 16-bit floats widened while packing
/// ([`bf16::Widen`]), bf16 pairs on AVX-512 BF16 ([`bf16::Bf16Dot`]) or on
/// AMX tiles ([`amx::Bf16Amx`]). The blocking, threading and write-back around it
/// are shared ([`run_with`]).
pub(crate) trait Family {
    /// The element of A and B.
    type In: Sync;
    /// The element of the packed panels.
    type P: bytemuck::Pod + Send + Sync;
    /// The element of the accumulators and of C.
    type T: GemmElem;
    /// `(MR, NR, k per packed step)` on `isa`.
    fn tile(isa: Isa) -> (usize, usize, usize);
    /// Packed steps in a `kc`-deep panel: `kc` over the step's depth,
    /// rounded up, unless the micro-kernel takes steps in groups (AMX
    /// tiles: 16 pairs), whose last one packing pads with zeros.
    fn packed_steps(isa: Isa, kc: usize) -> usize {
        kc.div_ceil(Self::tile(isa).2)
    }
    /// A's rows `i0..i0+mc`, depth `pc..pc+kc`, into panels of `MR` rows.
    #[allow(clippy::too_many_arguments)]
    fn pack_a(
        a: &MatRef<'_, Self::In>,
        i0: usize,
        mc: usize,
        pc: usize,
        kc: usize,
        mr: usize,
        out: &mut [Self::P],
    );
    /// B's depth `pc..pc+kc`, columns `jc..jc+nc`, into panels of `NR`.
    #[allow(clippy::too_many_arguments)]
    fn pack_b(
        b: &MatRef<'_, Self::In>,
        pc: usize,
        kc: usize,
        jc: usize,
        nc: usize,
        nr: usize,
        out: &mut [Self::P],
        parallel: bool,
    );
    /// Every tile of one row block against one packed B block.
    fn macro_kernel(isa: Isa, job: Macro<'_, Self::P, Self::T>);
    /// Computes a small single-threaded product without packing, if this
    /// family has such a path and the operands suit it; `false` if not.
    #[allow(clippy::too_many_arguments)]
    fn direct(
        _alpha: Self::T,
        _a: &MatRef<'_, Self::In>,
        _b: &MatRef<'_, Self::In>,
        _beta: Beta<Self::T>,
        _c: &mut [Self::T],
        _ldc: usize,
        _isa: Isa,
    ) -> bool {
        false
    }
}

/// The float GEMM: A, B, the panels and C all of `T`.
pub(crate) struct Plain<T>(std::marker::PhantomData<T>);

impl<T: GemmElem> Family for Plain<T> {
    type In = T;
    type P = T;
    type T = T;
    fn tile(isa: Isa) -> (usize, usize, usize) {
        let (mr, nv, lanes) = tile(isa, std::mem::size_of::<T>());
        (mr, nv * lanes, 1)
    }
    fn pack_a(
        a: &MatRef<'_, T>,
        i0: usize,
        mc: usize,
        pc: usize,
        kc: usize,
        mr: usize,
        out: &mut [T],
    ) {
        pack_a_panels(a, i0, mc, pc, kc, mr, out)
    }
    fn pack_b(
        b: &MatRef<'_, T>,
        pc: usize,
        kc: usize,
        jc: usize,
        nc: usize,
        nr: usize,
        out: &mut [T],
        parallel: bool,
    ) {
        pack_b(b, pc, kc, jc, nc, nr, out, parallel)
    }
    fn macro_kernel(isa: Isa, job: Macro<'_, T, T>) {
        dispatch_with(isa, job)
    }
    fn direct(
        alpha: T,
        a: &MatRef<'_, T>,
        b: &MatRef<'_, T>,
        beta: Beta<T>,
        c: &mut [T],
        ldc: usize,
        isa: Isa,
    ) -> bool {
        let (m, n, k) = (a.rows, b.cols, a.cols);
        if k > DIRECT_K
            || m * n * k > tune::or(&tune::DIRECT, DIRECT)
            || b.cs != 1
            || (n > 1 && b.rs < n)
        {
            return false;
        }
        let job = Direct {
            alpha,
            a,
            b,
            beta,
            c,
            ldc,
        };
        dispatch_with(isa, job);
        true
    }
}

/// Products of at most this many multiply-adds, with depth at most
/// [`DIRECT_K`] and B's rows contiguous, skip packing.
pub const DIRECT: usize = SMALL;
/// The deepest product the unpacked path takes.
pub const DIRECT_K: usize = 256;

/// A product without packing: A's elements broadcast straight from its
/// rows, B's rows loaded as vectors in place; only a right-edge strip of B
/// narrower than a tile is copied (into a zero-padded panel).
struct Direct<'a, 'b, T> {
    alpha: T,
    a: &'a MatRef<'b, T>,
    b: &'a MatRef<'b, T>,
    beta: Beta<T>,
    c: &'a mut [T],
    ldc: usize,
}

impl<T: GemmElem> Job for Direct<'_, '_, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        let (mr, nv) = tile_of_vec(std::mem::size_of::<T::V<S>>(), std::mem::size_of::<T>());
        match (mr, nv) {
            (8, 2) => direct_kernel::<T, S, 8, 2>(s, self),
            (6, 2) => direct_kernel::<T, S, 6, 2>(s, self),
            (8, 3) => direct_kernel::<T, S, 8, 3>(s, self),
            _ => direct_kernel::<T, S, 4, 4>(s, self),
        }
    }
}

#[inline(always)]
fn direct_kernel<T: GemmElem, S: Vf32, const MR: usize, const NV: usize>(
    s: S,
    j: Direct<'_, '_, T>,
) {
    let (a, b) = (j.a, j.b);
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let lanes = std::mem::size_of::<T::V<S>>() / std::mem::size_of::<T>();
    let nr = NV * lanes;
    let mut edge: Vec<T> = Vec::new();
    for j0 in (0..n).step_by(nr) {
        let cols = nr.min(n - j0);
        // The B operand of this strip: B itself (rows `rs` apart from
        // column j0), or a zero-padded copy of a strip narrower than a tile.
        let (bsrc, brs): (&[T], usize) = if cols == nr {
            (&b.data[j0..], b.rs)
        } else {
            edge.clear();
            edge.resize(k * nr, T::ZERO);
            pack_b(b, 0, k, j0, cols, nr, &mut edge, false);
            (&edge, nr)
        };
        // Every B row read below, `p * brs .. p * brs + nr` for p < k, lies
        // in `bsrc`: B's extent was checked when it was made (its last
        // element, row k-1 column n-1, is in `data`) and j0 + nr <= n; the
        // edge copy holds k rows of nr.
        if k > 0 && (k - 1) * brs + nr > bsrc.len() {
            return;
        }
        for i0 in (0..m).step_by(MR) {
            let rows = MR.min(m - i0);
            // Rows past the end repeat the last one; their results are dropped.
            let starts: [usize; MR] = std::array::from_fn(|i| (i0 + i).min(m - 1) * a.rs);
            // Every A element read, `start + p * cs` for p < k, is an
            // element of A (its extent was checked when it was made).
            let acc = micro_direct::<T, S, MR, NV>(s, k, a.data, starts, a.cs, bsrc, brs);
            write_tile::<T, S>(
                s,
                bytemuck::cast_slice(acc.as_flattened()),
                nr,
                &mut j.c[i0 * j.ldc + j0..],
                j.ldc,
                rows,
                cols,
                j.alpha,
                j.beta,
            );
        }
    }
}

/// [`micro`] reading A and B in place: A's row `i` from `a[starts[i]]`,
/// `a_cs` apart along k; B's row `p` as NV vectors from `b[p * b_rs]`.
/// Checks the extents once, not per element (an out-of-range call returns
/// zeros rather than reading outside the slices).
#[inline(always)]
fn micro_direct<T: GemmElem, S: Vf32, const MR: usize, const NV: usize>(
    s: S,
    k: usize,
    a: &[T],
    starts: [usize; MR],
    a_cs: usize,
    b: &[T],
    b_rs: usize,
) -> [[T::V<S>; NV]; MR] {
    let mut acc = [[T::splat(s, T::ZERO); NV]; MR];
    let lanes = std::mem::size_of::<T::V<S>>() / std::mem::size_of::<T>();
    let a_ok = starts
        .iter()
        .all(|&st| k == 0 || st + (k - 1) * a_cs < a.len());
    let b_ok = k == 0 || (k - 1) * b_rs + NV * lanes <= b.len();
    if !(a_ok && b_ok) {
        return acc;
    }
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    for p in 0..k {
        // SAFETY: p < k, and the checks above put `p * b_rs + NV * lanes`
        // within `b` and `starts[i] + p * a_cs` within `a`; the vectors are
        // plain data (Pod), read unaligned.
        let bk: [T::V<S>; NV] =
            unsafe { bp.add(p * b_rs).cast::<[T::V<S>; NV]>().read_unaligned() };
        for i in 0..MR {
            // SAFETY: as above, for A.
            let ai = T::splat(s, unsafe { *ap.add(starts[i] + p * a_cs) });
            for jv in 0..NV {
                acc[i][jv] = T::mul_add(s, ai, bk[jv], acc[i][jv]);
            }
        }
    }
    acc
}

impl<I: pack::Lift<T> + 'static, T: GemmElem> Job for APanels<'_, '_, I, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        pack_a(
            s, self.a, self.i0, self.mc, self.pc, self.kc, self.mr, self.out,
        )
    }
}

/// The product into C, row-major (`ldc` apart, unit column stride) from
/// `c[0]`, then `epi` over each row block of C (see [`Epilogue`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_with<F: Family, E: Epilogue<F::T>>(
    alpha: F::T,
    a: MatRef<'_, F::In>,
    b: MatRef<'_, F::In>,
    beta: Beta<F::T>,
    c: &mut [F::T],
    ldc: usize,
    parallel: bool,
    isa: Isa,
    epi: &mut E,
) -> Result<()> {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let unblocked = |c: &[F::T], epi: &mut E| {
        if let Some(out) = epi.split(m, 1).first_mut() {
            E::finish(out, c, ldc, 0, m, 0, n);
        }
    };
    if k == 0 {
        scale_c(c, ldc, m, n, beta);
        unblocked(c, epi);
        return Ok(());
    }
    let threads = product_threads(parallel, m * n * k);
    if threads == 1 && F::direct(alpha, &a, &b, beta, c, ldc, isa) {
        unblocked(c, epi);
        return Ok(());
    }
    let p = Product {
        alpha,
        a,
        b,
        beta,
        c: Some(c),
        ldc,
    };
    blocked_on::<F, E>(p, threads, isa, epi);
    Ok(())
}

/// The threads a product of `macs` multiply-adds runs on: the pool's when
/// `parallel` and it is above [`SMALL`], else the calling thread alone.
fn product_threads(parallel: bool, macs: usize) -> usize {
    if parallel && macs > SMALL {
        rayon::current_num_threads()
    } else {
        1
    }
}

/// [`blocked`] on `threads` threads: inside a parallel region when more
/// than one.
fn blocked_on<F: Family, E: Epilogue<F::T>>(
    p: Product<'_, F>,
    threads: usize,
    isa: Isa,
    epi: &mut E,
) {
    if threads > 1 {
        crate::par::region(|| blocked::<F, E>(p, threads, isa, epi));
    } else {
        blocked::<F, E>(p, threads, isa, epi);
    }
}

/// `C = beta * C + alpha * A @ B` as [`run_with`] hands it to [`blocked`]: C
/// row-major from `c[0]`, rows `ldc` apart.
struct Product<'a, F: Family> {
    alpha: F::T,
    a: MatRef<'a, F::In>,
    b: MatRef<'a, F::In>,
    beta: Beta<F::T>,
    /// C, or `None`: no C, each row block's accumulators in a scratch
    /// block of the thread computing it, handed to the epilogue (one depth
    /// block only, and beta zero: see [`run_blocks`]).
    c: Option<&'a mut [F::T]>,
    ldc: usize,
}

/// `alpha * A @ B` with no C: each row block of accumulators lives in a
/// scratch block (`MC x NC` at most) of the thread that computes it, and
/// goes to `epi` from there. The bf16 product takes this when it would
/// otherwise need an f32 copy of all of C. `false` (nothing done) when the
/// depth is zero or more than one packed block (accumulators must then
/// outlive a block: the caller needs a C).
pub(crate) fn run_blocks<F: Family, E: Epilogue<F::T>>(
    alpha: F::T,
    a: MatRef<'_, F::In>,
    b: MatRef<'_, F::In>,
    parallel: bool,
    isa: Isa,
    epi: &mut E,
) -> bool {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if k == 0 || k > tuning().0 * F::tile(isa).2 {
        return false;
    }
    if m == 0 || n == 0 {
        return true;
    }
    let p = Product {
        alpha,
        a,
        b,
        beta: Beta::Zero,
        c: None,
        ldc: 0,
    };
    blocked_on::<F, E>(p, product_threads(parallel, m * n * k), isa, epi);
    true
}

/// [`run_with`]'s packed, blocked product on `threads` threads (`k > 0`).
fn blocked<F: Family, E: Epilogue<F::T>>(p: Product<'_, F>, threads: usize, isa: Isa, epi: &mut E) {
    let Product {
        alpha,
        a,
        b,
        beta,
        mut c,
        ldc,
    } = p;
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let (kc_max, mc_blk, nc_max) = tuning();
    let (mr, nr, kstep) = F::tile(isa);
    // KC counts packed depth steps, so a packed panel has the same bytes in
    // every family (a bf16 pair is as wide as an f32): 1024-deep bf16
    // blocks are one pass, with no second read-modify-write of C.
    let kc_max = kc_max * kstep;
    // Row blocks: a multiple of MR, at most MC, and a whole number per
    // thread where the rows allow it.
    let mc_max = (mc_blk / mr).max(1) * mr;
    let blocks = m.div_ceil(mc_max).div_ceil(threads) * threads;
    let mc = m.div_ceil(blocks).div_ceil(mr) * mr;
    let row_blocks = m.div_ceil(mc);
    debug_assert!(c.is_some() || (k <= kc_max && beta == Beta::Zero));
    for jc in (0..n).step_by(nc_max) {
        let nc = nc_max.min(n - jc);
        let b_panels = nc.div_ceil(nr);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            let kp = F::packed_steps(isa, kc);
            let beta = if pc == 0 { beta } else { Beta::One };
            let last = pc + kc == k;
            with_scratch::<F::P, _>(&pack::B_SCRATCH, b_panels * kp * nr, |bp| {
                F::pack_b(&b, pc, kc, jc, nc, nr, bp, threads > 1);
                let bp: &[F::P] = bp;
                // Row block `ib` into `acc` (its first row, rows `ld`
                // apart, column `jc` at `col0`), then to the epilogue.
                let tiles = |ib: usize,
                             acc: &mut [F::T],
                             ld: usize,
                             col0: usize,
                             out: &mut E::Rows<'_>| {
                    let i0 = ib * mc;
                    let mcur = mc.min(m - i0);
                    with_scratch::<F::P, _>(&pack::A_SCRATCH, mcur.div_ceil(mr) * kp * mr, |ap| {
                        F::pack_a(&a, i0, mcur, pc, kc, mr, ap);
                        let job = Macro {
                            a: ap,
                            b: bp,
                            c: acc,
                            ldc: ld,
                            col0,
                            m: mcur,
                            n: nc,
                            kp,
                            alpha,
                            beta,
                        };
                        F::macro_kernel(isa, job);
                    });
                    if last {
                        E::finish(out, acc, ld, col0, mcur, jc, nc);
                    }
                };
                let block = |ib: usize, rows: Option<&mut [F::T]>, out: &mut E::Rows<'_>| match rows
                {
                    Some(rows) => tiles(ib, rows, ldc, jc, out),
                    None => {
                        let mcur = mc.min(m - ib * mc);
                        with_scratch::<F::T, _>(&pack::ACC_SCRATCH, mcur * nc, |acc| {
                            tiles(ib, acc, nc, 0, out)
                        })
                    }
                };
                // Rows of C for each block (the last may be short of
                // `ldc`), or `None` for each block without a C.
                let rows = c
                    .as_deref_mut()
                    .map(|c| c[..(m - 1) * ldc + n].chunks_mut(mc * ldc))
                    .into_iter()
                    .flatten()
                    .map(Some)
                    .chain(std::iter::repeat_with(|| None))
                    .take(row_blocks);
                let outs = epi.split(mc, row_blocks);
                debug_assert_eq!(outs.len(), row_blocks);
                if threads > 1 {
                    // An uncontended lock per block hands its rows to
                    // whichever thread claims it (each is claimed once).
                    let parts: Vec<_> = rows.zip(outs).map(std::sync::Mutex::new).collect();
                    crate::par::parts(parts.len(), |ib| {
                        let mut part = parts[ib].lock().unwrap_or_else(|e| e.into_inner());
                        let (rows, out) = &mut *part;
                        block(ib, rows.as_deref_mut(), out)
                    });
                } else {
                    for (ib, (rows, mut out)) in rows.zip(outs).enumerate() {
                        block(ib, rows, &mut out);
                    }
                }
            });
        }
    }
}

/// The block sizes: those set by [`tune::set_blocks`], else `FT_GEMM_KC`,
/// `FT_GEMM_MC`, `FT_GEMM_NC` when set (read once), else [`KC`], [`MC`],
/// [`NC`].
fn tuning() -> (usize, usize, usize) {
    let (kc, mc, nc) = tuning_env();
    (
        tune::or(&tune::KC, kc),
        tune::or(&tune::MC, mc),
        tune::or(&tune::NC, nc),
    )
}

/// Hooks for experiments in one process (`bench/examples/gemm_probe.rs`
/// times configurations in turn): not a stable API.
#[doc(hidden)]
pub mod tune {
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
    pub(super) static KC: AtomicUsize = AtomicUsize::new(0);
    pub(super) static MC: AtomicUsize = AtomicUsize::new(0);
    pub(super) static NC: AtomicUsize = AtomicUsize::new(0);
    pub(super) static SKEW: AtomicUsize = AtomicUsize::new(0);
    pub(super) static DIRECT: AtomicUsize = AtomicUsize::new(0);
    /// [`set_bf16_path`]'s choice, as its index in [`Bf16Path::ALL`].
    static BF16_PATH: AtomicU8 = AtomicU8::new(0);

    /// How bf16 products run. Which path is fastest depends on the
    /// processor, not only on its instructions (`gemm/bf16.rs`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Bf16Path {
        /// The processor decides (the default): AMX tiles where it has
        /// them, else AVX-512 BF16 dot products on processors other than
        /// Intel's, else widened.
        Auto,
        /// Both operands widened to f32 while packing; the f32
        /// micro-kernel (every processor).
        Widen,
        /// AVX-512 BF16 dot products (`vdpbf16ps`).
        Dot,
        /// AMX tiles (`tdpbf16ps`).
        Amx,
        /// The AMX path's packing and tile program on software tiles, one
        /// multiply-add at a time, as Intel's manual defines the tile
        /// instructions: slow, for testing that path on any processor.
        AmxEmulated,
    }

    impl Bf16Path {
        const ALL: [Bf16Path; 5] = [
            Bf16Path::Auto,
            Bf16Path::Widen,
            Bf16Path::Dot,
            Bf16Path::Amx,
            Bf16Path::AmxEmulated,
        ];

        /// Whether this processor, on the active ISA, can run the path.
        pub fn is_available(self) -> bool {
            match self {
                Bf16Path::Dot => super::dot_bf16_available(),
                Bf16Path::Amx => super::amx_available(),
                _ => true,
            }
        }
    }

    /// Every path but `Auto` that this processor can run on the active
    /// ISA (tests run each).
    pub fn bf16_paths() -> Vec<Bf16Path> {
        Bf16Path::ALL[1..]
            .iter()
            .copied()
            .filter(|p| p.is_available())
            .collect()
    }

    /// bf16 products on `path` from now on, in this process; a path the
    /// processor cannot run (see [`Bf16Path::is_available`]) means `Auto`.
    pub fn set_bf16_path(path: Bf16Path) {
        let i = Bf16Path::ALL.iter().position(|&p| p == path).unwrap_or(0);
        BF16_PATH.store(i as u8, Relaxed);
    }

    /// The path [`set_bf16_path`] last chose.
    pub(super) fn chosen_bf16_path() -> Bf16Path {
        Bf16Path::ALL
            .get(BF16_PATH.load(Relaxed) as usize)
            .copied()
            .unwrap_or(Bf16Path::Auto)
    }

    /// A hook's value, or `default` while it is 0 (not set).
    pub(super) fn or(hook: &AtomicUsize, default: usize) -> usize {
        match hook.load(Relaxed) {
            0 => default,
            v => v,
        }
    }

    /// The most multiply-adds a one-thread product may have to skip
    /// packing (0: [`super::DIRECT`]).
    pub fn set_direct_limit(macs: usize) {
        DIRECT.store(macs, Relaxed);
    }

    /// Block sizes for the next products; 0 keeps the default (or the
    /// `FT_GEMM_*` variable).
    pub fn set_blocks(kc: usize, mc: usize, nc: usize) {
        KC.store(kc, Relaxed);
        MC.store(mc, Relaxed);
        NC.store(nc, Relaxed);
    }

    /// Starts the packed panels `words` 8-byte words past a cache line
    /// (0, the default: on the line), to measure what alignment is worth.
    pub fn set_panel_skew(words: usize) {
        SKEW.store(words % 8, Relaxed);
    }
}

fn tuning_env() -> (usize, usize, usize) {
    static T: std::sync::OnceLock<(usize, usize, usize)> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        let g = |n: &str, d: usize| {
            std::env::var(n)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&v: &usize| v > 0)
                .unwrap_or(d)
        };
        (
            g("FT_GEMM_KC", KC),
            g("FT_GEMM_MC", MC),
            g("FT_GEMM_NC", NC),
        )
    })
}

/// `C = beta * C` (k = 0: the product is empty).
fn scale_c<T: GemmElem>(c: &mut [T], ldc: usize, m: usize, n: usize, beta: Beta<T>) {
    for i in 0..m {
        let row = &mut c[i * ldc..i * ldc + n];
        match beta {
            Beta::Zero => row.fill(T::ZERO),
            Beta::One => {}
            Beta::Other(b) => row.iter_mut().for_each(|x| *x = b * *x),
        }
    }
}

/// One row block against one packed B block: the `jr`/`ir` loops.
pub(crate) struct Macro<'a, P, T> {
    /// Packed A: `ceil(m / MR)` panels of `kp x MR`.
    pub(crate) a: &'a [P],
    /// Packed B: `ceil(n / NR)` panels of `kp x NR`.
    pub(crate) b: &'a [P],
    /// C from the block's first row, row `i` at `c[i * ldc ..]`.
    pub(crate) c: &'a mut [T],
    pub(crate) ldc: usize,
    pub(crate) col0: usize,
    pub(crate) m: usize,
    pub(crate) n: usize,
    /// Packed depth steps per panel.
    pub(crate) kp: usize,
    pub(crate) alpha: T,
    pub(crate) beta: Beta<T>,
}

impl<T: GemmElem> Job for Macro<'_, T, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        let (mr, nv) = tile_of_vec(std::mem::size_of::<T::V<S>>(), std::mem::size_of::<T>());
        match (mr, nv) {
            (8, 2) => macro_kernel::<T, S, 8, 2>(s, self),
            (6, 2) => macro_kernel::<T, S, 6, 2>(s, self),
            (8, 3) => macro_kernel::<T, S, 8, 3>(s, self),
            _ => macro_kernel::<T, S, 4, 4>(s, self),
        }
    }
}

#[inline(always)]
fn macro_kernel<T: GemmElem, S: Vf32, const MR: usize, const NV: usize>(s: S, j: Macro<'_, T, T>) {
    let lanes = std::mem::size_of::<T::V<S>>() / std::mem::size_of::<T>();
    tiles(
        j,
        MR,
        NV * lanes,
        |av, bv, c, ldc, rows, cols, alpha, beta| {
            let av: &[[T; MR]] = av.as_chunks::<MR>().0;
            let bv: &[[T::V<S>; NV]] = T::as_simd::<S>(bv).0.as_chunks::<NV>().0;
            let acc = micro::<T, S, MR, NV>(s, av, bv);
            write_tile::<T, S>(
                s,
                bytemuck::cast_slice(acc.as_flattened()),
                NV * lanes,
                c,
                ldc,
                rows,
                cols,
                alpha,
                beta,
            );
        },
    );
}

/// The `jr`/`ir` loops over the panels of a [`Macro`], calling `tile`
/// with each pair of panels, the C corner of the tile and its valid size
/// (C's lines are prefetched first).
#[allow(clippy::type_complexity)]
#[inline(always)]
pub(crate) fn tiles<P, T: GemmElem>(
    j: Macro<'_, P, T>,
    mr: usize,
    nr: usize,
    mut tile: impl FnMut(&[P], &[P], &mut [T], usize, usize, usize, T, Beta<T>),
) {
    let kp = j.kp;
    for (jp, bp) in j.b.chunks_exact(kp * nr).enumerate() {
        let cols = nr.min(j.n - jp * nr);
        for (ip, ap) in j.a.chunks_exact(kp * mr).enumerate() {
            let rows = mr.min(j.m - ip * mr);
            let at = ip * mr * j.ldc + j.col0 + jp * nr;
            // C's tile is needed only after the k loop: start fetching it now.
            for i in 0..rows {
                let row = &j.c[at + i * j.ldc..];
                prefetch(row.as_ptr().cast(), 0);
                prefetch(row[(cols - 1)..].as_ptr().cast(), 0);
            }
            tile(ap, bp, &mut j.c[at..], j.ldc, rows, cols, j.alpha, j.beta);
        }
    }
}

/// The register tile: `sum_p a[p][i] * b[p][j]` for one A and one B
/// micro-panel.
#[inline(always)]
fn micro<T: GemmElem, S: Vf32, const MR: usize, const NV: usize>(
    s: S,
    a: &[[T; MR]],
    b: &[[T::V<S>; NV]],
) -> [[T::V<S>; NV]; MR] {
    let mut acc = [[T::splat(s, T::ZERO); NV]; MR];
    for (ak, bk) in a.iter().zip(b) {
        for i in 0..MR {
            let ai = T::splat(s, ak[i]);
            for j in 0..NV {
                acc[i][j] = T::mul_add(s, ai, bk[j], acc[i][j]);
            }
        }
    }
    acc
}

/// Writes the valid `rows x cols` of a tile to C (`c[0]` is its corner);
/// `acc` holds the tile's rows, `nr` elements each (whole vectors).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn write_tile<T: GemmElem, S: Vf32>(
    s: S,
    acc: &[T],
    nr: usize,
    c: &mut [T],
    ldc: usize,
    rows: usize,
    cols: usize,
    alpha: T,
    beta: Beta<T>,
) {
    let va = T::splat(s, alpha);
    let scaled = |v: T::V<S>| {
        if alpha == T::ONE {
            v
        } else {
            T::vmul(s, va, v)
        }
    };
    for (i, acc_row) in acc.chunks_exact(nr).enumerate().take(rows) {
        let row = &mut c[i * ldc..i * ldc + cols];
        if cols == nr {
            let cv = T::as_mut_simd::<S>(row).0;
            for (d, &v) in cv.iter_mut().zip(T::as_simd::<S>(acc_row).0) {
                *d = match beta {
                    Beta::Zero => scaled(v),
                    Beta::One => T::vadd(s, *d, scaled(v)),
                    Beta::Other(b) => T::vadd(s, T::vmul(s, T::splat(s, b), *d), scaled(v)),
                };
            }
        } else {
            for (d, &v) in row.iter_mut().zip(acc_row) {
                let v = if alpha == T::ONE { v } else { alpha * v };
                *d = match beta {
                    Beta::Zero => v,
                    Beta::One => *d + v,
                    Beta::Other(b) => b * *d + v,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &MatRef<'_, f64>, b: &MatRef<'_, f64>) -> Vec<f64> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                c[i * b.cols + j] = (0..a.cols).map(|p| a.at(i, p) * b.at(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn small_f64_matches_reference() {
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (9, 17, 33), (13, 1, 300)] {
            let a: Vec<f64> = (0..m * k).map(|x| (x % 7) as f64 - 3.0).collect();
            let b: Vec<f64> = (0..k * n).map(|x| (x % 5) as f64 * 0.5).collect();
            let (am, bm) = (
                MatRef::new(&a, m, k, k, 1).unwrap(),
                MatRef::new(&b, k, n, n, 1).unwrap(),
            );
            let mut c = vec![f64::NAN; m * n];
            gemm(
                1.0,
                am,
                bm,
                0.0,
                MatMut::new(&mut c, m, n, n, 1).unwrap(),
                true,
            )
            .unwrap();
            assert_eq!(c, reference(&am, &bm), "{m}x{n}x{k}");
        }
    }

    #[test]
    fn aliasing_output_is_rejected() {
        let mut c = [0.0f32; 4];
        assert!(MatMut::new(&mut c, 2, 2, 1, 1).is_err());
        assert!(MatMut::new(&mut c, 2, 2, 0, 1).is_err());
        assert!(MatMut::new(&mut c, 2, 2, 2, 1).is_ok());
        assert!(MatMut::new(&mut c, 2, 2, 1, 2).is_ok());
        assert!(MatMut::new(&mut c, 2, 3, 3, 1).is_err());
    }
}
