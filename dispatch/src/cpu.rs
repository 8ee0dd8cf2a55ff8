//! The CPU kernels of the table: each unpacks its frame (in schema order)
//! and calls ft-kernels; and the composite kernels, built from other ops.

use crate::frame::{Frame, Outputs};
use crate::ops::Op;
use crate::{Tensor, route};
use ft_core::{DType, Error, ErrorKind, Result, Scalar, TensorImpl};
use ft_kernels::{BinaryOp, NormP, UnaryOp};

#[inline]
fn one(o: &mut Outputs, t: Result<ft_core::TensorImpl>) -> Result<()> {
    o.set(Tensor::from(t?));
    Ok(())
}

pub(crate) fn add_tensor(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    ft_kernels::add_into(
        f.tensor(0)?.data(),
        f.tensor(1)?.data(),
        f.scalar(2)?,
        o.new_slot(),
    )
}

pub(crate) fn sub_tensor(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    ft_kernels::sub_into(
        f.tensor(0)?.data(),
        f.tensor(1)?.data(),
        f.scalar(2)?,
        o.new_slot(),
    )
}

/// `other * alpha` as the scalar operand of `self + other * alpha`. The
/// result's dtype comes from `self` and `other` alone (PyTorch wraps
/// `other`, then scales): a bool `other` never promotes a numeric `self`,
/// and neither does an int, so its scaled value travels as an int.
fn scaled(self_dtype: ft_core::DType, other: Scalar, alpha: Scalar) -> Scalar {
    match (other, alpha) {
        (_, Scalar::Int(1)) => other,
        (Scalar::Bool(a), Scalar::Int(b)) if self_dtype == ft_core::DType::Bool => {
            Scalar::Bool(a && b != 0)
        }
        (Scalar::Bool(a), Scalar::Int(b)) => Scalar::Int(i64::from(a).wrapping_mul(b)),
        (Scalar::Int(a), Scalar::Int(b)) => Scalar::Int(a.wrapping_mul(b)),
        (a, b) => Scalar::Float(a.to_f64() * b.to_f64()),
    }
}

pub(crate) fn add_scalar(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let s = scaled(f.tensor(0)?.dtype(), f.scalar(1)?, f.scalar(2)?);
    ft_kernels::binary_scalar_into(BinaryOp::Add, f.tensor(0)?.data(), s, o.new_slot())
}

pub(crate) fn sub_scalar(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let s = scaled(f.tensor(0)?.dtype(), f.scalar(1)?, f.scalar(2)?);
    ft_kernels::binary_scalar_into(BinaryOp::Sub, f.tensor(0)?.data(), s, o.new_slot())
}

pub(crate) fn add_inplace(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    ft_kernels::add_(f.tensor(0)?.data(), f.tensor(1)?.data(), f.scalar(2)?)
}

pub(crate) fn sub_inplace(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    ft_kernels::sub_(f.tensor(0)?.data(), f.tensor(1)?.data(), f.scalar(2)?)
}

pub(crate) fn add_out(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    let (a, b) = (f.tensor(0)?.data(), f.tensor(1)?.data());
    ft_kernels::add_out(a, b, f.scalar(2)?, f.tensor(3)?.data())
}

pub(crate) fn sub_out(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    let (a, b) = (f.tensor(0)?.data(), f.tensor(1)?.data());
    ft_kernels::sub_out(a, b, f.scalar(2)?, f.tensor(3)?.data())
}

pub(crate) fn bin(f: &Frame<'_>, o: &mut Outputs, op: BinaryOp) -> Result<()> {
    ft_kernels::binary_into(op, f.tensor(0)?.data(), f.tensor(1)?.data(), o.new_slot())
}

pub(crate) fn bin_scalar(f: &Frame<'_>, o: &mut Outputs, op: BinaryOp) -> Result<()> {
    ft_kernels::binary_scalar_into(op, f.tensor(0)?.data(), f.scalar(1)?, o.new_slot())
}

pub(crate) fn bin_inplace(f: &Frame<'_>, _o: &mut Outputs, op: BinaryOp) -> Result<()> {
    ft_kernels::binary_(op, f.tensor(0)?.data(), f.tensor(1)?.data())
}

pub(crate) fn bin_out(f: &Frame<'_>, _o: &mut Outputs, op: BinaryOp) -> Result<()> {
    let (a, b) = (f.tensor(0)?.data(), f.tensor(1)?.data());
    ft_kernels::binary_out(op, a, b, f.tensor(2)?.data())
}

