//! The ops: dtype rules, output allocation and kernel choice on top of the
//! loop engine ([`crate::iter`]).

pub mod binary;
pub mod reduce;
pub mod softmax;
pub mod unary;

use crate::iter::{
    Kernel, PAR_GRAIN, Plan, broadcast_shapes, check_overlap, output_strides, run_dense_slices,
};
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
#[derive(Clone, Copy)]
pub enum Out<'a> {
    /// A new tensor of this dtype, laid out as PyTorch lays it out.
    New(DType),
    /// An existing tensor (`out=` or in place): its shape must be the
    /// broadcast shape, and the result dtype must cast to its dtype.
    Into(&'a TensorImpl, DType),
}

/// The tensor a kernel made for `Out::New`; `Out::Into` writes into the
/// given tensor and gives back nothing, so that an `_out` call does not
/// even clone a handle.
pub(crate) fn fresh(made: Option<TensorImpl>) -> Result<TensorImpl> {
    made.ok_or_else(|| {
        Error::new(
            ErrorKind::Value,
            "internal error: an op asked for a new output got none",
        )
    })
}

/// Broadcasts `inputs`, prepares the output, and runs `k` over them:
/// `Some(new tensor)` for `Out::New`, `None` for `Out::Into`.
pub(crate) fn run_elementwise<K: Kernel<N>, const N: usize>(
    inputs: [&TensorImpl; N],
    out: Out<'_>,
    k: &K,
) -> Result<Option<TensorImpl>> {
    for t in inputs {
        t.device().check_executable()?;
    }
    if let Some(made) = dense_run(&inputs, out, k)? {
        return Ok(made);
    }
    let shapes: [&[usize]; N] = std::array::from_fn(|i| inputs[i].shape());
    let shape = broadcast_shapes(&shapes)?;
    let mut made = None;
    let out = match out {
        Out::New(dtype) => {
            let strides = output_strides(&shape, &inputs)?;
            // SAFETY: the layout is dense and the engine writes every
            // element before the tensor is returned.
            &*made.insert(unsafe { TensorImpl::uninit_strided(&shape, &strides, dtype)? })
        }
        Out::Into(o, result_dtype) => {
            o.device().check_executable()?;
            if o.shape() != &shape[..] {
                return Err(Error::new(
                    ErrorKind::Shape,
                    format!(
                        "output with shape {} doesn't match the broadcast shape {}",
                        fmt_shape(o.shape()),
                        fmt_shape(&shape)
                    ),
                ));
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
            o
        }
    };
    let copies = check_overlap(out, &inputs)?;
    let inputs: [&TensorImpl; N] = std::array::from_fn(|i| copies[i].as_ref().unwrap_or(inputs[i]));
    execute(out, inputs, false, k)?;
    Ok(made)
}

/// The fast path of [`run_elementwise`]: every input contiguous with one
/// shape, and the output fresh or contiguous with that shape and not
/// sharing memory with an input except in place. `Ok(None)`: not this case;
/// `Ok(Some(made))`: done, with what `run_elementwise` returns.
#[inline]
fn dense_run<K: Kernel<N>, const N: usize>(
    inputs: &[&TensorImpl; N],
    out: Out<'_>,
    k: &K,
) -> Result<Option<Option<TensorImpl>>> {
    let Some(first) = inputs.first() else {
        return Ok(None);
    };
    let shape = first.shape();
    if !inputs
        .iter()
        .all(|t| t.shape() == shape && t.is_contiguous())
    {
        return Ok(None);
    }
    let mut made = None;
    let out = match out {
        Out::New(dtype) => {
            // SAFETY: the dense plan writes every element before `out` is
            // returned.
            &*made.insert(unsafe { TensorImpl::uninit(shape, dtype)? })
        }
        Out::Into(o, result_dtype) => {
            let in_place_or_apart =
                |t: &&TensorImpl| !t.shares_storage(o) || t.storage_offset() == o.storage_offset();
            if o.shape() != shape
                || !o.is_contiguous()
                || !can_cast(result_dtype, o.dtype())
                || !inputs.iter().all(in_place_or_apart)
            {
                return Ok(None);
            }
            o.device().check_executable()?;
            o
        }
    };
    execute(out, *inputs, true, k)?;
    Ok(Some(made))
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
    let n = out.numel();
    let own_types = out.dtype() == <K::Out as Element>::DTYPE
        && inputs
            .iter()
            .all(|t| t.dtype() == <K::In as Element>::DTYPE && !t.shares_storage(out));
    if dense && n < PAR_GRAIN && own_types {
        let at =
            |p: *const u8, t: &TensorImpl| p.wrapping_add(t.storage_offset() * t.dtype().size());
        // SAFETY: `dense` means every tensor is contiguous with `out`'s
        // shape, so each holds `n` elements from its offset, of the
        // kernel's types (checked just above), inside storages borrowed by
        // `wg` and `guards`; no input shares the output's storage.
        unsafe {
            run_dense_slices(
                k,
                at(out_ptr, out) as *mut K::Out,
                std::array::from_fn(|i| at(in_ptrs[i], inputs[i]) as *const K::In),
                n,
            )
        };
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
