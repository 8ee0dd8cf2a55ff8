//! The ops: dtype rules, output allocation and kernel choice on top of the
//! loop engine ([`crate::iter`]).

pub mod binary;
pub mod linalg;
pub mod reduce;
pub mod softmax;
pub mod unary;

use crate::isa::{dispatch, dispatch_inline};
use crate::iter::{
    DenseSlices, Kernel, PAR_GRAIN, Plan, SliceAndNumber, broadcast_shapes, check_overlap,
    output_strides, run_dense_slices,
};
use crate::map::Src;
use ft_core::error::fmt_shape;
use ft_core::{DType, Element, Error, ErrorKind, Result, TensorImpl};

/// The dtype a kernel computes in for a result dtype: 16-bit floats compute
/// in f32 registers.
pub fn compute_dtype(d: DType) -> DType {
    match d {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

/// PyTorch's `canCast`: no float to integer, nothing but bool to bool.
pub fn can_cast(from: DType, to: DType) -> bool {
    !(from.is_floating_point() && to.is_integral(false) || from != DType::Bool && to == DType::Bool)
}

/// TensorIterator's error for an output whose shape is not the inputs'
/// broadcast shape.
pub(crate) fn broadcast_mismatch(out: &[usize], broadcast: &[usize]) -> Error {
    Error::new(
        ErrorKind::Shape,
        format!(
            "output with shape {} doesn't match the broadcast shape {}",
            fmt_shape(out),
            fmt_shape(broadcast)
        ),
    )
}

/// TensorIterator's error for an `out=` of another dtype where the op
/// allows none: "Found dtype Double but expected Float".
pub(crate) fn found_dtype(found: DType, expected: DType) -> Error {
    Error::new(
        ErrorKind::DType,
        format!(
            "Found dtype {} but expected {}",
            found.scalar_type_name(),
            expected.scalar_type_name()
        ),
    )
}

/// The C++ name of a dtype's element type, as PyTorch's
/// `Expected out tensor to have dtype float, but got double instead`.
pub(crate) fn cpp_type_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float",
        DType::F64 => "double",
        DType::F16 => "c10::Half",
        DType::BF16 => "c10::BFloat16",
        DType::I64 => "long int",
        DType::I32 => "int",
        DType::U8 => "unsigned char",
        DType::Bool => "bool",
    }
}

/// The `out=` dtype error of ops that check it themselves (relu, mm).
pub(crate) fn out_dtype_expected(expected: DType, got: DType) -> Error {
    Error::new(
        ErrorKind::DType,
        format!(
            "Expected out tensor to have dtype {}, but got {} instead",
            cpp_type_name(expected),
            cpp_type_name(got)
        ),
    )
}

pub(crate) fn not_implemented(op: &str, dtype: DType) -> Error {
    Error::new(
        ErrorKind::DType,
        format!(
            "\"{op}\" not implemented for '{}'",
            dtype.scalar_type_name()
        ),
    )
}

/// Where an op writes.
pub enum Out<'a> {
    /// A new tensor of this dtype, laid out as PyTorch lays it out, put in
    /// the slot (the caller's: nothing is returned by value through the
    /// layers of an op).
    New(DType, &'a mut Option<TensorImpl>),
    /// An existing tensor (`out=` or in place): its shape must be the
    /// broadcast shape, and the result dtype must cast to its dtype.
    Into(&'a TensorImpl, DType),
}

impl Out<'_> {
    /// The dtype of the tensor written: the new one's, or `out=`'s own.
    pub(crate) fn dtype(&self) -> DType {
        match self {
            Out::New(d, _) => *d,
            Out::Into(o, _) => o.dtype(),
        }
    }
}

