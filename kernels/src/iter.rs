//! The strided loop engine, after PyTorch's TensorIterator.
//!
//! Broadcast the input shapes, give every operand its strides over the
//! broadcast shape (0 where it broadcasts), order the dims fastest first by
//! the operands' strides, coalesce dims that are contiguous in every operand,
//! then walk rows of the fastest dim. Each row goes to the kernel as
//! contiguous slices or broadcast scalars: operands that are strided, of
//! another dtype, or aliased with the output pass through a small stack
//! buffer (gather + convert); an operand that walks across the rows (a
//! transposed view) is gathered tile by tile so both operands' cache lines
//! stay hot. Above `PAR_GRAIN` elements the work is split into one chunk per
//! rayon thread along the outermost large dim.
//!
//! The unsafe code of the crate lives here: raw pointers into storages that
//! the caller keeps borrowed (read guards for inputs, a write guard for the
//! output) for the whole call, and layouts checked to lie inside them.

use crate::convert::{cast_fast, convert_uninit};
use crate::isa::{Job, dispatch};
use crate::map::Src;
use crate::simd::Vf32;
use ft_core::layout::{DimVec, MAX_DIMS, contiguous_strides};
use ft_core::{DType, Element, Error, ErrorKind, Result, TensorImpl, with_dtype};
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};

/// Below this many elements an op runs on the calling thread (PyTorch's
/// grain size).
pub const PAR_GRAIN: usize = 32_768;
/// Elements per buffered piece of a row.
const BUF: usize = 256;
/// Elements in the gathered tile on processors that prefetch it
/// ([`gather_prefetch`]): 32 KiB of f32.
const TILE: usize = 8192;
/// Bytes of the gathered tile elsewhere: 256 KiB (2048 x 32 f32).
const TILE_BYTES: usize = 256 << 10;

/// The gathered tile's extents `(dim 0, dim 1)` for an operand of `size`-byte
/// elements gathered into `in_size`-byte ones. Dim 1 is the gathered
/// operand's unit-stride dim, dim 0 the output's.
///
/// With `prefetch` (AMD): one cache line of the operand per row and
/// [`TILE`] elements, 512 x 16 for f32, the next tile's lines prefetched
/// into L2. Measured on a Zen 5 EPYC (`perf-artifacts/kernels-v7-transposed.md`):
/// at 8192 elements 512 x 16 beat 1024 x 8, 256 x 32, 128 x 64 and 64 x 128;
/// larger tiles were no faster, and without the prefetch it was 25-35% slower.
///
/// Without (Intel and the rest): two lines per row and [`TILE_BYTES`], 2048 x 32
/// for f32, no prefetch of the operand. Measured on the Xeon guest with AMX
/// (family 6 model 0xa7, `perf-artifacts/kernels-v23-transposed-tiles.md`):
/// the prefetched 512 x 16 plan ran `a.t() + b` at 5.0-6.1 / 9.9-13.0 GB/s
/// (1 / 2 threads), this one at 9.5-9.7 / 18.9-20.3. There the rows of
/// `a`, 16 KiB apart, fall in 8 of the L2's 2048 sets, so a 512-line tile
/// prefetched ahead evicts itself (16 ways: 128 such lines fit); longer
/// runs of the other operand and the output matter more than tile size in
/// L1.
fn tile_shape(size: usize, in_size: usize, prefetch: bool) -> (usize, usize) {
    if prefetch {
        let tj = (64 / size).clamp(1, TILE);
        (TILE / tj, tj)
    } else {
        let tj = (128 / size).max(1);
        ((TILE_BYTES / (tj * in_size.max(1))).max(1), tj)
    }
}

/// Whether the tiled walk prefetches its gathered operand (and takes the
/// small tile that goes with it), as a `u8`: 0 not chosen, 1 no, 2 yes.
static GATHER_PREFETCH_NOW: AtomicU8 = AtomicU8::new(0);

/// Sets how the tiled walk of a transposed operand (`a.t() + b`) runs:
/// `Some(true)`, a small tile with the next one's lines prefetched (the
/// default on AMD), `Some(false)`, a large tile left to the hardware
/// prefetchers (the default elsewhere), or `None`, the default: the
/// environment's `FT_GATHER_PREFETCH=1|0` if set, else this processor's
/// ([`crate::cpu::Cpu::gathers_want_prefetch`]). Results do not change:
/// only the order in which tiles are walked.
///
/// ```
/// use ft_kernels::iter::{gather_prefetch, set_gather_prefetch};
/// set_gather_prefetch(Some(false));
/// assert!(!gather_prefetch());
/// set_gather_prefetch(None);
/// # let _ = gather_prefetch();
/// ```
pub fn set_gather_prefetch(on: Option<bool>) {
    let on = crate::ops::reduce::setting(on.map(u8::from), "FT_GATHER_PREFETCH", || {
        u8::from(crate::cpu::cpu().gathers_want_prefetch())
    }) != 0;
    GATHER_PREFETCH_NOW.store(1 + u8::from(on), Ordering::Relaxed);
}

/// Whether the tiled walk prefetches its gathered operand now
/// ([`set_gather_prefetch`]).
pub fn gather_prefetch() -> bool {
    match GATHER_PREFETCH_NOW.load(Ordering::Relaxed) {
        0 => {
            set_gather_prefetch(None);
            gather_prefetch()
        }
        v => v == 2,
    }
}

thread_local! {
    /// The tiled walk's gathered tile, kept by each thread for its next
    /// call (so a repeated `_out` call allocates nothing).
    static TILE_SCRATCH: crate::scratch::Slot = const { Cell::new(Vec::new()) };
}

