//! Backward formulas: for each differentiable op, what it saves and how
//! its inputs' gradients follow from its output's (PyTorch's
//! `derivatives.yaml`, each formula as written there unless a comment
//! says otherwise). Gradients may come back in the broadcast shape: the
//! engine sums them to each input's shape, as PyTorch's engine does.
//!
//! Every formula runs with grad mode off, on FrankenTorch's own kernels.

use crate::graph::{BackwardFn, Ctx, Grads, Saved};
use ft_core::{DType, Error, ErrorKind, Result, Scalar, TensorImpl};
use ft_dispatch::{Frame, Op, Tensor};
use ft_kernels::BinaryOp;

fn one(g: Tensor) -> Grads {
    [Some(g), None, None]
}

fn zeros_like(t: &Tensor) -> Result<Tensor> {
    Tensor::zeros(t.shape(), t.dtype())
}

/// A 0-dim tensor of `v` in `dtype` (a broadcast operand).
fn lit(v: f64, dtype: DType) -> Result<Tensor> {
    Tensor::full(&[], v, dtype)
}

/// `where(cond, 0, g)`: `g` with the entries where `cond` holds zeroed.
fn zero_where(cond: &Tensor, g: &Tensor) -> Result<Tensor> {
    Tensor::where_(cond, &lit(0.0, g.dtype())?, g)
}

fn wrap(dim: i64, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as i64;
    let d = if dim < 0 { dim + n } else { dim };
    if d < 0 || d >= n {
        return Err(Error::dim_out_of_range(dim as isize, ndim.max(1)));
    }
    Ok(d as usize)
}