/// Runs `f` with an `Out::New(dtype)` slot and returns what it made.
#[inline]
pub(crate) fn made(dtype: DType, f: impl FnOnce(Out<'_>) -> Result<()>) -> Result<TensorImpl> {
    taken(|slot| f(Out::New(dtype, slot)))
}

/// Runs `f` with an empty slot and returns what it put there: an op's
/// by-value form over its `_into` form (`binary` over `binary_into`).
#[inline]
pub(crate) fn taken(f: impl FnOnce(&mut Option<TensorImpl>) -> Result<()>) -> Result<TensorImpl> {
    let mut slot = None;
    f(&mut slot)?;
    slot.ok_or_else(|| {
        Error::new(
            ErrorKind::Value,
            "internal error: an op asked for a new output got none",
        )
    })
}

/// Broadcasts `inputs`, prepares the output, and runs `k` over them.
pub(crate) fn run_elementwise<K: Kernel<N>, const N: usize>(
    inputs: [&TensorImpl; N],
    out: Out<'_>,
    k: &K,
) -> Result<()> {
    for t in inputs {
        t.device().check_executable()?;
    }
    if let Out::Into(o, r @ (DType::F16 | DType::BF16)) = out
        && o.dtype() != r
    {
        return run_rounded(inputs, o, r, k);
    }
    if let Some(lead) = dense_lead(&inputs, &out) {
        // Every input contiguous with one shape (or a 0-dim scalar, read
        // with stride 0), and the output fresh or contiguous with it: a
        // one-row plan, no broadcasting.
        let target = match out {
            Out::New(dtype, slot) => {
                // SAFETY: the dense plan writes every element before the
                // tensor is handed out.
                &*slot.insert(unsafe { TensorImpl::uninit(inputs[lead].shape(), dtype)? })
            }
            Out::Into(o, _) => o,
        };
        return execute(target, inputs, true, k);
    }
    let shapes: [&[usize]; N] = std::array::from_fn(|i| inputs[i].shape());
    let shape = broadcast_shapes(&shapes)?;
    let target = match out {
        Out::New(dtype, slot) => {
            let strides = output_strides(&shape, &inputs)?;
            // SAFETY: the layout is dense and the engine writes every
            // element before the tensor is handed out.
            &*slot.insert(unsafe { TensorImpl::uninit_strided(&shape, &strides, dtype)? })
        }
        Out::Into(o, result_dtype) => {
            check_into(o, &shape, result_dtype)?;
            o
        }
    };
    let copies = check_overlap(target, &inputs)?;
    let inputs: [&TensorImpl; N] = std::array::from_fn(|i| copies[i].as_ref().unwrap_or(inputs[i]));
    execute(target, inputs, false, k)
}

/// Whether `o` can take a result of `shape` and `result_dtype`, with
/// TensorIterator's errors.
fn check_into(o: &TensorImpl, shape: &[usize], result_dtype: DType) -> Result<()> {
    o.device().check_executable()?;
    if o.shape() != shape {
        return Err(broadcast_mismatch(o.shape(), shape));
    }
    if !can_cast(result_dtype, o.dtype()) {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "result type {} can't be cast to the desired output type {}",
                result_dtype.scalar_type_name(),
                o.dtype().scalar_type_name()
            ),
        ));
    }
    Ok(())
}

/// [`run_elementwise`] of an f16/bf16 result into an `out=` of another
/// dtype: the result made in its own dtype, then cast into `out`. PyTorch
/// computes an op in its common dtype and casts into an `out` of another
/// (on CPU, through a temporary output), so `exp(x_bf16, out=y_f32)` holds
/// the bf16 results widened, not the f32 values the kernel computed before
/// rounding them (checked against PyTorch 2.15: exp, sigmoid, add, add
/// with alpha, mul, div, a number operand, f16 into f64).
#[cold]
fn run_rounded<K: Kernel<N>, const N: usize>(
    inputs: [&TensorImpl; N],
    o: &TensorImpl,
    result_dtype: DType,
    k: &K,
) -> Result<()> {
    let shapes: [&[usize]; N] = std::array::from_fn(|i| inputs[i].shape());
    check_into(o, &broadcast_shapes(&shapes)?, result_dtype)?;
    let r = taken(|slot| run_elementwise(inputs, Out::New(result_dtype, slot), k))?;
    unary::copy_(o, &r)
}

/// `k` over a contiguous tensor and a number, into a new tensor, on the
/// calling thread, the number splat into the kernel instead of made a 0-dim
/// tensor: the path of small scalar ops (`x * 2.0`, and autograd's chains
/// of them), where making, filling and freeing that tensor and walking a
/// broadcast plan over it cost several times the arithmetic. The number is
/// converted to `compute` (the kernel's input type) as PyTorch converts it;
/// `number_first` puts it on the left (`2 - x`).
///
/// `None` when the call is not of that kind (a strided, large, 0-dim or
/// non-CPU tensor, an `out=`, a dtype the kernel does not take as is): the
/// caller goes the general way, which computes the same values with the
/// same kernel.
#[inline]
pub(crate) fn dense_number<K: Kernel<2>>(
    t: &TensorImpl,
    number: ft_core::Scalar,
    number_first: bool,
    compute: DType,
    out: &mut Out<'_>,
    k: &K,
) -> Option<Result<()>> {
    let Out::New(dtype, slot) = out else {
        return None;
    };
    let fits = compute == <K::In as Element>::DTYPE
        && t.dtype() == compute
        && *dtype == <K::Out as Element>::DTYPE
        && small_dense(t);
    if !fits {
        return None;
    }
    let run = || -> Result<TensorImpl> {
        let src = t.as_slice::<K::In>()?;
        let v = Src::Splat(K::In::from_scalar(number));
        let ins = if number_first {
            [v, Src::Slice(&src)]
        } else {
            [Src::Slice(&src), v]
        };
        // SAFETY: the kernel writes every element of the new tensor (its
        // output slice is all of them).
        unsafe {
            TensorImpl::uninit_with::<K::Out>(t.shape(), |out| {
                dispatch(SliceAndNumber { k, out, ins });
                Ok(())
            })
        }
    };
    Some(run().map(|o| {
        **slot = Some(o);
    }))
}