/// Outputs at least this large are written with streaming stores: they
/// cannot stay in cache for the next op anyway, and skipping the read for
/// ownership of each line saves a third of the memory traffic of `a + b`.
pub const STREAM_BYTES: usize = 32 << 20;

/// An elementwise kernel over contiguous runs: `out[i] = f(ins[0][i], ...)`.
pub trait Kernel<const NIN: usize>: Sync {
    /// The type inputs are converted to before the kernel sees them.
    type In: Element;
    /// The type the kernel writes (converted to the output's dtype after).
    type Out: Element;
    /// `stream`: the output may be written with streaming stores.
    fn run<S: Vf32>(
        &self,
        s: S,
        out: &mut [Self::Out],
        ins: [Src<'_, Self::In>; NIN],
        stream: bool,
    );
}

/// Broadcasts shapes as PyTorch does (right-aligned, size 1 stretches).
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<DimVec<usize>> {
    let nd = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = DimVec::filled(nd, 1usize)?;
    for s in shapes {
        for (i, &d) in s.iter().enumerate() {
            let j = nd - s.len() + i;
            if out[j] == 1 {
                out[j] = d;
            } else if d != 1 && d != out[j] {
                // PyTorch names the first mismatching pair "a" and "b".
                return Err(Error::new(
                    ErrorKind::Shape,
                    format!(
                        "The size of tensor a ({}) must match the size of tensor b ({d}) at \
                         non-singleton dimension {j}",
                        out[j]
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Strides of `t` over the broadcast `shape` (0 on broadcast dims).
fn broadcast_strides(t: &TensorImpl, shape: &[usize]) -> DimVec<isize> {
    let mut st = DimVec::filled(shape.len(), 0isize).expect("same rank as shape");
    let lead = shape.len() - t.ndim();
    for i in 0..t.ndim() {
        if t.shape()[i] != 1 {
            st[lead + i] = t.strides()[i];
        }
    }
    st
}

/// PyTorch's `reorder_dimensions`: a permutation listing dims fastest first,
/// decided by the first operand whose strides disagree; equal strides put
/// the smaller dim first; broadcast dims (stride 0) have no say.
fn reorder(shape: &[usize], strides: &[&[isize]]) -> DimVec<usize> {
    let nd = shape.len();
    // perm[0] is the fastest dim; start from row-major (last dim fastest).
    let mut perm = DimVec::filled(nd, 0usize).expect("rank checked");
    for (i, p) in perm.iter_mut().enumerate() {
        *p = nd - 1 - i;
    }
    let should_swap = |d0: usize, d1: usize| -> i32 {
        for st in strides {
            let (s0, s1) = (st[d0], st[d1]);
            if s0 == 0 || s1 == 0 {
                continue;
            }
            if s0 < s1 {
                return -1;
            } else if s0 > s1 {
                return 1;
            }
            if shape[d0] > shape[d1] {
                return 1;
            }
        }
        0
    };
    for i in 1..nd {
        let mut dim1 = i;
        for dim0 in (0..i).rev() {
            let c = should_swap(perm[dim0], perm[dim1]);
            if c > 0 {
                perm.swap(dim0, dim1);
                dim1 = dim0;
            } else if c < 0 {
                break;
            }
        }
    }
    perm
}

/// The dims whose size passes `keep`, in a caller's buffer (no allocation).
fn dims_where<'a>(
    shape: &[usize],
    keep: impl Fn(usize) -> bool,
    buf: &'a mut [usize; MAX_DIMS],
) -> &'a mut [usize] {
    let mut n = 0;
    for (d, &size) in shape.iter().enumerate() {
        if keep(size) {
            buf[n] = d;
            n += 1;
        }
    }
    &mut buf[..n]
}

/// Whether a layout is dense (covers `numel` consecutive elements without
/// overlap), as PyTorch's `is_non_overlapping_and_dense`.
fn is_dense(shape: &[usize], strides: &[isize]) -> bool {
    let mut buf = [0usize; MAX_DIMS];
    let dims = dims_where(shape, |n| n != 1, &mut buf);
    dims.sort_unstable_by_key(|&d| strides[d]);
    let mut expected = 1isize;
    for &mut d in dims {
        if strides[d] != expected {
            return false;
        }
        expected *= shape[d] as isize;
    }
    true
}

/// Whether no two elements of a layout share memory (sufficient check:
/// sorted by stride, each stride clears the span of the faster dims).
fn is_non_overlapping(shape: &[usize], strides: &[isize]) -> bool {
    let mut buf = [0usize; MAX_DIMS];
    let dims = dims_where(shape, |n| n > 1, &mut buf);
    dims.sort_unstable_by_key(|&d| strides[d].unsigned_abs());
    let mut span = 0usize;
    for &mut d in dims {
        let st = strides[d].unsigned_abs();
        if st == 0 || st <= span {
            return false;
        }
        span += st * (shape[d] - 1);
    }
    true
}

/// The strides PyTorch gives a fresh output of an elementwise op: the
/// inputs' own strides when they all agree and are dense, else row-major
/// order permuted like the inputs (`reorder_dimensions`).
pub fn output_strides<const N: usize>(
    shape: &[usize],
    inputs: &[&TensorImpl; N],
) -> Result<DimVec<isize>> {
    let same = |t: &&TensorImpl| t.shape() == shape;
    if let Some(first) = inputs.first()
        && inputs.iter().all(same)
        && inputs.iter().all(|t| t.strides() == first.strides())
        && is_dense(shape, first.strides())
    {
        return DimVec::from_slice(first.strides());
    }
    if inputs.iter().all(|t| same(t) && t.is_contiguous()) {
        return contiguous_strides(shape);
    }
    let bstrides: [DimVec<isize>; N] = std::array::from_fn(|k| broadcast_strides(inputs[k], shape));
    let refs: [&[isize]; N] = std::array::from_fn(|k| &bstrides[k][..]);
    let perm = reorder(shape, &refs);
    let mut strides = DimVec::filled(shape.len(), 0isize)?;
    let mut acc: isize = 1;
    for &d in perm.iter() {
        strides[d] = acc;
        acc = acc.saturating_mul(shape[d].max(1) as isize);
    }
    Ok(strides)
}

/// PyTorch's overlap classes between a written tensor and one it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overlap {
    No,
    /// Same elements in the same layout: in place.
    Full,
    /// Some memory in common but not the same layout.
    Partial,
}

fn overlap(out: &TensorImpl, input: &TensorImpl) -> Overlap {
    if !out.shares_storage(input) || out.numel() == 0 || input.numel() == 0 {
        return Overlap::No;
    }
    if out.storage_offset() == input.storage_offset()
        && out.shape() == input.shape()
        && out.strides() == input.strides()
    {
        return Overlap::Full;
    }
    let range = |t: &TensorImpl| {
        let (lo, hi) = t.layout().offset_range().ok().flatten().unwrap_or((0, 0));
        (lo, hi)
    };
    let (a0, a1) = range(out);
    let (b0, b1) = range(input);
    if a0 <= b1 && b0 <= a1 {
        Overlap::Partial
    } else {
        Overlap::No
    }
}

const PARTIAL_OVERLAP: &str = "unsupported operation: some elements of the input tensor and \
     the written-to tensor refer to a single memory location. Please clone() the tensor before \
     performing the operation.";
const INTERNAL_OVERLAP: &str = "unsupported operation: more than one element of the \
     written-to tensor refers to a single memory location. Please clone() the tensor before \
     performing the operation.";

/// Checks that `out` may be written while `inputs` are read, as PyTorch
/// does: no element of `out` twice (a 0 stride over a size > 1), and no
/// input that shares memory with it in another layout. Dense overlaps are
/// PyTorch's error; overlaps PyTorch cannot classify are resolved here by
/// reading a copy of that input (never undefined behaviour).
pub fn check_overlap<const N: usize>(
    out: &TensorImpl,
    inputs: &[&TensorImpl; N],
) -> Result<[Option<TensorImpl>; N]> {
    if out
        .shape()
        .iter()
        .zip(out.strides())
        .any(|(&n, &s)| n > 1 && s == 0)
    {
        return Err(Error::new(ErrorKind::Value, INTERNAL_OVERLAP));
    }
    let mut copies: [Option<TensorImpl>; N] = std::array::from_fn(|_| None);
    for (c, t) in copies.iter_mut().zip(inputs) {
        if overlap(out, t) == Overlap::Partial {
            let dense = is_dense(out.shape(), out.strides()) && is_dense(t.shape(), t.strides());
            if dense {
                return Err(Error::new(ErrorKind::Value, PARTIAL_OVERLAP));
            }
            *c = Some(copy_of(t)?);
        }
    }
    Ok(copies)
}

/// A fresh contiguous copy that never shares storage with `t`.
pub(crate) fn copy_of(t: &TensorImpl) -> Result<TensorImpl> {
    with_dtype!(t.dtype(), T => TensorImpl::from_slice(&t.to_vec::<T>()?, t.shape()))
}

/// One operand of a plan.
#[derive(Clone, Copy)]
struct Operand {
    ptr: *mut u8,
    dtype: DType,
    strides: [isize; MAX_DIMS],
    /// The same memory as the output, in the same layout (in place).
    alias: bool,
}

impl Operand {
    /// What a row walk needs of the operand: 24 bytes instead of the whole
    /// stride table (copying that per row stalled store forwarding).
    #[inline(always)]
    fn row(&self) -> RowOp {
        RowOp {
            stride: self.strides[0],
            dtype: self.dtype,
            alias: self.alias,
        }
    }
}

/// An operand as one row sees it: the fastest dim's stride and the dtype.
#[derive(Clone, Copy)]
struct RowOp {
    stride: isize,
    dtype: DType,
    alias: bool,
}

/// The iteration over one output and `NIN` inputs, dims fastest first.
#[derive(Clone, Copy)]
pub struct Plan<const NIN: usize> {
    ndim: usize,
    shape: [usize; MAX_DIMS],
    out: Operand,
    ins: [Operand; NIN],
    /// The output is provably free of self-overlap: chunks may run in
    /// parallel.
    parallel_ok: bool,
    /// The output is large enough for streaming stores (`STREAM_BYTES`).
    stream: bool,
}

// SAFETY: a plan's pointers refer to storages that the creator of the plan
// keeps borrowed (guards) until every job using it has finished; chunks
// given to different threads write disjoint output elements
// (`parallel_ok`), and inputs are only read.
unsafe impl<const NIN: usize> Send for Plan<NIN> {}
// SAFETY: as for `Send`.
unsafe impl<const NIN: usize> Sync for Plan<NIN> {}

/// The address of `t`'s first element, from the base pointer of its
/// storage (the offset lies inside the storage: checked when the tensor was
/// made).
#[inline]
fn first_element(t: &TensorImpl, base: *const u8) -> *mut u8 {
    base.wrapping_add(t.storage_offset() * t.dtype().size()) as *mut u8
}

impl<const NIN: usize> Plan<NIN> {
    /// Builds the iteration. `out_ptr`/`in_ptrs` are the storage base
    /// pointers (offset 0) the caller holds guards for.
    ///
    /// # Safety
    /// Each pointer must be the base of the storage of the corresponding
    /// tensor and stay valid and borrowed (reads for inputs, a write for
    /// the output) until the plan is dropped; `inputs` must broadcast to
    /// `out`'s shape, and no input may overlap `out` except in the same
    /// layout (see [`check_overlap`]).
    pub unsafe fn new(
        out: &TensorImpl,
        out_ptr: *mut u8,
        inputs: [&TensorImpl; NIN],
        in_ptrs: [*const u8; NIN],
    ) -> Result<Self> {
        let shape = out.shape();
        let nd = shape.len();
        let out_st = out.strides();
        let in_st: [DimVec<isize>; NIN] =
            std::array::from_fn(|k| broadcast_strides(inputs[k], shape));
        // Order dims fastest first, the output's strides deciding first.
        let mut all: [&[isize]; MAX_DIMS] = [&[]; MAX_DIMS];
        all[0] = out_st;
        for k in 0..NIN {
            all[k + 1] = &in_st[k][..];
        }
        let perm = reorder(shape, &all[..NIN + 1]);
        let mut pshape = [1usize; MAX_DIMS];
        let mut pout = [0isize; MAX_DIMS];
        let mut pin = [[0isize; MAX_DIMS]; NIN];
        for (i, &d) in perm.iter().enumerate() {
            pshape[i] = shape[d];
            pout[i] = out_st[d];
            for k in 0..NIN {
                pin[k][i] = in_st[k][d];
            }
        }
        // Coalesce dims i and i+1 where every operand steps evenly across.
        let mut n = 0usize;
        for i in 0..nd {
            if n > 0 {
                let prev = n - 1;
                let fits = |st: &[isize; MAX_DIMS], cur: usize| {
                    pshape[prev] == 1
                        || pshape[cur] == 1
                        || st[prev] * pshape[prev] as isize == st[cur]
                };
                if fits(&pout, i) && pin.iter().all(|st| fits(st, i)) {
                    let take_cur = pshape[prev] == 1;
                    if take_cur {
                        pout[prev] = pout[i];
                        for st in pin.iter_mut() {
                            st[prev] = st[i];
                        }
                    }
                    pshape[prev] *= pshape[i];
                    continue;
                }
            }
            pshape[n] = pshape[i];
            pout[n] = pout[i];
            for st in pin.iter_mut() {
                st[n] = st[i];
            }
            n += 1;
        }
        if n == 0 {
            // A 0-dim iteration: one element.
            n = 1;
            pshape[0] = 1;
        }
        let out_op = Operand {
            ptr: first_element(out, out_ptr),
            dtype: out.dtype(),
            strides: pout,
            alias: false,
        };
        let ins = std::array::from_fn(|k| Operand {
            ptr: first_element(inputs[k], in_ptrs[k]),
            dtype: inputs[k].dtype(),
            strides: pin[k],
            alias: overlap(out, inputs[k]) == Overlap::Full,
        });
        Ok(Plan {
            ndim: n,
            shape: pshape,
            out: out_op,
            ins,
            parallel_ok: is_non_overlapping(out.shape(), out.strides()),
            stream: out.numel() * out.dtype().size() >= STREAM_BYTES,
        })
    }

    /// The plan of a dense run: `out` and every input contiguous with the
    /// same shape (no broadcast), so the whole iteration is one row and
    /// none of `new`'s broadcasting, reordering and coalescing is needed.
    /// This is what keeps a call on a tiny tensor cheap.
    ///
    /// # Safety
    /// As for [`Plan::new`], and every input must be contiguous with
    /// `out`'s shape or 0-dim (read with stride 0), and an input that
    /// shares `out`'s storage must be `out` itself (in place).
    #[inline]
    pub unsafe fn dense(
        out: &TensorImpl,
        out_ptr: *mut u8,
        inputs: [&TensorImpl; NIN],
        in_ptrs: [*const u8; NIN],
    ) -> Self {
        let mut shape = [1usize; MAX_DIMS];
        shape[0] = out.numel();
        let mut strides = [0isize; MAX_DIMS];
        strides[0] = 1;
        Plan {
            ndim: 1,
            shape,
            out: Operand {
                ptr: first_element(out, out_ptr),
                dtype: out.dtype(),
                strides,
                alias: false,
            },
            ins: std::array::from_fn(|k| Operand {
                ptr: first_element(inputs[k], in_ptrs[k]),
                dtype: inputs[k].dtype(),
                // A 0-dim input is a scalar operand: read with stride 0.
                strides: if inputs[k].ndim() == 0 {
                    [0; MAX_DIMS]
                } else {
                    strides
                },
                alias: inputs[k].shares_storage(out),
            }),
            parallel_ok: true,
            stream: out.numel() * out.dtype().size() >= STREAM_BYTES,
        }
    }

    pub fn numel(&self) -> usize {
        self.shape[..self.ndim].iter().product()
    }

    /// The same plan restricted to `[start, start+len)` of dim `d`.
    fn sub(&self, d: usize, start: usize, len: usize) -> Self {
        let mut p = *self;
        p.shape[d] = len;
        let shift = |op: &mut Operand| {
            let bytes = start as isize * op.strides[d] * op.dtype.size() as isize;
            op.ptr = op.ptr.wrapping_offset(bytes);
        };
        shift(&mut p.out);
        for op in p.ins.iter_mut() {
            shift(op);
        }
        p
    }

    /// Runs the kernel over the plan, in parallel above `PAR_GRAIN`.
    pub fn run<K: Kernel<NIN>>(&self, k: &K) {
        let n = self.numel();
        if n == 0 {
            return;
        }
        let threads = rayon::current_num_threads();
        if n < PAR_GRAIN || threads < 2 || !self.parallel_ok {
            return dispatch(Serial { plan: self, k });
        }
        // Split the outermost dim with room for every thread, else the
        // largest; rows of the fastest dim are split at 64-element steps.
        let d = (0..self.ndim)
            .rev()
            .find(|&d| self.shape[d] >= threads)
            .unwrap_or_else(|| (0..self.ndim).max_by_key(|&d| self.shape[d]).unwrap_or(0));
        let extent = self.shape[d];
        let align = if d == 0 { 64 } else { 1 };
        // Four parts a thread: a thread held up elsewhere (a shared machine)
        // delays the op by a quarter of its share, not all of it.
        let per = extent.div_ceil(threads * 4).next_multiple_of(align);
        crate::par::region(|| {
            crate::par::parts(extent.div_ceil(per), |t| {
                let start = t * per;
                let sub = self.sub(d, start, per.min(extent - start));
                dispatch(Serial { plan: &sub, k })
            })
        });
    }
}

/// A small dense call run as one kernel call on slices: no plan, no walk.
/// The inputs and the output already have the kernel's own types, and no
/// input shares memory with the output.
/// One kernel call over whole slices, on the calling thread, at the
/// processor's ISA. (The inputs become `Src::Slice` inside the job, so the
/// kernel is compiled for slices only, with no branch on the operand kind.)
pub(crate) struct DenseSlices<'a, K: Kernel<NIN>, const NIN: usize> {
    pub k: &'a K,
    pub out: &'a mut [K::Out],
    pub ins: [&'a [K::In]; NIN],
}

impl<K: Kernel<NIN>, const NIN: usize> Job for DenseSlices<'_, K, NIN> {
    type Output = ();

    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        self.k.run(s, self.out, self.ins.map(Src::Slice), false)
    }
}

/// One kernel call over a slice and a number (either side), on the calling
/// thread: the number path of [`crate::ops`].
pub(crate) struct SliceAndNumber<'a, K: Kernel<2>> {
    pub k: &'a K,
    pub out: &'a mut [K::Out],
    pub ins: [Src<'a, K::In>; 2],
}

impl<K: Kernel<2>> Job for SliceAndNumber<'_, K> {
    type Output = ();

    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        self.k.run(s, self.out, self.ins, false)
    }
}

/// Runs `k` once over the elements of `out` and `inputs`, on the calling
/// thread: the path of small dense calls (below [`PAR_GRAIN`]), where
/// building and walking a [`Plan`] would cost more than the arithmetic.
/// `out_base`/`in_bases` are the storage base pointers, as for [`Plan::new`].
///
/// # Safety
/// Every tensor must be contiguous with `out`'s shape, `out` of dtype
/// `K::Out` and the inputs of `K::In`; the storages must stay valid and
/// borrowed (guards) for the call, and no input may overlap the output.
pub unsafe fn run_dense_slices<K: Kernel<NIN>, const NIN: usize>(
    k: &K,
    out: &TensorImpl,
    out_base: *mut u8,
    inputs: [&TensorImpl; NIN],
    in_bases: [*const u8; NIN],
) {
    let n = out.numel();
    let out_ptr = first_element(out, out_base) as *mut K::Out;
    let in_ptrs: [*const K::In; NIN] =
        std::array::from_fn(|i| first_element(inputs[i], in_bases[i]) as *const K::In);
    // SAFETY: by the caller's contract each tensor holds `n` elements of
    // the kernel's types from its first element, in a storage borrowed for
    // the call, and the output overlaps no input, so the one `&mut` slice
    // aliases nothing.
    let (out, ins) = unsafe {
        (
            std::slice::from_raw_parts_mut(out_ptr, n),
            in_ptrs.map(|p| std::slice::from_raw_parts(p, n)),
        )
    };
    dispatch(DenseSlices { k, out, ins })
}

/// One chunk of a plan, run on one thread.
struct Serial<'a, const NIN: usize, K> {
    plan: &'a Plan<NIN>,
    k: &'a K,
}

