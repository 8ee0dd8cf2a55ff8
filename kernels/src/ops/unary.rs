//! Unary elementwise ops, `clamp`, and dtype casts, with PyTorch's dtype
//! rules (integer inputs of float functions compute in the default float).

use super::{Out, compute_dtype, made, not_implemented, run_elementwise, taken};
use crate::iter::Kernel;
use crate::map::{Half, Src, VecFn1, map1, map1_half};
use crate::math::{self, F, TRIG_REDUCE_MAX};
use crate::simd::Vf32;
use ft_core::dtype::DEFAULT_FLOAT;
use ft_core::{DType, Element, Error, ErrorKind, Operand, Result, Scalar, TensorImpl, result_type};
use half::{bf16, f16};
use std::marker::PhantomData;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Exp,
    Expm1,
    Log,
    Log1p,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    Gelu,
    GeluTanh,
    Silu,
    Erf,
    Floor,
    Ceil,
    Round,
}

/// How an op treats its input dtype.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Integers and bool compute in the default float dtype.
    Float,
    /// Floating dtypes only.
    FloatOnly(&'static str),
    /// Any dtype but bool; the result keeps the dtype.
    NoBool(&'static str),
    /// Any dtype; the result keeps it.
    Same,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 22] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Sign,
        UnaryOp::Exp,
        UnaryOp::Expm1,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Reciprocal,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Gelu,
        UnaryOp::GeluTanh,
        UnaryOp::Silu,
        UnaryOp::Erf,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Round,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Exp => "exp",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Reciprocal => "reciprocal",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Gelu => "gelu",
            UnaryOp::GeluTanh => "gelu_tanh",
            UnaryOp::Silu => "silu",
            UnaryOp::Erf => "erf",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Round => "round",
        }
    }

    fn rule(self) -> Rule {
        match self {
            UnaryOp::Neg => Rule::NoBool("neg"),
            UnaryOp::Abs => Rule::NoBool("abs_cpu"),
            UnaryOp::Relu => Rule::NoBool("relu"),
            UnaryOp::Sign => Rule::Same,
            UnaryOp::Floor => Rule::NoBool("floor_vml_cpu"),
            UnaryOp::Ceil => Rule::NoBool("ceil_vml_cpu"),
            UnaryOp::Round => Rule::NoBool("round_vml_cpu"),
            UnaryOp::Gelu | UnaryOp::GeluTanh => Rule::FloatOnly("GeluKernelImpl"),
            UnaryOp::Silu => Rule::FloatOnly("silu_cpu"),
            _ => Rule::Float,
        }
    }

    /// The result dtype for an input dtype, or PyTorch's error.
    pub fn result_dtype(self, input: DType) -> Result<DType> {
        match self.rule() {
            Rule::Float if !input.is_floating_point() => Ok(DEFAULT_FLOAT),
            Rule::FloatOnly(name) if !input.is_floating_point() => {
                Err(not_implemented(name, input))
            }
            Rule::NoBool(name) if input == DType::Bool => Err(match self {
                UnaryOp::Neg => Error::new(
                    ErrorKind::DType,
                    "Negation, the `-` operator, on a bool tensor is not supported. If you are \
                     trying to invert a mask, use the `~` or `logical_not()` operator instead.",
                ),
                UnaryOp::Relu => {
                    Error::new(ErrorKind::DType, "Boolean inputs not supported for relu")
                }
                _ => not_implemented(name, input),
            }),
            _ => Ok(input),
        }
    }
}

/// `op(x)` into a new tensor.
pub fn unary(op: UnaryOp, x: &TensorImpl) -> Result<TensorImpl> {
    taken(|slot| unary_into(op, x, slot))
}

/// [`unary`], its result put in `slot` (see [`crate::add_into`]).
pub fn unary_into(op: UnaryOp, x: &TensorImpl, slot: &mut Option<TensorImpl>) -> Result<()> {
    let r = op.result_dtype(x.dtype())?;
    run(op, x, Out::New(r, slot), r)
}

/// `op(x)` written into `out`.
///
/// PyTorch's rules for `out`'s dtype: a floating op (`exp`, `sin`, ...)
/// computes in its result dtype and casts into any `out` that dtype casts
/// to (an f16/bf16 result rounded to its dtype first, through a temporary);
/// every other unary op (`neg`, `abs`, `floor`, `relu`, ...) needs
/// `out` of exactly the input's dtype.
pub fn unary_out(op: UnaryOp, x: &TensorImpl, out: &TensorImpl) -> Result<()> {
    let r = op.result_dtype(x.dtype())?;
    if !matches!(op.rule(), Rule::Float) && out.dtype() != r {
        return Err(if op == UnaryOp::Relu {
            super::out_dtype_expected(r, out.dtype())
        } else {
            super::found_dtype(out.dtype(), r)
        });
    }
    run(op, x, Out::Into(out, r), r)
}