/// Whether a tensor is one the small dense paths take: not 0-dim,
/// contiguous, below the parallel grain, on the CPU.
#[inline]
fn small_dense(t: &TensorImpl) -> bool {
    t.ndim() > 0 && t.is_contiguous() && t.numel() < PAR_GRAIN && t.device().is_cpu()
}

/// `t = k(t, number)` in place, for a contiguous f32 tensor (not 0-dim)
/// below the parallel grain: the small path of `a.op_(number)`, which
/// otherwise made a 0-dim tensor of the number and walked the general
/// plan. The kernel reads and writes two slices that may not overlap, so
/// each stretch of `t` is copied to the stack first and computed back
/// into place. `None` when the call is not of that kind.
#[inline]
pub(crate) fn dense_number_in_place<K: Kernel<2, In = f32, Out = f32>>(
    t: &TensorImpl,
    number: ft_core::Scalar,
    k: &K,
) -> Option<Result<()>> {
    if t.dtype() != DType::F32 || !small_dense(t) {
        return None;
    }
    const STRETCH: usize = 256;
    Some((|| {
        let mut data = t.as_slice_mut::<f32>()?;
        let v = f32::from_scalar(number);
        let mut copy = [0f32; STRETCH];
        for part in data.chunks_mut(STRETCH) {
            let src = &mut copy[..part.len()];
            src.copy_from_slice(part);
            dispatch_inline(SliceAndNumber {
                k,
                out: part,
                ins: [Src::Slice(src), Src::Splat(v)],
            });
        }
        Ok(())
    })())
}

/// `k(a, b)` for two contiguous f32 tensors of one shape (not 0-dim)
/// below the parallel grain, into a new f32 tensor or a contiguous f32
/// output of that shape that shares memory with neither: the latency path
/// of `c = a + b` and `a.add_out(b, c)` on small tensors. It checks in a
/// few loads what the general path derives from promotion, broadcasting
/// and overlap rules (which give the same answer for such a call), then
/// runs the kernel once over the three slices.
///
/// `None` when the call is not of that kind: the caller goes the general
/// way, which computes the same values with the same kernel.
#[inline]
pub(crate) fn dense_pair<K: Kernel<2, In = f32, Out = f32>>(
    a: &TensorImpl,
    b: &TensorImpl,
    out: &mut Out<'_>,
    k: &K,
) -> Option<Result<()>> {
    let fits = a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && a.ndim() > 0
        && a.is_contiguous()
        && b.is_contiguous()
        && same_dims(a.shape(), b.shape())
        && a.numel() < PAR_GRAIN
        && a.device().is_cpu()
        && b.device().is_cpu();
    if !fits {
        return None;
    }
    // The kernel over the inputs' slices, into `out`.
    let fill = |out: &mut [f32]| -> Result<()> {
        let (x, y) = (a.as_slice::<f32>()?, b.as_slice::<f32>()?);
        dispatch_inline(DenseSlices {
            k,
            out,
            ins: [&x, &y],
        });
        Ok(())
    };
    match out {
        Out::New(DType::F32, slot) => Some((|| {
            // SAFETY: `fill` writes every element (its output slice is all
            // of them).
            **slot = Some(unsafe { TensorImpl::uninit_with::<f32>(a.shape(), fill)? });
            Ok(())
        })()),
        Out::Into(o, _)
            if o.dtype() == DType::F32
                && o.is_contiguous()
                && same_dims(o.shape(), a.shape())
                && o.device().is_cpu()
                && !o.shares_storage(a)
                && !o.shares_storage(b) =>
        {
            // `fill`'s body again, written out: through `fill` (then not
            // inlined) this path and `a + b` each took 2.5% more
            // instructions (`ft-bench gate`, over its 2% bound).
            Some((|| {
                let mut out = o.as_slice_mut::<f32>()?;
                let (x, y) = (a.as_slice::<f32>()?, b.as_slice::<f32>()?);
                dispatch_inline(DenseSlices {
                    k,
                    out: &mut out,
                    ins: [&x, &y],
                });
                Ok(())
            })())
        }
        _ => None,
    }
}