impl<const NIN: usize, K: Kernel<NIN>> Job for Serial<'_, NIN, K> {
    type Output = ();

    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        let p = self.plan;
        if let Some(t) = tiled_operand(p) {
            return run_tiled(s, p, self.k, t);
        }
        let rows: usize = p.shape[1..p.ndim].iter().product();
        let mut pos = Odometer::new(p, 1);
        for _ in 0..rows {
            let ins_cur = std::array::from_fn(|k| In::Ptr(p.ins[k].row(), pos.ins[k]));
            segment(
                s,
                self.k,
                OutCur::new(&p.out, pos.out),
                ins_cur,
                p.shape[0],
                p.stream,
            );
            pos.advance(p);
        }
    }
}

/// The pointers of every operand at one position of dims `from..ndim`,
/// advanced like an odometer (fastest of those dims first).
struct Odometer<const NIN: usize> {
    idx: [usize; MAX_DIMS],
    out: *mut u8,
    ins: [*mut u8; NIN],
    from: usize,
}

impl<const NIN: usize> Odometer<NIN> {
    #[inline(always)]
    fn new(p: &Plan<NIN>, from: usize) -> Self {
        Odometer {
            idx: [0; MAX_DIMS],
            out: p.out.ptr,
            ins: std::array::from_fn(|k| p.ins[k].ptr),
            from,
        }
    }