/// The reduced dims, ascending (None or empty: all, as the kernels do).
fn reduced(ndim: usize, dims: Option<&[isize]>) -> Result<Vec<usize>> {
    let mut out = match dims {
        None | Some([]) => (0..ndim).collect(),
        Some(ds) => {
            let mut v = Vec::with_capacity(ds.len());
            for &d in ds {
                if ndim > 0 {
                    v.push(wrap(d as i64, ndim)?);
                }
            }
            v
        }
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A reduction's gradient with the reduced dims back (size 1), so it
/// broadcasts against the input.
fn keep(g: &Tensor, dims: &[usize], keepdim: bool) -> Result<Tensor> {
    if keepdim {
        return Ok(g.clone());
    }
    let mut g = g.clone();
    for &d in dims {
        g = g.unsqueeze(d as isize)?;
    }
    Ok(g)
}

fn isize_shape(s: &[usize]) -> Vec<isize> {
    s.iter().map(|&d| d as isize).collect()
}

/// Sums `g` down to `shape` (the dims broadcasting added or expanded);
/// an error when `shape` does not broadcast to `g`'s shape.
pub(crate) fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let gs = g.shape();
    if gs == shape {
        return Ok(g.clone());
    }
    if shape.len() > gs.len() {
        return Err(Error::new(ErrorKind::Shape, "not expandable"));
    }
    let lead = gs.len() - shape.len();
    let mut dims: Vec<isize> = (0..lead as isize).collect();
    for (i, &s) in shape.iter().enumerate() {
        let d = gs[lead + i];
        if s == d {
            continue;
        }
        if s != 1 {
            return Err(Error::new(ErrorKind::Shape, "not expandable"));
        }
        dims.push((lead + i) as isize);
    }
    let summed = if dims.is_empty() {
        g.clone()
    } else {
        g.sum_dim(&dims, true)?
    };
    summed.reshape(&isize_shape(shape))
}

/// A formula written as a function of the output's gradient, as the
/// engine calls it (the result written to its slots).
fn boxed(mut f: impl FnMut(&Ctx, &Tensor) -> Result<Grads> + Send + 'static) -> BackwardFn {
    Box::new(move |c, g, out| {
        *out = f(c, given(g)?)?;
        Ok(())
    })
}

/// The output's gradient the engine gives a formula.
#[inline]
fn given(g: &Option<Tensor>) -> Result<&Tensor> {
    g.as_ref().ok_or_else(no_gradient)
}

/// That gradient, taken from the engine (a formula that passes it on).
#[inline]
fn given_owned(g: &mut Option<Tensor>) -> Result<Tensor> {
    g.take().ok_or_else(no_gradient)
}

fn no_gradient() -> Error {
    Error::new(
        ErrorKind::Value,
        "internal autograd error: a backward function ran without a gradient",
    )
}

/// The formula of `x * s` (`op` Mul) or `x / s` (Div): the gradient
/// `g op s`. When the engine's gradient is an f32 tensor nothing else
/// refers to (no clone, no view: a user's `backward(gradient)` is shared,
/// a captured one is cloned first), it is scaled in place by the kernel
/// and passed on: no new tensor, and none freed (a chain of such nodes
/// allocated and freed one per node). Else through dispatch, as every
/// formula. The in-place call goes to ft-kernels directly: the buffer is
/// the engine's own, and dispatch has no in-place form with a number.
fn by_number(op: BinaryOp, s: Scalar) -> BackwardFn {
    Box::new(move |_, g, out| {
        let t = given_owned(g)?;
        let d = t.data();
        out[0] = Some(
            if d.dtype() == DType::F32 && d.is_contiguous() && d.storage_is_unique() {
                ft_kernels::binary_scalar_(op, d, s)?;
                t
            } else if op == BinaryOp::Mul {
                t.mul_scalar(s)?
            } else {
                t.div_scalar(s)?
            },
        );
        Ok(())
    })
}

/// The formula of an op whose input's gradient is its output's, unchanged
/// (`x + number`, `x - number`, `contiguous`): the engine's gradient moves
/// on, not cloned (a reference count up and down, two locked
/// instructions, per node).
fn passed_on() -> BackwardFn {
    Box::new(|_, g, out| {
        out[0] = Some(given_owned(g)?);
        Ok(())
    })
}

/// A formula of one input: its gradient written straight to its slot
/// (no three-slot array made and copied).
fn boxed_one(mut f: impl FnMut(&Tensor) -> Result<Tensor> + Send + 'static) -> BackwardFn {
    Box::new(move |_, g, out| {
        out[0] = Some(f(given(g)?)?);
        Ok(())
    })
}

fn scalar_f64(s: Scalar) -> f64 {
    s.to_f64()
}

/// `x * s` unless `s` is 1.
fn times(x: Tensor, s: Scalar) -> Result<Tensor> {
    if s.to_f64() == 1.0 {
        Ok(x)
    } else {
        x.mul_scalar(s)
    }
}

/// For each element, the product of the others in its row along `dim`
/// (all elements: one row), in f64: the gradient of `prod` without the
/// division by zero of `result / x`.
fn exclusive_prod(x: &Tensor, dim: Option<usize>) -> Result<Tensor> {
    let v = x.to_vec_f64()?;
    let shape = x.shape().to_vec();
    let (outer, len, inner) = match dim {
        None => (1, v.len(), 1),
        Some(d) if shape.is_empty() => {
            let _ = d;
            (1, 1, 1)
        }
        Some(d) => (
            shape[..d].iter().product(),
            shape[d],
            shape[d + 1..].iter().product(),
        ),
    };
    let mut out = vec![0.0f64; v.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |r: usize| (o * len + r) * inner + i;
            let mut acc = 1.0;
            for r in 0..len {
                out[at(r)] = acc;
                acc *= v[at(r)];
            }
            acc = 1.0;
            for r in (0..len).rev() {
                out[at(r)] *= acc;
                acc *= v[at(r)];
            }
        }
    }
    TensorImpl::from_fn(&shape, x.dtype(), |i| out[i]).map(Tensor::from)
}

/// `g / count` on the entries equal to the extreme `y` (NaN: on the
/// NaNs), zero elsewhere: PyTorch's `evenly_distribute_backward`.
fn evenly(g: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let nan = y.to_vec_f64()?.first().is_some_and(|v| v.is_nan());
    let mask = if nan { x.ne(x)? } else { x.eq(y)? };
    let m = mask.to_dtype(g.dtype())?;
    let n = m.sum()?;
    m.mul(&g.div(&n)?)
}

/// The backward of a `max.dim`/`min.dim` value: `g` at the selected index
/// of each row, zero elsewhere.
fn select_back(
    g: &Tensor,
    idx: &Tensor,
    shape: &[usize],
    dim: usize,
    keepdim: bool,
) -> Result<Tensor> {
    let g = keep(g, &[dim], keepdim)?;
    let idx = keep(idx, &[dim], keepdim)?;
    let n = shape.get(dim).copied().unwrap_or(1);
    let mut view = vec![1isize; shape.len().max(1)];
    view[dim] = n as isize;
    let ar = Tensor::arange(0.0, n as f64, 1.0, DType::I64)?.view(&view)?;
    let mask = ar.eq(&idx)?;
    let z = Tensor::zeros(shape, g.dtype())?;
    Tensor::where_(&mask, &g, &z)
}