pub(crate) fn where_self(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let (c, a, b) = (
        f.tensor(0)?.data(),
        f.tensor(1)?.data(),
        f.tensor(2)?.data(),
    );
    one(o, ft_kernels::where_(c, a, b))
}

pub(crate) fn un(f: &Frame<'_>, o: &mut Outputs, op: UnaryOp) -> Result<()> {
    ft_kernels::unary_into(op, f.tensor(0)?.data(), o.new_slot())
}

pub(crate) fn un_inplace(f: &Frame<'_>, _o: &mut Outputs, op: UnaryOp) -> Result<()> {
    ft_kernels::unary_(op, f.tensor(0)?.data())
}

pub(crate) fn un_out(f: &Frame<'_>, _o: &mut Outputs, op: UnaryOp) -> Result<()> {
    ft_kernels::unary_out(op, f.tensor(0)?.data(), f.tensor(1)?.data())
}

/// PyTorch's `approximate=` of gelu.
fn gelu_op(approximate: &str) -> Result<UnaryOp> {
    match approximate {
        "none" => Ok(UnaryOp::Gelu),
        "tanh" => Ok(UnaryOp::GeluTanh),
        _ => Err(Error::new(
            ErrorKind::Value,
            "approximate argument must be either none or tanh.",
        )),
    }
}

pub(crate) fn gelu(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    un(f, o, gelu_op(f.str(1)?)?)
}

pub(crate) fn gelu_inplace(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    un_inplace(f, o, gelu_op(f.str(1)?)?)
}

pub(crate) fn gelu_out(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    let op = gelu_op(f.str(1)?)?;
    ft_kernels::unary_out(op, f.tensor(0)?.data(), f.tensor(2)?.data())
}

pub(crate) fn clamp(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    one(
        o,
        ft_kernels::clamp(f.tensor(0)?.data(), f.opt_scalar(1)?, f.opt_scalar(2)?),
    )
}

pub(crate) fn clamp_inplace(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    ft_kernels::clamp_(f.tensor(0)?.data(), f.opt_scalar(1)?, f.opt_scalar(2)?)
}

pub(crate) fn clamp_out(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    let x = f.tensor(0)?.data();
    ft_kernels::clamp_out(x, f.opt_scalar(1)?, f.opt_scalar(2)?, f.tensor(3)?.data())
}

type Product = fn(&TensorImpl, &TensorImpl) -> Result<TensorImpl>;
type ProductOut = fn(&TensorImpl, &TensorImpl, &TensorImpl) -> Result<()>;

/// `mm`, `bmm`, `matmul`, `dot`, `mv`: `(self, other) -> Tensor`.
pub(crate) fn product(f: &Frame<'_>, o: &mut Outputs, k: Product) -> Result<()> {
    one(o, k(f.tensor(0)?.data(), f.tensor(1)?.data()))
}

/// Their `out=` forms: `(self, other, *, out)`.
pub(crate) fn product_out(f: &Frame<'_>, _o: &mut Outputs, k: ProductOut) -> Result<()> {
    k(
        f.tensor(2)?.data(),
        f.tensor(0)?.data(),
        f.tensor(1)?.data(),
    )
}

pub(crate) fn addmm(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let (x, a, b) = (
        f.tensor(0)?.data(),
        f.tensor(1)?.data(),
        f.tensor(2)?.data(),
    );
    one(o, ft_kernels::addmm(x, a, b, f.scalar(3)?, f.scalar(4)?))
}

pub(crate) fn addmm_inplace(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    let (x, a, b) = (
        f.tensor(0)?.data(),
        f.tensor(1)?.data(),
        f.tensor(2)?.data(),
    );
    ft_kernels::addmm_(x, a, b, f.scalar(3)?, f.scalar(4)?)
}

pub(crate) fn addmm_out(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    let (x, a, b) = (
        f.tensor(0)?.data(),
        f.tensor(1)?.data(),
        f.tensor(2)?.data(),
    );
    ft_kernels::addmm_out(f.tensor(5)?.data(), x, a, b, f.scalar(3)?, f.scalar(4)?)
}

pub(crate) fn linear(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let bias = f.opt_tensor(2)?.map(|t| t.data());
    one(
        o,
        ft_kernels::linear(f.tensor(0)?.data(), f.tensor(1)?.data(), bias),
    )
}