    #[inline(always)]
    fn advance(&mut self, p: &Plan<NIN>) {
        for d in self.from..p.ndim {
            self.idx[d] += 1;
            let back = self.idx[d] == p.shape[d];
            let by = if back { 1 - p.shape[d] as isize } else { 1 };
            self.out = step(self.out, &p.out, d, by);
            for (ptr, op) in self.ins.iter_mut().zip(&p.ins) {
                *ptr = step(*ptr, op, d, by);
            }
            if !back {
                return;
            }
            self.idx[d] = 0;
        }
    }
}

#[inline(always)]
fn step(ptr: *mut u8, op: &Operand, d: usize, by: isize) -> *mut u8 {
    ptr.wrapping_offset(by * op.strides[d] * op.dtype.size() as isize)
}

/// An input that walks across rows (non-unit stride in the fastest dim but
/// unit stride in the next): worth gathering in tiles.
fn tiled_operand<const NIN: usize>(p: &Plan<NIN>) -> Option<usize> {
    if p.ndim < 2 || p.shape[0] < 8 || p.shape[1] < 8 {
        return None;
    }
    (0..NIN).find(|&k| {
        let st = p.ins[k].strides;
        st[0].unsigned_abs() > 1 && st[1] == 1
    })
}

/// The output position of one row.
#[derive(Clone, Copy)]
struct OutCur {
    ptr: *mut u8,
    stride: isize,
    dtype: DType,
}