/// `x.op_()` in place.
pub fn unary_(op: UnaryOp, x: &TensorImpl) -> Result<()> {
    unary_out(op, x, x)
}

/// Runs `$body` with `$g` bound to the f32 vector function of `$op`, or
/// `$other` for sin/cos (whose kernel recomputes large arguments in f64).
macro_rules! with_vec_fn1 {
    ($op:expr, $g:ident => $body:expr, else $other:expr) => {
        match $op {
            UnaryOp::Neg => {
                let $g = NegF;
                $body
            }
            UnaryOp::Abs => {
                let $g = AbsF;
                $body
            }
            UnaryOp::Sign => {
                let $g = SignF;
                $body
            }
            UnaryOp::Exp => {
                let $g = ExpF;
                $body
            }
            UnaryOp::Expm1 => {
                let $g = Expm1F;
                $body
            }
            UnaryOp::Log => {
                let $g = LogF;
                $body
            }
            UnaryOp::Log1p => {
                let $g = Log1pF;
                $body
            }
            UnaryOp::Sqrt => {
                let $g = SqrtF;
                $body
            }
            UnaryOp::Rsqrt => {
                let $g = RsqrtF;
                $body
            }
            UnaryOp::Reciprocal => {
                let $g = RecipF;
                $body
            }
            UnaryOp::Tanh => {
                let $g = TanhF;
                $body
            }
            UnaryOp::Sigmoid => {
                let $g = SigmoidF;
                $body
            }
            UnaryOp::Relu => {
                let $g = ReluF;
                $body
            }
            UnaryOp::Gelu => {
                let $g = GeluF;
                $body
            }
            UnaryOp::GeluTanh => {
                let $g = GeluTanhF;
                $body
            }
            UnaryOp::Silu => {
                let $g = SiluF;
                $body
            }
            UnaryOp::Erf => {
                let $g = ErfF;
                $body
            }
            UnaryOp::Floor => {
                let $g = FloorF;
                $body
            }
            UnaryOp::Ceil => {
                let $g = CeilF;
                $body
            }
            UnaryOp::Round => {
                let $g = RoundF;
                $body
            }
            UnaryOp::Sin | UnaryOp::Cos => $other,
        }
    };
}

fn run(op: UnaryOp, x: &TensorImpl, out: Out<'_>, result: DType) -> Result<()> {
    let ins = [x];
    let trig = |out| run_elementwise(ins, out, &Trig(op == UnaryOp::Cos));
    // f16/bf16 in and out: loops that widen and narrow in registers.
    if x.dtype() == result && out.dtype() == result && in_registers(op) {
        match result {
            DType::BF16 => {
                return with_vec_fn1!(op, g => {
                    run_elementwise(ins, out, &HalfUn::<_, bf16>(g, PhantomData))
                }, else trig(out));
            }
            DType::F16 => {
                return with_vec_fn1!(op, g => {
                    run_elementwise(ins, out, &HalfUn::<_, f16>(g, PhantomData))
                }, else trig(out));
            }
            _ => {}
        }
    }
    match compute_dtype(result) {
        DType::F32 => with_vec_fn1!(op, g => run_elementwise(ins, out, &SimdUn(g)), else trig(out)),
        DType::F64 => run_elementwise(ins, out, &ScalarUn::<f64, f64, _>(f64_fn(op), PhantomData)),
        DType::I64 => int_op::<i64>(op, ins, out),
        DType::I32 => int_op::<i32>(op, ins, out),
        DType::U8 => int_op::<u8>(op, ins, out),
        DType::Bool => {
            // Only sign/floor/ceil/round reach here: all the identity.
            run_elementwise(ins, out, &ScalarUn::<bool, bool, _>(|x| x, PhantomData))
        }
        d => Err(not_implemented(op.name(), d)),
    }
}