/// Whether a matrix is a transposed contiguous one (column-major).
fn column_major(t: &Tensor) -> bool {
    let (sh, st) = (t.shape(), t.strides());
    sh.len() == 2 && sh[0] > 1 && sh[1] > 1 && st[0] == 1 && st[1] == sh[0] as isize
}

/// The gradient of `mat1` in `mat1 @ mat2`, laid out as `mat1` is (PyTorch's
/// `mm_mat1_backward`): for a column-major `mat1` (a transposed weight)
/// computed transposed, so that it reaches the weight contiguous.
fn mm_mat1_grad(g: &Tensor, mat2: &Tensor, mat1_col_major: bool) -> Result<Tensor> {
    if mat1_col_major {
        mat2.mm(&g.t()?)?.t()
    } else {
        g.mm(&mat2.t()?)
    }
}

/// The gradient of `mat2` in `mat1 @ mat2`, laid out as `mat2` is (PyTorch's
/// `mm_mat2_backward`): `linear`'s weight enters as `w.t()`, and its
/// gradient then arrives at `w` contiguous instead of needing a
/// transposing copy.
fn mm_mat2_grad(g: &Tensor, mat1: &Tensor, mat2_col_major: bool) -> Result<Tensor> {
    if mat2_col_major {
        g.t()?.mm(mat1)?.t()
    } else {
        mat1.t()?.mm(g)
    }
}

fn gelu_grad(g: &Tensor, x: &Tensor, approximate: &str) -> Result<Tensor> {
    if approximate == "tanh" {
        const K_BETA: f64 = 0.797_884_560_802_865_4; // sqrt(2 / pi)
        const K_KAPPA: f64 = 0.044715;
        let x_sq = x.mul(x)?;
        let x_cube = x_sq.mul(x)?;
        let inner = x.add(&x_cube.mul_scalar(K_KAPPA)?)?.mul_scalar(K_BETA)?;
        let t = inner.tanh()?;
        let left = x.mul_scalar(0.5)?;
        let right = t.add_scalar(1.0)?;
        let left_d = right.mul_scalar(0.5)?;
        let tanh_d = t.mul(&t)?.neg()?.add_scalar(1.0)?;
        let inner_d = x_sq
            .mul_scalar(3.0 * K_KAPPA)?
            .add_scalar(1.0)?
            .mul_scalar(K_BETA)?;
        let right_d = left.mul(&tanh_d)?.mul(&inner_d)?;
        g.mul(&left_d.add(&right_d)?)
    } else {
        const K_ALPHA: f64 = std::f64::consts::FRAC_1_SQRT_2;
        // 1 / sqrt(2 pi)
        const K_BETA: f64 = 0.398_942_280_401_432_7;
        let cdf = x
            .mul_scalar(K_ALPHA)?
            .erf()?
            .add_scalar(1.0)?
            .mul_scalar(0.5)?;
        let pdf = x.mul(x)?.mul_scalar(-0.5)?.exp()?.mul_scalar(K_BETA)?;
        g.mul(&cdf.add(&x.mul(&pdf)?)?)
    }
}

/// Which tensors of the frame require grad (in frame order).
fn requires(f: &Frame<'_>) -> [bool; 3] {
    let mut r = [false; 3];
    for (i, t) in f.tensors().take(3).enumerate() {
        r[i] = t.requires_grad();
    }
    r
}