/// `a == b` for shapes, as an inline loop: slice equality calls `memcmp`,
/// which costs more than the handful of dims it compares.
#[inline]
fn same_dims(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Whether a call takes the dense path of [`run_elementwise`], and which
/// input gives its shape: every input contiguous with one shape, or 0-dim
/// (a scalar operand, as `a * 2.0` makes), and the output fresh, or
/// contiguous with that shape, of a dtype the result casts to, on the CPU,
/// and sharing memory with no input except in place. (Anything else,
/// errors included, goes the general way, which reports them.)
#[inline]
fn dense_lead<const N: usize>(inputs: &[&TensorImpl; N], out: &Out<'_>) -> Option<usize> {
    // One pass: the first input with dims leads; every input with dims
    // must have its shape and be contiguous; 0-dim inputs are scalars.
    let mut lead = N;
    for (i, t) in inputs.iter().enumerate() {
        if t.ndim() == 0 {
            continue;
        }
        if lead == N {
            lead = i;
        } else if !same_dims(t.shape(), inputs[lead].shape()) {
            return None;
        }
        if !t.is_contiguous() {
            return None;
        }
    }
    if lead == N {
        // All 0-dim (or no inputs).
        lead = 0;
    }
    let shape = inputs.get(lead)?.shape();
    let ok = match out {
        Out::New(..) => true,
        Out::Into(o, result_dtype) => {
            // In place means the whole tensor: a 0-dim view of one element
            // of a larger output overlaps it partially (the general path
            // copies it first).
            let in_place_or_apart = |t: &&TensorImpl| {
                !t.shares_storage(o)
                    || (t.storage_offset() == o.storage_offset() && (t.ndim() > 0 || o.ndim() == 0))
            };
            same_dims(o.shape(), shape)
                && o.is_contiguous()
                && o.device().is_cpu()
                && can_cast(*result_dtype, o.dtype())
                && inputs.iter().all(in_place_or_apart)
        }
    };
    ok.then_some(lead)
}

/// Borrows the storages (the output for writing, each other input for
/// reading), builds the plan (`dense`: [`Plan::dense`], else [`Plan::new`])
/// and runs `k` over it.
#[inline]
fn execute<K: Kernel<N>, const N: usize>(
    out: &TensorImpl,
    inputs: [&TensorImpl; N],
    dense: bool,
    k: &K,
) -> Result<()> {
    let mut wg = out.storage().write()?;
    let out_ptr = wg.as_mut_ptr();
    // A fixed array, not a Vec: the `_out` path must not allocate.
    let mut guards: [Option<ft_core::storage::ReadGuard<'_>>; N] = std::array::from_fn(|_| None);
    let mut in_ptrs = [std::ptr::null::<u8>(); N];
    for (i, t) in inputs.iter().enumerate() {
        if t.shares_storage(out) {
            in_ptrs[i] = out_ptr;
        } else {
            let g = t.storage().read()?;
            in_ptrs[i] = g.as_ptr();
            guards[i] = Some(g);
        }
    }
    let own_types = out.dtype() == <K::Out as Element>::DTYPE
        && inputs
            .iter()
            .all(|t| t.dtype() == <K::In as Element>::DTYPE && !t.shares_storage(out));
    if dense
        && out.numel() < PAR_GRAIN
        && own_types
        && !inputs.iter().any(|t| t.ndim() == 0 && out.ndim() > 0)
    {
        // SAFETY: `dense` means every tensor is contiguous with `out`'s
        // shape; the dtypes are the kernel's and no input shares the
        // output's storage (checked just above); the storages are borrowed
        // by `wg` and `guards`.
        unsafe { run_dense_slices(k, out, out_ptr, inputs, in_ptrs) };
        return Ok(());
    }
    // SAFETY: the pointers are the storage bases of `out` and `inputs`,
    // borrowed by `wg` and `guards` until after `run` returns. For `new`,
    // the callers checked that the shapes broadcast and resolved overlaps
    // (`check_overlap`); for `dense`, `dense_run` checked that every tensor
    // is contiguous with one shape and that an input sharing `out`'s
    // storage has its offset.
    let plan = unsafe {
        if dense {
            Plan::dense(out, out_ptr, inputs, in_ptrs)
        } else {
            Plan::new(out, out_ptr, inputs, in_ptrs)?
        }
    };
    plan.run(k);
    Ok(())
}