/// The f64 function of `op` (std and libm: correctly rounded or within an
/// ulp, used as is).
fn f64_fn(op: UnaryOp) -> fn(f64) -> f64 {
    match op {
        UnaryOp::Neg => |x| -x,
        UnaryOp::Abs => f64::abs,
        UnaryOp::Sign => |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        },
        UnaryOp::Exp => f64::exp,
        UnaryOp::Expm1 => f64::exp_m1,
        UnaryOp::Log => f64::ln,
        UnaryOp::Log1p => f64::ln_1p,
        UnaryOp::Sqrt => f64::sqrt,
        UnaryOp::Rsqrt => |x| 1.0 / x.sqrt(),
        UnaryOp::Reciprocal => |x| 1.0 / x,
        UnaryOp::Sin => f64::sin,
        UnaryOp::Cos => f64::cos,
        UnaryOp::Tanh => f64::tanh,
        UnaryOp::Sigmoid => |x| 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Relu => |x| if x < 0.0 { 0.0 } else { x },
        UnaryOp::Gelu => |x| 0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)),
        UnaryOp::GeluTanh => |x| {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
        },
        UnaryOp::Silu => |x| x / (1.0 + (-x).exp()),
        UnaryOp::Erf => libm::erf,
        UnaryOp::Floor => f64::floor,
        UnaryOp::Ceil => f64::ceil,
        UnaryOp::Round => f64::round_ties_even,
    }
}

/// Integer unary ops (float functions never reach here: they promote).
trait IntUnary: Element + Ord {
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn sign(self) -> Self;
}
macro_rules! int_unary_signed {
    ($t:ty) => {
        impl IntUnary for $t {
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            fn abs(self) -> Self {
                self.wrapping_abs()
            }
            fn sign(self) -> Self {
                self.signum()
            }
        }
    };
}
int_unary_signed!(i64);
int_unary_signed!(i32);
impl IntUnary for u8 {
    fn neg(self) -> Self {
        self.wrapping_neg()
    }
    fn abs(self) -> Self {
        self
    }
    fn sign(self) -> Self {
        (self > 0) as u8
    }
}

fn int_op<T: IntUnary>(op: UnaryOp, ins: [&TensorImpl; 1], out: Out<'_>) -> Result<()> {
    let f: fn(T) -> T = match op {
        UnaryOp::Neg => T::neg,
        UnaryOp::Abs => T::abs,
        UnaryOp::Sign => T::sign,
        UnaryOp::Relu => |x| x.max(T::zero()),
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => |x| x,
        _ => return Err(not_implemented(op.name(), T::DTYPE)),
    };
    run_elementwise(ins, out, &ScalarUn::<T, T, _>(f, PhantomData))
}

/// `clamp(x, min, max)`; either bound may be absent, not both. Bounds take
/// part in type promotion as numbers; `min > max` gives `max` everywhere.
pub fn clamp(x: &TensorImpl, min: Option<Scalar>, max: Option<Scalar>) -> Result<TensorImpl> {
    let r = clamp_dtype(x, min, max)?;
    made(r, |o| run_clamp(x, min, max, o, r))
}

/// `clamp` written into `out`.
pub fn clamp_out(
    x: &TensorImpl,
    min: Option<Scalar>,
    max: Option<Scalar>,
    out: &TensorImpl,
) -> Result<()> {
    let r = clamp_dtype(x, min, max)?;
    // As the other non-floating unary ops: `out` of exactly that dtype.
    if out.dtype() != r {
        return Err(super::found_dtype(out.dtype(), r));
    }
    run_clamp(x, min, max, Out::Into(out, r), r)
}

/// `x.clamp_(min, max)`: in place, so the result dtype must cast to
/// `x`'s (PyTorch's in-place rule, not `out=`'s exact one).
pub fn clamp_(x: &TensorImpl, min: Option<Scalar>, max: Option<Scalar>) -> Result<()> {
    let r = clamp_dtype(x, min, max)?;
    run_clamp(x, min, max, Out::Into(x, r), r)
}

fn clamp_dtype(x: &TensorImpl, min: Option<Scalar>, max: Option<Scalar>) -> Result<DType> {
    if min.is_none() && max.is_none() {
        return Err(Error::new(
            ErrorKind::Value,
            "torch.clamp: At least one of 'min' or 'max' must not be None",
        ));
    }
    let me = if x.ndim() == 0 {
        Operand::ZeroDim(x.dtype())
    } else {
        Operand::Tensor(x.dtype())
    };
    let mut ops = vec![me];
    ops.extend(min.into_iter().chain(max).map(Operand::Scalar));
    let r = result_type(&ops).expect("non-empty");
    // clamp of bool promotes to int64 (the bounds are ints).
    Ok(if r == DType::Bool { DType::I64 } else { r })
}