/// The node name and backward function of `op`, given its frame and its
/// outputs (`second`: the indices of `max.dim`/`min.dim`). `None`: the op
/// has no formula here (in place, `out=`, composite or not
/// differentiable; the caller handles those).
pub(crate) fn formula(
    op: Op,
    f: &Frame<'_>,
    out: &TensorImpl,
    second: Option<&Tensor>,
) -> Result<Option<(&'static str, BackwardFn)>> {
    use Op::*;
    let x = f.tensor(0)?;
    let req = requires(f);
    let si = |i: usize| -> Result<Saved> { Ok(Saved::input(f.tensor(i)?)) };
    macro_rules! unary_in {
        ($name:literal, |$g:ident, $x:ident| $body:expr) => {{
            let s = Saved::input(x);
            (
                $name,
                boxed_one(move |$g| {
                    let $x = s.get()?;
                    $body
                }),
            )
        }};
    }
    macro_rules! unary_out {
        ($name:literal, |$g:ident, $y:ident| $body:expr) => {{
            let s = Saved::output(out, $name);
            (
                $name,
                boxed_one(move |$g| {
                    let $y = s.get()?;
                    $body
                }),
            )
        }};
    }
    macro_rules! plain {
        ($name:expr, |$g:ident| $body:expr) => {
            ($name, boxed_one(move |$g| $body))
        };
    }
    let r: (&'static str, BackwardFn) = match op {
        AddTensor | SubTensor => {
            let alpha = f.scalar(2)?;
            let sub = op == SubTensor;
            let name = if sub { "SubBackward0" } else { "AddBackward0" };
            (
                name,
                boxed(move |c, g| {
                    let go = if c.needs[1] {
                        let a = times(g.clone(), alpha)?;
                        Some(if sub { a.neg()? } else { a })
                    } else {
                        None
                    };
                    Ok([Some(g.clone()), go, None])
                }),
            )
        }
        AddScalar => ("AddBackward1", passed_on()),
        SubScalar => ("SubBackward1", passed_on()),
        MulTensor => {
            let so = if req[0] { Some(si(1)?) } else { None };
            let ss = if req[1] { Some(si(0)?) } else { None };
            (
                "MulBackward0",
                boxed(move |c, g| {
                    let gs = match (&so, c.needs[0]) {
                        (Some(o), true) => Some(g.mul(&o.get()?)?),
                        _ => None,
                    };
                    let go = match (&ss, c.needs[1]) {
                        (Some(s), true) => Some(g.mul(&s.get()?)?),
                        _ => None,
                    };
                    Ok([gs, go, None])
                }),
            )
        }
        MulScalar => {
            let s = f.scalar(1)?;
            ("MulBackward1", by_number(BinaryOp::Mul, s))
        }
        DivTensor => {
            let so = si(1)?;
            let ss = if req[1] { Some(si(0)?) } else { None };
            (
                "DivBackward0",
                boxed(move |c, g| {
                    let o = so.get()?;
                    let gs = if c.needs[0] { Some(g.div(&o)?) } else { None };
                    let go = match (&ss, c.needs[1]) {
                        (Some(s), true) => Some(g.mul(&s.get()?)?.div(&o.mul(&o)?)?.neg()?),
                        _ => None,
                    };
                    Ok([gs, go, None])
                }),
            )
        }
        DivScalar => {
            let s = f.scalar(1)?;
            ("DivBackward1", by_number(BinaryOp::Div, s))
        }
        RemainderTensor => {
            let (ss, so) = (si(0)?, si(1)?);
            (
                "RemainderBackward1",
                boxed(move |c, g| {
                    let go = if c.needs[1] {
                        let q = ss.get()?.div(&so.get()?)?.floor()?;
                        Some(g.mul(&q)?.neg()?)
                    } else {
                        None
                    };
                    Ok([Some(g.clone()), go, None])
                }),
            )
        }
        RemainderScalar => ("RemainderBackward0", passed_on()),
        PowScalar => {
            let e = f.scalar(1)?;
            let s = Saved::input(x);
            (
                "PowBackward0",
                boxed(move |_, g| {
                    let x = s.get()?;
                    if scalar_f64(e) == 0.0 {
                        return Ok(one(zeros_like(&x)?));
                    }
                    let em1 = match e {
                        Scalar::Int(i) => Scalar::Int(i - 1),
                        other => Scalar::Float(other.to_f64() - 1.0),
                    };
                    Ok(one(x.pow_scalar(em1)?.mul_scalar(e)?.mul(g)?))
                }),
            )
        }
        PowTensor => {
            let (ss, se) = (si(0)?, si(1)?);
            let sy = Saved::output(out, "PowBackward1");
            (
                "PowBackward1",
                boxed(move |c, g| {
                    let (x, e) = (ss.get()?, se.get()?);
                    let gs = if c.needs[0] {
                        let d = e.mul(&x.pow(&e.sub_scalar(1.0)?)?)?.mul(g)?;
                        Some(zero_where(&e.eq_scalar(0.0)?, &d)?)
                    } else {
                        None
                    };
                    let ge = if c.needs[1] {
                        let d = g.mul(&sy.get()?.mul(&x.log()?)?)?;
                        let cond = x.eq_scalar(0.0)?.logical_and(&e.ge_scalar(0.0)?)?;
                        Some(zero_where(&cond, &d)?)
                    } else {
                        None
                    };
                    Ok([gs, ge, None])
                }),
            )
        }
        Maximum | Minimum => {
            let (ss, so) = (si(0)?, si(1)?);
            let max = op == Maximum;
            let name = if max {
                "MaximumBackward0"
            } else {
                "MinimumBackward0"
            };
            (
                name,
                boxed(move |c, g| {
                    let (a, b) = (ss.get()?, so.get()?);
                    let base = Tensor::where_(&a.eq(&b)?, &g.mul_scalar(0.5)?, g)?;
                    let (lose_a, lose_b) = if max {
                        (a.lt(&b)?, a.gt(&b)?)
                    } else {
                        (a.gt(&b)?, a.lt(&b)?)
                    };
                    let gs = if c.needs[0] {
                        Some(zero_where(&lose_a, &base)?)
                    } else {
                        None
                    };
                    let go = if c.needs[1] {
                        Some(zero_where(&lose_b, &base)?)
                    } else {
                        None
                    };
                    Ok([gs, go, None])
                }),
            )
        }
        Where => {
            let sc = si(0)?;
            (
                "WhereBackward0",
                boxed(move |c, g| {
                    let cond = sc.get()?;
                    let z = lit(0.0, g.dtype())?;
                    let gs = if c.needs[1] {
                        Some(Tensor::where_(&cond, g, &z)?)
                    } else {
                        None
                    };
                    let go = if c.needs[2] {
                        Some(Tensor::where_(&cond, &z, g)?)
                    } else {
                        None
                    };
                    Ok([None, gs, go])
                }),
            )
        }
        Neg => plain!("NegBackward0", |g| g.neg()),
        Abs => unary_in!("AbsBackward0", |g, x| g.mul(&x.sign()?)),
        Sign => unary_in!("SignBackward0", |g, x| {
            let _ = g;
            zeros_like(&x)
        }),
        Floor => unary_in!("FloorBackward0", |g, x| {
            let _ = g;
            zeros_like(&x)
        }),
        Ceil => unary_in!("CeilBackward0", |g, x| {
            let _ = g;
            zeros_like(&x)
        }),
        Round => unary_in!("RoundBackward0", |g, x| {
            let _ = g;
            zeros_like(&x)
        }),
        Exp => unary_out!("ExpBackward0", |g, y| g.mul(&y)),
        Expm1 => unary_out!("Expm1Backward0", |g, y| g.mul(&y.add_scalar(1.0)?)),
        Log => unary_in!("LogBackward0", |g, x| g.div(&x)),
        Log1p => unary_in!("Log1PBackward0", |g, x| g.div(&x.add_scalar(1.0)?)),
        Sqrt => unary_out!("SqrtBackward0", |g, y| g.div(&y.mul_scalar(2.0)?)),
        Rsqrt => unary_out!("RsqrtBackward0", |g, y| g
            .mul(&y.mul(&y)?.mul(&y)?)?
            .mul_scalar(-0.5)),
        Reciprocal => unary_out!("ReciprocalBackward0", |g, y| g.mul(&y.mul(&y)?)?.neg()),
        Sin => unary_in!("SinBackward0", |g, x| g.mul(&x.cos()?)),
        Cos => unary_in!("CosBackward0", |g, x| g.mul(&x.sin()?.neg()?)),
        Tanh => unary_out!("TanhBackward0", |g, y| g
            .mul(&y.mul(&y)?.neg()?.add_scalar(1.0)?)),
        Sigmoid => unary_out!("SigmoidBackward0", |g, y| g
            .mul(&y.mul(&y.neg()?.add_scalar(1.0)?)?)),
        Relu => unary_out!("ReluBackward0", |g, y| {
            ft_kernels::threshold_backward(g.data(), y.data(), 0.0).map(Tensor::from)
        }),
        Silu => unary_in!("SiluBackward0", |g, x| {
            let s = x.sigmoid()?;
            let inner = x.mul(&s.neg()?.add_scalar(1.0)?)?.add_scalar(1.0)?;
            g.mul(&s.mul(&inner)?)
        }),
        Erf => unary_in!("ErfBackward0", |g, x| {
            let k = 2.0 / std::f64::consts::PI.sqrt();
            g.mul(&x.mul(&x)?.neg()?.exp()?.mul_scalar(k)?)
        }),
        Gelu => {
            let approximate = f.str(1)?.to_string();
            let s = Saved::input(x);
            (
                "GeluBackward0",
                boxed(move |_, g| Ok(one(gelu_grad(g, &s.get()?, &approximate)?))),
            )
        }
        Clamp => {
            let (lo, hi) = (f.opt_scalar(1)?, f.opt_scalar(2)?);
            let s = Saved::input(x);
            (
                "ClampBackward1",
                boxed(move |_, g| {
                    let x = s.get()?;
                    let mut keep: Option<Tensor> = None;
                    if let Some(lo) = lo {
                        keep = Some(x.ge_scalar(lo)?);
                    }
                    if let Some(hi) = hi {
                        let m = x.le_scalar(hi)?;
                        keep = Some(match keep {
                            Some(k) => k.logical_and(&m)?,
                            None => m,
                        });
                    }
                    Ok(one(match keep {
                        Some(k) => Tensor::where_(&k, g, &lit(0.0, g.dtype())?)?,
                        None => g.clone(),
                    }))
                }),
            )
        }
        ToDtype => {
            let dt = x.dtype();
            plain!("ToCopyBackward0", |g| g.to_dtype(dt))
        }
        Sum | SumDim | Mean | MeanDim => {
            let shape = isize_shape(x.shape());
            let (dims, keepdim) = if matches!(op, Sum | Mean) {
                ((0..x.ndim()).collect::<Vec<_>>(), true)
            } else {
                (reduced(x.ndim(), f.dims(1)?)?, f.bool(2)?)
            };
            // The mean's gradient is the sum's divided by the count.
            let n: usize = dims.iter().map(|&d| x.shape()[d]).product();
            let mean = matches!(op, Mean | MeanDim);
            let name = match op {
                Sum => "SumBackward0",
                SumDim => "SumBackward1",
                Mean => "MeanBackward0",
                _ => "MeanBackward1",
            };
            (
                name,
                boxed(move |_, g| {
                    let g = if g.ndim() == 0 {
                        g.clone()
                    } else {
                        keep(g, &dims, keepdim)?
                    };
                    let g = if mean { g.div_scalar(n as f64)? } else { g };
                    Ok(one(g.expand(&shape)?))
                }),
            )
        }
        Prod | ProdDim => {
            let s = Saved::input(x);
            let (dim, keepdim) = if op == Prod {
                (None, true)
            } else {
                (Some(wrap(f.int(1)?, x.ndim())?), f.bool(2)?)
            };
            let name = if op == Prod {
                "ProdBackward0"
            } else {
                "ProdBackward1"
            };
            (
                name,
                boxed(move |_, g| {
                    let x = s.get()?;
                    let others = exclusive_prod(&x, dim.filter(|_| x.ndim() > 0))?;
                    let g = match dim {
                        Some(d) if x.ndim() > 0 => keep(g, &[d], keepdim)?,
                        _ => g.clone(),
                    };
                    Ok(one(others.mul(&g)?))
                }),
            )
        }
        Max | Min => {
            let (s, sy) = (Saved::input(x), Saved::output(out, "MaxBackward1"));
            let name = if op == Max {
                "MaxBackward1"
            } else {
                "MinBackward1"
            };
            (
                name,
                boxed(move |_, g| Ok(one(evenly(g, &s.get()?, &sy.get()?)?))),
            )
        }
        MaxDim | MinDim => {
            let idx = second
                .ok_or_else(|| Error::new(ErrorKind::Value, "max.dim returned no indices"))?
                .detach();
            let shape = x.shape().to_vec();
            let dim = wrap(f.int(1)?, x.ndim())?;
            let keepdim = f.bool(2)?;
            let nd = x.ndim();
            let name = if op == MaxDim {
                "MaxBackward0"
            } else {
                "MinBackward0"
            };
            (
                name,
                boxed(move |_, g| {
                    if nd == 0 {
                        return Ok(one(g.clone()));
                    }
                    Ok(one(select_back(g, &idx, &shape, dim, keepdim)?))
                }),
            )
        }
        Var | Std => {
            let s = Saved::input(x);
            let dims = reduced(x.ndim(), f.dims(1)?)?;
            let c = f.opt_scalar(2)?.map_or(1.0, Scalar::to_f64);
            let keepdim = f.bool(3)?;
            let n: usize = dims.iter().map(|&d| x.shape()[d]).product();
            let std = op == Std;
            let sy = Saved::output(out, "StdBackward0");
            let name = if std { "StdBackward0" } else { "VarBackward0" };
            (
                name,
                boxed(move |_, g| {
                    let x = s.get()?;
                    let g = if std {
                        let y = sy.get()?;
                        zero_where(&y.eq_scalar(0.0)?, &g.div(&y.mul_scalar(2.0)?)?)?
                    } else {
                        g.clone()
                    };
                    let idims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
                    let mean = if idims.is_empty() {
                        x.clone()
                    } else {
                        x.mean_dim(&idims, true)?
                    };
                    let g = if x.ndim() == 0 {
                        g
                    } else {
                        keep(&g, &dims, keepdim)?
                    };
                    let k = 2.0 / (n as f64 - c);
                    Ok(one(g.mul(&x.sub(&mean)?)?.mul_scalar(k)?))
                }),
            )
        }
        Logsumexp => {
            let s = Saved::input(x);
            let sy = Saved::output(out, "LogsumexpBackward0");
            let dims = reduced(x.ndim(), f.dims(1)?)?;
            let keepdim = f.bool(2)?;
            (
                "LogsumexpBackward0",
                boxed(move |_, g| {
                    let x = s.get()?;
                    let (g, y) = if x.ndim() == 0 {
                        (g.clone(), sy.get()?)
                    } else {
                        (keep(g, &dims, keepdim)?, keep(&sy.get()?, &dims, keepdim)?)
                    };
                    Ok(one(g.mul(&x.sub(&y)?.exp()?)?))
                }),
            )
        }
        Norm | NormDim => {
            let p = f.opt_scalar(1)?.map_or(2.0, Scalar::to_f64);
            let (dims, keepdim) = if op == Norm {
                ((0..x.ndim()).collect::<Vec<_>>(), true)
            } else {
                (reduced(x.ndim(), f.dims(2)?)?, f.bool(3)?)
            };
            let s = Saved::input(x);
            // PyTorch's names: norm.Scalar is NormBackward0, norm.ScalarOpt_dim NormBackward1.
            let name = if op == Norm {
                "NormBackward0"
            } else {
                "NormBackward1"
            };
            let sy = Saved::output(out, name);
            (
                name,
                boxed(move |_, g| {
                    let x = s.get()?;
                    let (g, y) = if x.ndim() == 0 || g.ndim() == 0 && op == Norm {
                        (g.clone(), sy.get()?)
                    } else {
                        (keep(g, &dims, keepdim)?, keep(&sy.get()?, &dims, keepdim)?)
                    };
                    let r = if p == 1.0 {
                        x.sign()?.mul(&g)?
                    } else if p == 2.0 {
                        zero_where(&y.eq_scalar(0.0)?, &x.mul(&g.div(&y)?)?)?
                    } else if p == f64::INFINITY {
                        let m = x.abs()?.eq(&y)?.to_dtype(x.dtype())?;
                        let idims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
                        let count = if idims.is_empty() {
                            m.clone()
                        } else {
                            m.sum_dim(&idims, true)?
                        };
                        x.sign()?.mul(&m)?.mul(&g.div(&count)?)?
                    } else {
                        return Err(Error::new(
                            ErrorKind::Unsupported,
                            format!("norm backward: p={p} is not supported"),
                        ));
                    };
                    Ok(one(r))
                }),
            )
        }
        Softmax | LogSoftmax => {
            let dim = f.int(1)? as isize;
            let log = op == LogSoftmax;
            let name = if log {
                "LogSoftmaxBackward0"
            } else {
                "SoftmaxBackward0"
            };
            let sy = Saved::output(out, name);
            (
                name,
                boxed(move |_, g| {
                    let y = sy.get()?;
                    if y.ndim() == 0 {
                        return Ok(one(zeros_like(&y)?));
                    }
                    Ok(one(if log {
                        g.sub(&y.exp()?.mul(&g.sum_dim(&[dim], true)?)?)?
                    } else {
                        y.mul(&g.sub(&g.mul(&y)?.sum_dim(&[dim], true)?)?)?
                    }))
                }),
            )
        }
        Mm | Bmm => {
            let sa = if req[1] { Some(si(0)?) } else { None };
            let sb = if req[0] { Some(si(1)?) } else { None };
            let bmm = op == Bmm;
            let (a_cm, b_cm) = (column_major(x), column_major(f.tensor(1)?));
            let name = if bmm { "BmmBackward0" } else { "MmBackward0" };
            (
                name,
                boxed(move |c, g| {
                    let ga = match (&sb, c.needs[0]) {
                        (Some(b), true) if bmm => Some(g.bmm(&b.get()?.transpose(1, 2)?)?),
                        (Some(b), true) => Some(mm_mat1_grad(g, &b.get()?, a_cm)?),
                        _ => None,
                    };
                    let gb = match (&sa, c.needs[1]) {
                        (Some(a), true) if bmm => Some(a.get()?.transpose(1, 2)?.bmm(g)?),
                        (Some(a), true) => Some(mm_mat2_grad(g, &a.get()?, b_cm)?),
                        _ => None,
                    };
                    Ok([ga, gb, None])
                }),
            )
        }
        Addmm => {
            let s1 = if req[2] { Some(si(1)?) } else { None };
            let s2 = if req[1] { Some(si(2)?) } else { None };
            let (m1_cm, m2_cm) = (column_major(f.tensor(1)?), column_major(f.tensor(2)?));
            let (beta, alpha) = (f.scalar(3)?, f.scalar(4)?);
            (
                "AddmmBackward0",
                boxed(move |c, g| {
                    let gs = if c.needs[0] {
                        Some(times(g.clone(), beta)?)
                    } else {
                        None
                    };
                    let g1 = match (&s2, c.needs[1]) {
                        (Some(b), true) => Some(times(mm_mat1_grad(g, &b.get()?, m1_cm)?, alpha)?),
                        _ => None,
                    };
                    let g2 = match (&s1, c.needs[2]) {
                        (Some(a), true) => Some(times(mm_mat2_grad(g, &a.get()?, m2_cm)?, alpha)?),
                        _ => None,
                    };
                    Ok([gs, g1, g2])
                }),
            )
        }
        Dot => {
            let (sa, sb) = (si(0)?, si(1)?);
            (
                "DotBackward0",
                boxed(move |c, g| {
                    let ga = if c.needs[0] {
                        Some(sb.get()?.mul(g)?)
                    } else {
                        None
                    };
                    let gb = if c.needs[1] {
                        Some(sa.get()?.mul(g)?)
                    } else {
                        None
                    };
                    Ok([ga, gb, None])
                }),
            )
        }
        Mv => {
            let (sm, sv) = (si(0)?, si(1)?);
            (
                "MvBackward0",
                boxed(move |c, g| {
                    let gm = if c.needs[0] {
                        Some(g.unsqueeze(1)?.mul(&sv.get()?.unsqueeze(0)?)?)
                    } else {
                        None
                    };
                    let gv = if c.needs[1] {
                        Some(sm.get()?.t()?.mv(g)?)
                    } else {
                        None
                    };
                    Ok([gm, gv, None])
                }),
            )
        }
        View | Reshape | Flatten | Squeeze | SqueezeDim | Unsqueeze => {
            let shape = isize_shape(x.shape());
            let name = match op {
                Squeeze => "SqueezeBackward0",
                SqueezeDim => "SqueezeBackward1",
                Unsqueeze => "UnsqueezeBackward0",
                _ => "ViewBackward0",
            };
            plain!(name, |g| g.reshape(&shape))
        }
        T => plain!("TBackward0", |g| g.t()),
        Transpose => {
            let (a, b) = (f.int(1)? as isize, f.int(2)? as isize);
            plain!("TransposeBackward0", |g| g.transpose(a, b))
        }
        Permute => {
            let dims = f.dims(1)?.unwrap_or(&[]);
            let nd = x.ndim();
            let mut inv = vec![0isize; nd];
            for (i, &d) in dims.iter().enumerate() {
                inv[wrap(d as i64, nd)?] = i as isize;
            }
            plain!("PermuteBackward0", |g| g.permute(&inv))
        }
        Narrow | Select => {
            let shape = x.shape().to_vec();
            let dt = x.dtype();
            let (dim, a, b) = (
                f.int(1)? as isize,
                f.int(2)? as isize,
                if op == Narrow { f.int(3)? as isize } else { 0 },
            );
            let narrow = op == Narrow;
            let name = if narrow {
                "SliceBackward0"
            } else {
                "SelectBackward0"
            };
            plain!(name, |g| {
                let z = Tensor::zeros(&shape, dt)?;
                let part = if narrow {
                    z.narrow(dim, a, b)?
                } else {
                    z.select(dim, a)?
                };
                part.copy_(g)?;
                Ok::<_, Error>(z)
            })
        }
        Expand => {
            let shape = x.shape().to_vec();
            plain!("ExpandBackward0", |g| sum_to(g, &shape))
        }
        Contiguous => ("CloneBackward0", passed_on()),
        _ => return Ok(None),
    };
    Ok(Some(r))
}