fn required_dtype(f: &Frame<'_>, i: usize) -> Result<DType> {
    f.dtype(i)?
        .ok_or_else(|| Error::new(ErrorKind::Value, "to(): a dtype is required"))
}

/// `x.to(dtype, copy=)`: the same tensor when the dtype already matches
/// and no copy is asked for, as PyTorch.
pub(crate) fn to_dtype(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let x = f.tensor(0)?;
    let dtype = required_dtype(f, 1)?;
    if x.dtype() == dtype && !f.bool(3)? {
        o.set(Tensor::from(x.data().clone()));
        return Ok(());
    }
    one(o, ft_kernels::cast(x.data(), dtype))
}

pub(crate) fn copy_inplace(f: &Frame<'_>, _o: &mut Outputs) -> Result<()> {
    ft_kernels::copy_(f.tensor(0)?.data(), f.tensor(1)?.data())
}

/// The reductions `sum`, `mean`, `prod` share a signature.
#[derive(Clone, Copy)]
pub(crate) enum Fold {
    Sum,
    Mean,
    Prod,
}

type FoldFn =
    fn(&ft_core::TensorImpl, Option<&[isize]>, bool, Option<DType>) -> Result<ft_core::TensorImpl>;

impl Fold {
    fn kernel(self) -> FoldFn {
        match self {
            Fold::Sum => ft_kernels::sum,
            Fold::Mean => ft_kernels::mean,
            Fold::Prod => ft_kernels::prod,
        }
    }
}

pub(crate) fn fold_all(f: &Frame<'_>, o: &mut Outputs, fold: Fold) -> Result<()> {
    one(
        o,
        fold.kernel()(f.tensor(0)?.data(), None, false, f.dtype(1)?),
    )
}

pub(crate) fn fold_dims(f: &Frame<'_>, o: &mut Outputs, fold: Fold) -> Result<()> {
    let x = f.tensor(0)?.data();
    one(o, fold.kernel()(x, f.dims(1)?, f.bool(2)?, f.dtype(3)?))
}

pub(crate) fn prod_dim(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let dim = [f.int(1)? as isize];
    one(
        o,
        ft_kernels::prod(f.tensor(0)?.data(), Some(&dim), f.bool(2)?, f.dtype(3)?),
    )
}

pub(crate) fn extreme(f: &Frame<'_>, o: &mut Outputs, max: bool) -> Result<()> {
    let x = f.tensor(0)?.data();
    one(
        o,
        if max {
            ft_kernels::max(x)
        } else {
            ft_kernels::min(x)
        },
    )
}

pub(crate) fn extreme_dim(f: &Frame<'_>, o: &mut Outputs, max: bool) -> Result<()> {
    let (x, dim, keep) = (f.tensor(0)?.data(), f.int(1)? as isize, f.bool(2)?);
    let (v, i) = if max {
        ft_kernels::max_dim(x, dim, keep)?
    } else {
        ft_kernels::min_dim(x, dim, keep)?
    };
    o.set_two(Tensor::from(v), Tensor::from(i));
    Ok(())
}

pub(crate) fn arg(f: &Frame<'_>, o: &mut Outputs, max: bool) -> Result<()> {
    let x = f.tensor(0)?.data();
    let dim = f.opt_int(1)?.map(|d| d as isize);
    let keep = f.bool(2)?;
    one(
        o,
        if max {
            ft_kernels::argmax(x, dim, keep)
        } else {
            ft_kernels::argmin(x, dim, keep)
        },
    )
}

pub(crate) fn moments(f: &Frame<'_>, o: &mut Outputs, std: bool) -> Result<()> {
    let x = f.tensor(0)?.data();
    let correction = f.opt_scalar(2)?.map_or(1.0, Scalar::to_f64);
    let (dims, keep) = (f.dims(1)?, f.bool(3)?);
    one(
        o,
        if std {
            ft_kernels::std(x, dims, correction, keep)
        } else {
            ft_kernels::var(x, dims, correction, keep)
        },
    )
}

pub(crate) fn logsumexp(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    one(
        o,
        ft_kernels::logsumexp(f.tensor(0)?.data(), f.dims(1)?, f.bool(2)?),
    )
}