// `with_dtype!` instantiates the comparisons for bool too.
#[allow(clippy::bool_comparison)]
fn run_clamp(
    x: &TensorImpl,
    min: Option<Scalar>,
    max: Option<Scalar>,
    out: Out<'_>,
    r: DType,
) -> Result<()> {
    ft_core::with_dtype!(compute_dtype(r), T => {
        let lo = min.map(T::from_scalar);
        let hi = max.map(T::from_scalar);
        let f = move |v: T| {
            // NaN stays NaN: comparisons with it are false.
            #[allow(clippy::eq_op)]
            if v != v {
                return v;
            }
            let mut y = v;
            if let Some(l) = lo && y < l {
                y = l;
            }
            if let Some(h) = hi && y > h {
                y = h;
            }
            y
        };
        run_elementwise([x], out, &ScalarUn::<T, T, _>(f, PhantomData))
    })
}

/// `x.to(dtype)`: PyTorch's conversion of every element (a copy, also when
/// the dtype is unchanged).
pub fn cast(x: &TensorImpl, dtype: DType) -> Result<TensorImpl> {
    ft_core::with_dtype!(dtype, T => {
        made(dtype, |o| run_elementwise([x], o, &ScalarUn::<T, T, _>(|v: T| v, PhantomData)))
    })
}

/// Copies `src` into `dst` (broadcasting `src`, converting dtypes).
pub fn copy_(dst: &TensorImpl, src: &TensorImpl) -> Result<()> {
    let expanded;
    let src = if src.shape() == dst.shape() {
        src
    } else {
        // PyTorch's copy_ broadcasts `src` with `dst` (its errors: the
        // broadcast's, then a broadcast shape that is not `dst`'s).
        let b = crate::iter::broadcast_shapes(&[dst.shape(), src.shape()])?;
        if &b[..] != dst.shape() {
            return Err(super::broadcast_mismatch(dst.shape(), &b));
        }
        let mut sizes = [0isize; ft_core::MAX_DIMS];
        for (s, &d) in sizes.iter_mut().zip(dst.shape()) {
            *s = d as isize;
        }
        expanded = src.expand(&sizes[..dst.ndim()])?;
        &expanded
    };
    ft_core::with_dtype!(dst.dtype(), T => {
        run_elementwise([src], Out::Into(dst, dst.dtype()), &ScalarUn::<T, T, _>(|v: T| v, PhantomData))
    })
}

struct SimdUn<G>(G);