impl OutCur {
    #[inline(always)]
    fn new(op: &Operand, ptr: *mut u8) -> Self {
        OutCur {
            ptr,
            stride: op.strides[0],
            dtype: op.dtype,
        }
    }
}

/// One input of a row: memory (with its operand description), or a row of
/// an already gathered tile.
#[derive(Clone, Copy)]
enum In<'a, T> {
    Ptr(RowOp, *mut u8),
    Buf(&'a [T]),
}

/// Runs the kernel over one row of `len` elements.
#[inline(always)]
fn segment<S: Vf32, K: Kernel<NIN>, const NIN: usize>(
    s: S,
    k: &K,
    out: OutCur,
    ins: [In<'_, K::In>; NIN],
    len: usize,
    stream: bool,
) {
    let out_direct = out.dtype == <K::Out as Element>::DTYPE && out.stride == 1;
    let direct = |i: &In<'_, K::In>| match i {
        In::Buf(_) => true,
        In::Ptr(op, _) => {
            let st = op.stride;
            st == 0 || (st == 1 && op.dtype == <K::In as Element>::DTYPE && !op.alias)
        }
    };
    if out_direct && ins.iter().all(direct) {
        // SAFETY: the output row is `len` contiguous elements of `K::Out`
        // inside its storage, written only by this chunk (plan invariant).
        let o = unsafe { std::slice::from_raw_parts_mut(out.ptr as *mut K::Out, len) };
        let srcs = std::array::from_fn(|j| src_direct(ins[j], 0, len));
        k.run(s, o, srcs, stream);
        return;
    }
    let mut bufs: [[MaybeUninit<K::In>; BUF]; NIN] = [[const { MaybeUninit::uninit() }; BUF]; NIN];
    let mut obuf: [MaybeUninit<K::Out>; BUF] = [const { MaybeUninit::uninit() }; BUF];
    // The output buffer's elements written so far (it is initialised
    // before the kernel first sees it, once per row, not per piece).
    let mut obuf_init = 0;
    let mut start = 0;
    while start < len {
        let n = BUF.min(len - start);
        let mut srcs: [Src<'_, K::In>; NIN] = [Src::Splat(<K::In as Element>::zero()); NIN];
        for (j, (b, i)) in bufs.iter_mut().zip(ins.iter()).enumerate() {
            srcs[j] = if direct(i) {
                src_direct(*i, start, n)
            } else {
                let In::Ptr(op, ptr) = *i else {
                    unreachable!("buffers are direct")
                };
                let p = ptr.wrapping_offset(start as isize * op.stride * op.dtype.size() as isize);
                // SAFETY: `p` is element `start` of this row of the operand;
                // `n` elements at its stride stay inside its storage.
                Src::Slice(unsafe { load_run(p, op.dtype, op.stride, &mut b[..n]) })
            };
        }
        let optr = out
            .ptr
            .wrapping_offset(start as isize * out.stride * out.dtype.size() as isize);
        if out_direct {
            // SAFETY: as in the all-direct case, for `n` elements from `start`.
            let o = unsafe { std::slice::from_raw_parts_mut(optr as *mut K::Out, n) };
            k.run(s, o, srcs, false);
        } else {
            // Write into the buffer first: it is initialised before use.
            for x in obuf[obuf_init.min(n)..n].iter_mut() {
                x.write(<K::Out as Element>::zero());
            }
            obuf_init = obuf_init.max(n);
            // SAFETY: the first `n` elements are initialised (just above
            // or for an earlier piece of this row).
            let o = unsafe { std::slice::from_raw_parts_mut(obuf.as_mut_ptr() as *mut K::Out, n) };
            k.run(s, o, srcs, false);
            // SAFETY: `optr` is element `start` of the output row; `n`
            // elements at its stride stay inside its storage.
            unsafe { store_run(o, optr, out.dtype, out.stride) };
        }
        start += n;
    }
}

/// A direct input as a `Src` over `[start, start+n)`.
#[inline(always)]
fn src_direct<T: Element>(i: In<'_, T>, start: usize, n: usize) -> Src<'_, T> {
    match i {
        In::Buf(b) => Src::Slice(&b[start..start + n]),
        In::Ptr(op, ptr) => {
            if op.stride == 0 {
                // SAFETY: `ptr` points at one element of the operand.
                Src::Splat(unsafe { read_as::<T>(ptr, op.dtype) })
            } else {
                // SAFETY: a unit-stride run of `T` (dtype checked by the
                // caller) inside the operand's storage, not written during
                // the call (no alias with the output).
                Src::Slice(unsafe { std::slice::from_raw_parts((ptr as *const T).add(start), n) })
            }
        }
    }
}

/// Reads one element of `dtype` at `ptr`, converted to `T`.
///
/// # Safety
/// `ptr` must point at an element of `dtype`.
#[inline(always)]
unsafe fn read_as<T: Element>(ptr: *const u8, dtype: DType) -> T {
    with_dtype!(dtype, U => {
        // SAFETY: by the caller's contract; storages are 16-byte aligned and
        // element offsets keep elements aligned.
        cast_fast::<U, T>(unsafe { *(ptr as *const U) })
    })
}

/// Gathers `buf.len()` elements of `dtype` at `stride` from `ptr` into
/// `buf`, converted to `T`; returns them initialised.
///
/// # Safety
/// Every element read must lie inside one storage of `dtype` values.
///
/// Out of line and generic over `T` only: one instance per element type
/// serves every op on every ISA (a scalar loop needs no target feature).
#[inline(never)]
unsafe fn load_run<T: Element>(
    ptr: *const u8,
    dtype: DType,
    stride: isize,
    buf: &mut [MaybeUninit<T>],
) -> &[T] {
    with_dtype!(dtype, U => {
        let p = ptr as *const U;
        if stride == 1 {
            // SAFETY: by the caller's contract, `buf.len()` elements at
            // unit stride from `ptr`, not written during this call.
            convert_uninit(unsafe { std::slice::from_raw_parts(p, buf.len()) }, buf);
        } else {
            for (i, b) in buf.iter_mut().enumerate() {
                // SAFETY: by the caller's contract.
                b.write(cast_fast::<U, T>(unsafe { *p.offset(i as isize * stride) }));
            }
        }
    });
    // SAFETY: every element was written just above.
    unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const T, buf.len()) }
}