fn norm_p(p: Option<Scalar>) -> Result<NormP> {
    let p = p.map_or(2.0, Scalar::to_f64);
    match p {
        1.0 => Ok(NormP::One),
        2.0 => Ok(NormP::Two),
        p if p == f64::INFINITY => Ok(NormP::Inf),
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            format!("norm: p={p} is not supported (FrankenTorch has p = 1, 2 and inf)"),
        )),
    }
}

pub(crate) fn norm(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    one(
        o,
        ft_kernels::norm(f.tensor(0)?.data(), norm_p(f.opt_scalar(1)?)?, None, false),
    )
}

pub(crate) fn norm_dim(f: &Frame<'_>, o: &mut Outputs) -> Result<()> {
    let p = norm_p(f.opt_scalar(1)?)?;
    one(
        o,
        ft_kernels::norm(f.tensor(0)?.data(), p, f.dims(2)?, f.bool(3)?),
    )
}

pub(crate) fn any_all(f: &Frame<'_>, o: &mut Outputs, all: bool, with_dims: bool) -> Result<()> {
    let x = f.tensor(0)?.data();
    let (dims, keep) = if with_dims {
        (f.dims(1)?, f.bool(2)?)
    } else {
        (None, false)
    };
    one(
        o,
        if all {
            ft_kernels::all(x, dims, keep)
        } else {
            ft_kernels::any(x, dims, keep)
        },
    )
}

/// `softmax(x, dim, dtype=)`: with a dtype, the input is cast to it first.
pub(crate) fn softmax(f: &Frame<'_>, o: &mut Outputs, log: bool) -> Result<()> {
    let x = f.tensor(0)?.data();
    let dim = f.int(1)? as isize;
    let run = |x: &ft_core::TensorImpl| {
        if log {
            ft_kernels::log_softmax(x, dim)
        } else {
            ft_kernels::softmax(x, dim)
        }
    };
    match f.dtype(2)? {
        Some(d) if d != x.dtype() => one(o, run(&ft_kernels::cast(x, d)?)),
        _ => one(o, run(x)),
    }
}

/// A view op: `view` takes the input's data and the frame, and returns
/// the new layout over the same storage (or a copy where PyTorch copies).
#[inline]
pub(crate) fn view_op(
    f: &Frame<'_>,
    o: &mut Outputs,
    view: impl FnOnce(&TensorImpl, &Frame<'_>) -> Result<TensorImpl>,
) -> Result<()> {
    one(o, view(f.tensor(0)?.data(), f))
}

/// Whether the direct CPU kernel has a kernel for the frame's dtypes
/// (PyTorch's CPU kernels of these ops are floating-point only).
#[inline]
pub(crate) fn has_dtype(op: Op, f: &Frame<'_>) -> bool {
    match op {
        Op::Gelu | Op::Silu | Op::Softmax | Op::LogSoftmax => {
            let explicit = matches!(op, Op::Softmax | Op::LogSoftmax)
                && matches!(f.dtype(2), Ok(Some(d)) if d.is_floating_point());
            explicit || f.tensor(0).is_ok_and(|t| t.dtype().is_floating_point())
        }
        _ => true,
    }
}

/// The composite kernel of an op, where it has one: the op built from
/// other ops, here a cast to the default float dtype and the op itself,
/// which Hardened mode uses for dtypes the direct kernel lacks.
pub(crate) fn composite(op: Op) -> Option<crate::frame::Kernel> {
    match op {
        Op::Gelu => Some(|f, o| float_composite(f, o, Op::Gelu)),
        Op::Silu => Some(|f, o| float_composite(f, o, Op::Silu)),
        Op::Softmax => Some(|f, o| float_composite(f, o, Op::Softmax)),
        Op::LogSoftmax => Some(|f, o| float_composite(f, o, Op::LogSoftmax)),
        _ => None,
    }
}

/// `op(x.to(float32), ...)`, through dispatch (the cast and the op are
/// each dispatched, as a decomposition is).
fn float_composite(f: &Frame<'_>, o: &mut Outputs, op: Op) -> Result<()> {
    let x = f.tensor(0)?;
    let xf = x.to_dtype(DType::F32)?;
    let mut args = [crate::frame::Arg::Bool(false); crate::frame::MAX_ARGS];
    let n = f.args().len();
    args[..n].copy_from_slice(f.args());
    args[0] = crate::frame::Arg::Tensor(&xf);
    route::call(op, &Frame::new(&args[..n])?, o)
}