impl<G: VecFn1> Kernel<1> for SimdUn<G> {
    type In = f32;
    type Out = f32;
    #[inline(always)]
    fn run<S: Vf32>(&self, s: S, out: &mut [f32], ins: [Src<'_, f32>; 1], stream: bool) {
        match ins[0] {
            Src::Slice(x) => map1(s, self.0, x, out, stream),
            Src::Splat(v) => {
                let mut one = [0.0f32];
                map1(pulp::Scalar::new(), self.0, &[v], &mut one, false);
                out.fill(one[0]);
            }
        }
    }
}

/// Whether f16/bf16 `op` runs in the half loops ([`HalfUn`]) on this ISA.
/// Not sin/cos (their kernel recomputes large arguments in f64), and not
/// the polynomial functions on AVX2: with 16 vector registers their
/// constants and the conversion's do not fit, the loop spills, and the
/// engine's widen / f32 loop / narrow passes run faster (bf16 `exp` 6.4
/// against 5.0 GB/s; `perf-artifacts/kernels-v19-half-loops.md`).
fn in_registers(op: UnaryOp) -> bool {
    use UnaryOp::*;
    match op {
        Sin | Cos => false,
        Exp | Expm1 | Log | Log1p | Tanh | Sigmoid | Gelu | GeluTanh | Silu | Erf => {
            crate::isa::isa() != crate::isa::Isa::Avx2
        }
        Neg | Abs | Sign | Sqrt | Rsqrt | Reciprocal | Relu | Floor | Ceil | Round => true,
    }
}

/// An f32 vector function over f16/bf16 in and out ([`map1_half`]).
struct HalfUn<G, H>(G, PhantomData<H>);

impl<G: VecFn1, H: Half> Kernel<1> for HalfUn<G, H> {
    type In = H;
    type Out = H;
    #[inline(always)]
    fn run<S: Vf32>(&self, s: S, out: &mut [H], ins: [Src<'_, H>; 1], _stream: bool) {
        match ins[0] {
            Src::Slice(x) => map1_half(s, self.0, x, out),
            Src::Splat(v) => {
                let mut one = [H::zero()];
                map1_half(pulp::Scalar::new(), self.0, &[v], &mut one);
                out.fill(one[0]);
            }
        }
    }
}

/// sin/cos: the vector path, then lanes beyond the reduction's range
/// recomputed in f64.
struct Trig(bool);

impl Kernel<1> for Trig {
    type In = f32;
    type Out = f32;
    #[inline(always)]
    fn run<S: Vf32>(&self, s: S, out: &mut [f32], ins: [Src<'_, f32>; 1], _stream: bool) {
        let fix = |x: f32| {
            let x = x as f64;
            (if self.0 { x.cos() } else { x.sin() }) as f32
        };
        match ins[0] {
            Src::Slice(x) => {
                if self.0 {
                    map1(s, CosF, x, out, false)
                } else {
                    map1(s, SinF, x, out, false)
                }
                for (o, &v) in out.iter_mut().zip(x) {
                    if v.abs() > TRIG_REDUCE_MAX && v.is_finite() {
                        *o = fix(v);
                    }
                }
            }
            Src::Splat(v) => {
                let mut one = [0.0f32];
                if self.0 {
                    map1(pulp::Scalar::new(), CosF, &[v], &mut one, false)
                } else {
                    map1(pulp::Scalar::new(), SinF, &[v], &mut one, false)
                }
                if v.abs() > TRIG_REDUCE_MAX && v.is_finite() {
                    one[0] = fix(v);
                }
                out.fill(one[0]);
            }
        }
    }
}

struct ScalarUn<I, O, Fun>(Fun, PhantomData<fn(I) -> O>);

impl<I: Element, O: Element, Fun: Fn(I) -> O + Sync> Kernel<1> for ScalarUn<I, O, Fun> {
    type In = I;
    type Out = O;
    #[inline(always)]
    fn run<S: Vf32>(&self, _s: S, out: &mut [O], ins: [Src<'_, I>; 1], _stream: bool) {
        match ins[0] {
            Src::Slice(x) => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = (self.0)(v);
                }
            }
            Src::Splat(v) => out.fill((self.0)(v)),
        }
    }
}

macro_rules! vecfn1 {
    ($($name:ident => |$s:ident, $x:ident| $body:expr;)*) => {
        $(
            #[derive(Clone, Copy)]
            struct $name;
            impl VecFn1 for $name {
                #[inline(always)]
                fn apply<S: Vf32>(self, $s: S, $x: F<S>) -> F<S> {
                    $body
                }
            }
        )*
    };
}

vecfn1! {
    NegF => |s, x| s.neg_f32s(x);
    AbsF => |s, x| s.abs_f32s(x);
    // 1, -1 or +0 (PyTorch: sign(-0.0) = 0, sign(NaN) = 0).
    SignF => |s, x| {
        let one = s.splat_f32s(1.0);
        let zero = s.splat_f32s(0.0);
        let pos = s.select_f32s(s.greater_than_f32s(x, zero), one, zero);
        let neg = s.select_f32s(s.less_than_f32s(x, zero), one, zero);
        s.sub_f32s(pos, neg)
    };
    ExpF => |s, x| math::exp(s, x);
    Expm1F => |s, x| math::expm1(s, x);
    LogF => |s, x| math::log(s, x);
    Log1pF => |s, x| math::log1p(s, x);
    SqrtF => |s, x| s.sqrt_f32s(x);
    RsqrtF => |s, x| s.div_f32s(s.splat_f32s(1.0), s.sqrt_f32s(x));
    RecipF => |s, x| s.div_f32s(s.splat_f32s(1.0), x);
    SinF => |s, x| math::sin(s, x);
    CosF => |s, x| math::cos(s, x);
    TanhF => |s, x| math::tanh(s, x);
    SigmoidF => |s, x| math::sigmoid(s, x);
    // relu(-0.0) = -0.0 and relu(NaN) = NaN, as PyTorch.
    ReluF => |s, x| s.select_f32s(s.less_than_f32s(x, s.splat_f32s(0.0)), s.splat_f32s(0.0), x);
    GeluF => |s, x| math::gelu(s, x);
    GeluTanhF => |s, x| math::gelu_tanh(s, x);
    SiluF => |s, x| math::silu(s, x);
    ErfF => |s, x| math::erf(s, x);
    FloorF => |s, x| s.floor_f32s(x);
    CeilF => |s, x| s.ceil_f32s(x);
    RoundF => |s, x| s.round_f32s(x);
}