/// Scatters `vals` converted to `dtype` at `stride` from `ptr`.
///
/// # Safety
/// Every element written must lie inside the output storage, written only
/// by this chunk. Out of line, as [`load_run`].
#[inline(never)]
unsafe fn store_run<T: Element>(vals: &[T], ptr: *mut u8, dtype: DType, stride: isize) {
    with_dtype!(dtype, U => {
        let p = ptr as *mut U;
        if stride == 1 {
            // SAFETY: by the caller's contract, `vals.len()` elements at
            // unit stride from `ptr`, written only here meanwhile; they
            // are only written through the slots.
            let dst = unsafe { std::slice::from_raw_parts_mut(p as *mut MaybeUninit<U>, vals.len()) };
            return convert_uninit(vals, dst);
        }
        for (i, &v) in vals.iter().enumerate() {
            // SAFETY: by the caller's contract.
            unsafe { *p.offset(i as isize * stride) = cast_fast::<T, U>(v) };
        }
    });
}

/// The tiled walk: dims 0 and 1 in blocks of [`tile_shape`]; operand `t` is
/// gathered into a buffer transposed, reading whole cache lines of each
/// row, so that each of its cache lines is used whole. Where
/// [`gather_prefetch`] says so, every tile has the next one's lines of `t`
/// prefetched: a tile touches hundreds of short runs, too many and too
/// short for the hardware prefetcher to follow. The other operands' next
/// lines are prefetched in both plans.
#[inline(always)]
fn run_tiled<S: Vf32, K: Kernel<NIN>, const NIN: usize>(s: S, p: &Plan<NIN>, k: &K, t: usize) {
    const { assert!(std::mem::align_of::<K::In>() <= 8) };
    let outer: usize = p.shape[2..p.ndim].iter().product();
    let mut pos = Odometer::new(p, 2);
    let top = &p.ins[t];
    // Same 4-byte type in memory and in the tile: the ISA's block transpose.
    let moves_bits = top.dtype == <K::In as Element>::DTYPE
        && std::mem::size_of::<K::In>() == 4
        && top.strides[0] > 0;
    let prefetch_top = gather_prefetch();
    let in_size = std::mem::size_of::<K::In>();
    let (tile_i, tile_j) = tile_shape(top.dtype.size(), in_size, prefetch_top);
    // The tile: this thread's scratch, on a cache line (the gather writes
    // it with vector stores), kept for the next call.
    let mut scratch = crate::scratch::Scratch::take(&TILE_SCRATCH);
    let words = scratch.line_words((tile_i * tile_j * in_size).div_ceil(8), 0);
    // SAFETY: `words` holds at least tile_i * tile_j * in_size bytes and
    // is a `u64` slice, so 8-aligned at worst (on a cache line in
    // practice), enough for `K::In` (asserted above). `MaybeUninit` needs
    // no valid contents, and the words stay borrowed from `scratch` while
    // the slice lives.
    let tile: &mut [MaybeUninit<K::In>] = unsafe {
        std::slice::from_raw_parts_mut(
            words.as_mut_ptr().cast::<MaybeUninit<K::In>>(),
            tile_i * tile_j,
        )
    };
    let rows: [RowOp; NIN] = std::array::from_fn(|j| p.ins[j].row());
    let (n0, n1) = (p.shape[0], p.shape[1]);
    // Element (i, j) of dims 0 and 1 of an operand from its position `base`.
    let at = |op: &Operand, base: *mut u8, i: usize, j: usize| {
        step(step(base, op, 0, i as isize), op, 1, j as isize)
    };
    for _ in 0..outer {
        for j0 in (0..n1).step_by(tile_j) {
            let tj = tile_j.min(n1 - j0);
            for i0 in (0..n0).step_by(tile_i) {
                let ti = tile_i.min(n0 - i0);
                let src = at(top, pos.ins[t], i0, j0);
                if moves_bits {
                    // SAFETY: as below; the operand's elements are the
                    // tile's own 4-byte type, so moving bits is the copy,
                    // and rows are `strides[0] > 0` elements apart. The
                    // tile is a separate buffer of tile_i x tile_j.
                    unsafe {
                        s.transpose_u32(
                            src as *const u32,
                            top.strides[0] as usize,
                            ti,
                            tj,
                            tile.as_mut_ptr() as *mut u32,
                            tile_i,
                        )
                    };
                } else {
                    // SAFETY: rows i0..i0+ti of operand t, each with tj
                    // elements from column j0 at unit stride, lie inside
                    // its storage; the tile holds tile_i x tile_j elements.
                    unsafe { gather_tile(src, top.dtype, top.strides[0], ti, tj, tile_i, tile) };
                }
                if i0 + ti < n0 {
                    // The next tile's lines of operand t into L2, not L1:
                    // its rows are often a power of two apart, so they
                    // share an L1 set and would evict each other there.
                    let next = (i0 + ti, tile_i.min(n0 - i0 - ti));
                    if prefetch_top {
                        prefetch_block(at(top, pos.ins[t], next.0, j0), top, next.1, tj, 1);
                    }
                    for (j, op) in p.ins.iter().enumerate().filter(|(j, _)| *j != t) {
                        prefetch_block(at(op, pos.ins[j], next.0, j0), op, next.1, tj, 1);
                    }
                    // A streamed output is written around the caches: its
                    // lines read in would be a third more traffic, for
                    // nothing (measured: +15-25% without them).
                    if !p.stream {
                        prefetch_block(at(&p.out, pos.out, next.0, j0), &p.out, next.1, tj, 1);
                    }
                }
                for jj in 0..tj {
                    // SAFETY: row jj of the tile: its first `ti` elements
                    // were written by the gather above.
                    let trow = unsafe {
                        std::slice::from_raw_parts(
                            tile.as_ptr().add(jj * tile_i) as *const K::In,
                            ti,
                        )
                    };
                    let ins = std::array::from_fn(|j| {
                        if j == t {
                            In::Buf(trow)
                        } else {
                            In::Ptr(rows[j], at(&p.ins[j], pos.ins[j], i0, j0 + jj))
                        }
                    });
                    let o = OutCur::new(&p.out, at(&p.out, pos.out, i0, j0 + jj));
                    segment(s, k, o, ins, ti, p.stream);
                }
            }
        }
        pos.advance(p);
    }
}

/// Copies a `ti x tj` block (rows at `row_stride` elements, unit stride
/// within a row) transposed into `tile` (`tile[jj * ld + ii]`), converted
/// to `T`. Out of line and generic over `T` only, as [`load_run`].
///
/// # Safety
/// Every element of the block must lie inside one storage of `dtype`
/// values; `ti <= ld` and `tile.len() >= ld * tj`.
#[inline(never)]
unsafe fn gather_tile<T: Element>(
    src: *const u8,
    dtype: DType,
    row_stride: isize,
    ti: usize,
    tj: usize,
    ld: usize,
    tile: &mut [MaybeUninit<T>],
) {
    with_dtype!(dtype, U => {
        for ii in 0..ti {
            // SAFETY: row ii of the block, by the caller's contract.
            let row = unsafe { (src as *const U).offset(ii as isize * row_stride) };
            for (jj, col) in tile.chunks_exact_mut(ld).take(tj).enumerate() {
                // SAFETY: element jj of row ii, inside the block.
                let v = unsafe { *row.add(jj) };
                col[ii].write(cast_fast::<U, T>(v));
            }
        }
    });
}

/// Asks for the lines of a `ti x tj` block of `op` (dims 0 and 1) to be
/// brought into cache ahead of use: into L1 (`level` 0) or L2 (1).
/// Prefetches never fault, so any address is allowed.
#[inline(always)]
fn prefetch_block(base: *mut u8, op: &Operand, ti: usize, tj: usize, level: u8) {
    // The dim with unit stride is walked in cache lines; the other one run
    // by run. Without a unit-stride dim there are no lines worth asking for.
    let (runs, run_len, run_step) = match (op.strides[0], op.strides[1]) {
        (1, s1) => (tj, ti, s1),
        (s0, 1) => (ti, tj, s0),
        _ => return,
    };
    let size = op.dtype.size() as isize;
    for r in 0..runs as isize {
        let run = base.wrapping_offset(r * run_step * size);
        crate::simd::prefetch_lines(run, run_len * size as usize, level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_pytorch() {
        assert_eq!(
            &*broadcast_shapes(&[&[4, 1, 3], &[2, 1]]).unwrap(),
            &[4, 2, 3]
        );
        assert_eq!(&*broadcast_shapes(&[&[], &[2]]).unwrap(), &[2]);
        let e = broadcast_shapes(&[&[2, 3], &[2, 4]]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The size of tensor a (3) must match the size of tensor b (4) at non-singleton \
             dimension 1"
        );
    }

    #[test]
    fn output_follows_the_first_inputs_layout() {
        let a = TensorImpl::zeros(&[3, 4], DType::F32).unwrap();
        let b = TensorImpl::zeros(&[4, 3], DType::F32).unwrap();
        // a.t() + b: PyTorch allocates the output in a.t()'s order.
        let st = output_strides(&[4, 3], &[&a.t().unwrap(), &b]).unwrap();
        assert_eq!(&*st, &[1, 4]);
        let st = output_strides(&[4, 3], &[&b, &a.t().unwrap()]).unwrap();
        assert_eq!(&*st, &[3, 1]);
    }
}
