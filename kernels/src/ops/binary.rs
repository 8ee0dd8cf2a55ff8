//! Binary elementwise ops with PyTorch's dtype rules: arithmetic, division,
//! remainder, pow, maximum/minimum, comparisons, logical ops, and `where`.

use super::{
    Out, compute_dtype, dense_number, dense_number_in_place, dense_pair, made, not_implemented,
    run_elementwise, taken,
};
use crate::iter::Kernel;
use crate::map::{Half, HalfSrc, Src, VecFn2, map2, map2_half};
use crate::math::F;
use crate::simd::Vf32;
use ft_core::{DType, Element, Error, ErrorKind, Operand, Result, Scalar, TensorImpl, result_type};
use half::{bf16, f16};
use std::marker::PhantomData;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Remainder,
    Pow,
    Maximum,
    Minimum,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 17] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Remainder,
        BinaryOp::Pow,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::LogicalAnd,
        BinaryOp::LogicalOr,
        BinaryOp::LogicalXor,
    ];

    /// PyTorch's name for the op.
    pub const fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Remainder => "remainder",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::LogicalAnd => "logical_and",
            BinaryOp::LogicalOr => "logical_or",
            BinaryOp::LogicalXor => "logical_xor",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }

    pub fn is_logical(self) -> bool {
        matches!(
            self,
            BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::LogicalXor
        )
    }
}

/// The dtypes of one binary call: what the result is, and what the kernel
/// computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryTypes {
    pub result: DType,
    pub compute: DType,
}

fn is_bool(o: Operand) -> bool {
    match o {
        Operand::Tensor(d) | Operand::ZeroDim(d) => d == DType::Bool,
        Operand::Scalar(s) => matches!(s, ft_core::Scalar::Bool(_)),
    }
}

/// Whether an operand is an f32 tensor (0-dim or not).
#[inline]
fn f32_tensor(o: Operand) -> bool {
    matches!(
        o,
        Operand::Tensor(DType::F32) | Operand::ZeroDim(DType::F32)
    )
}

/// PyTorch's dtype rules for `op` over these operands.
#[inline]
pub fn binary_types(op: BinaryOp, a: Operand, b: Operand) -> Result<BinaryTypes> {
    // Two f32 tensors, or an f32 tensor and a number that is not a bool
    // (f32 wins either way, and no rule fails): what the rules give,
    // without them (`the_f32_shortcut_gives_what_the_rules_give`).
    let f32_only = match (a, b) {
        (Operand::Scalar(_), Operand::Scalar(_)) => false,
        (Operand::Scalar(s), t) | (t, Operand::Scalar(s)) => {
            f32_tensor(t) && !matches!(s, ft_core::Scalar::Bool(_))
        }
        (x, y) => f32_tensor(x) && f32_tensor(y),
    };
    if f32_only {
        return Ok(BinaryTypes {
            result: if op.is_comparison() || op.is_logical() {
                DType::Bool
            } else {
                DType::F32
            },
            compute: if op.is_logical() {
                DType::Bool
            } else {
                DType::F32
            },
        });
    }
    by_rules(op, a, b)
}

/// [`binary_types`] by PyTorch's rules.
fn by_rules(op: BinaryOp, a: Operand, b: Operand) -> Result<BinaryTypes> {
    let common = result_type(&[a, b]).expect("two operands");
    let result = match op {
        _ if op.is_comparison() || op.is_logical() => DType::Bool,
        BinaryOp::Div if !common.is_floating_point() => ft_core::dtype::DEFAULT_FLOAT,
        BinaryOp::Sub if common == DType::Bool => {
            return Err(Error::new(
                ErrorKind::DType,
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the \
                 `^` or `logical_xor()` operator instead.",
            ));
        }
        BinaryOp::Sub if is_bool(a) || is_bool(b) => {
            return Err(Error::new(
                ErrorKind::DType,
                "Subtraction, the `-` operator, with a bool tensor is not supported. If you are \
                 trying to invert a mask, use the `~` or `logical_not()` operator instead.",
            ));
        }
        BinaryOp::Pow | BinaryOp::Remainder if common == DType::Bool => {
            return Err(not_implemented(op.name(), common));
        }
        _ => common,
    };
    let compute = if op.is_logical() {
        DType::Bool
    } else if op.is_comparison() {
        compute_dtype(common)
    } else {
        compute_dtype(result)
    };
    Ok(BinaryTypes { result, compute })
}

fn operand(t: &TensorImpl) -> Operand {
    if t.ndim() == 0 {
        Operand::ZeroDim(t.dtype())
    } else {
        Operand::Tensor(t.dtype())
    }
}

/// `op(a, b)` into a new tensor.
pub fn binary(op: BinaryOp, a: &TensorImpl, b: &TensorImpl) -> Result<TensorImpl> {
    taken(|slot| binary_into(op, a, b, slot))
}

/// [`binary`], its result put in `slot` (see [`add_into`]).
pub fn binary_into(
    op: BinaryOp,
    a: &TensorImpl,
    b: &TensorImpl,
    slot: &mut Option<TensorImpl>,
) -> Result<()> {
    let ty = binary_types(op, operand(a), operand(b))?;
    run(op, a, b, Scalar::Int(1), Out::New(ty.result, slot), ty)
}

/// `op(a, b)` written into `out` (no allocation when nothing needs a copy).
/// An f16/bf16 result is rounded to its dtype before it is cast into an
/// `out` of another, as PyTorch's common dtype is (through a temporary).
pub fn binary_out(op: BinaryOp, a: &TensorImpl, b: &TensorImpl, out: &TensorImpl) -> Result<()> {
    let ty = binary_types(op, operand(a), operand(b))?;
    run(op, a, b, Scalar::Int(1), Out::Into(out, ty.result), ty)
}

/// `a.op_(b)`: in place into `a`.
pub fn binary_(op: BinaryOp, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    binary_out(op, a, b, a)
}

/// `op(a, s)` for a Python-style number `s` (promotes as a wrapped number).
pub fn binary_scalar(op: BinaryOp, a: &TensorImpl, s: Scalar) -> Result<TensorImpl> {
    taken(|slot| binary_scalar_into(op, a, s, slot))
}

/// [`binary_scalar`], its result put in `slot` (see [`add_into`]).
pub fn binary_scalar_into(
    op: BinaryOp,
    a: &TensorImpl,
    s: Scalar,
    slot: &mut Option<TensorImpl>,
) -> Result<()> {
    let ty = binary_types(op, operand(a), Operand::Scalar(s))?;
    let mut o = Out::New(ty.result, slot);
    if let Some(done) = number_fast(op, a, s, false, ty, &mut o) {
        return done;
    }
    let b = scalar_tensor(s, ty)?;
    run(op, a, &b, Scalar::Int(1), o, ty)
}

/// `op(s, a)` for a number on the left (e.g. `2 - a`, `2 ** a`).
pub fn scalar_binary(op: BinaryOp, s: Scalar, a: &TensorImpl) -> Result<TensorImpl> {
    let ty = binary_types(op, Operand::Scalar(s), operand(a))?;
    made(ty.result, |mut o| {
        if let Some(done) = number_fast(op, a, s, true, ty, &mut o) {
            return done;
        }
        let b = scalar_tensor(s, ty)?;
        run(op, &b, a, Scalar::Int(1), o, ty)
    })
}

/// The small dense path of a tensor-number op whose f32 kernel is SIMD
/// ([`dense_number`]); `None` sends the call the general way.
fn number_fast(
    op: BinaryOp,
    t: &TensorImpl,
    s: Scalar,
    number_first: bool,
    ty: BinaryTypes,
    out: &mut Out<'_>,
) -> Option<Result<()>> {
    if ty.compute != DType::F32 {
        return None;
    }
    let (op, alpha) = as_add(op, Scalar::Int(1));
    with_simd_f32!(op, alpha, k => dense_number(t, s, number_first, ty.compute, out, &k), else None)
}

/// `a.op_(s)` in place.
pub fn binary_scalar_(op: BinaryOp, a: &TensorImpl, s: Scalar) -> Result<()> {
    let ty = binary_types(op, operand(a), Operand::Scalar(s))?;
    if ty.result == DType::F32 && ty.compute == DType::F32 {
        let (op, alpha) = as_add(op, Scalar::Int(1));
        if let Some(done) =
            with_simd_f32!(op, alpha, k => dense_number_in_place(a, s, &k), else None)
        {
            return done;
        }
    }
    let b = scalar_tensor(s, ty)?;
    run(op, a, &b, Scalar::Int(1), Out::Into(a, ty.result), ty)
}

/// The scalar as a 0-dim tensor of the dtype the kernel computes in (PyTorch
/// converts the number to the common dtype once).
fn scalar_tensor(s: Scalar, ty: BinaryTypes) -> Result<TensorImpl> {
    TensorImpl::full(&[], s, ty.compute)
}

/// `a + alpha * b`.
pub fn add(a: &TensorImpl, b: &TensorImpl, alpha: Scalar) -> Result<TensorImpl> {
    taken(|slot| add_into(a, b, alpha, slot))
}

/// [`add`], its result put in `slot` (the caller's) rather than returned:
/// dispatch passes the slot its caller reads, so a new small tensor is
/// written once where it is used, not moved out through each layer (every
/// move of one just made waited on a failed store forward; see
/// `perf-artifacts/dispatch-v8-moves.md`). On `Err`, `slot` is unchanged.
pub fn add_into(
    a: &TensorImpl,
    b: &TensorImpl,
    alpha: Scalar,
    slot: &mut Option<TensorImpl>,
) -> Result<()> {
    alpha_into(BinaryOp::Add, a, b, alpha, slot)
}

/// `a - alpha * b`.
pub fn sub(a: &TensorImpl, b: &TensorImpl, alpha: Scalar) -> Result<TensorImpl> {
    taken(|slot| sub_into(a, b, alpha, slot))
}

/// [`sub`], its result put in `slot` (see [`add_into`]).
pub fn sub_into(
    a: &TensorImpl,
    b: &TensorImpl,
    alpha: Scalar,
    slot: &mut Option<TensorImpl>,
) -> Result<()> {
    alpha_into(BinaryOp::Sub, a, b, alpha, slot)
}

/// `a op alpha * b` (add or sub) into a new tensor in `slot`.
#[inline]
fn alpha_into(
    op: BinaryOp,
    a: &TensorImpl,
    b: &TensorImpl,
    alpha: Scalar,
    slot: &mut Option<TensorImpl>,
) -> Result<()> {
    let ty = binary_types(op, operand(a), operand(b))?;
    run(op, a, b, alpha, Out::New(ty.result, slot), ty)
}

/// `out = a + alpha * b`.
pub fn add_out(a: &TensorImpl, b: &TensorImpl, alpha: Scalar, out: &TensorImpl) -> Result<()> {
    let ty = binary_types(BinaryOp::Add, operand(a), operand(b))?;
    run(BinaryOp::Add, a, b, alpha, Out::Into(out, ty.result), ty)
}

/// `a += alpha * b` in place.
pub fn add_(a: &TensorImpl, b: &TensorImpl, alpha: Scalar) -> Result<()> {
    add_out(a, b, alpha, a)
}

/// `out = a - alpha * b`.
pub fn sub_out(a: &TensorImpl, b: &TensorImpl, alpha: Scalar, out: &TensorImpl) -> Result<()> {
    let ty = binary_types(BinaryOp::Sub, operand(a), operand(b))?;
    run(BinaryOp::Sub, a, b, alpha, Out::Into(out, ty.result), ty)
}

/// `a -= alpha * b` in place.
pub fn sub_(a: &TensorImpl, b: &TensorImpl, alpha: Scalar) -> Result<()> {
    sub_out(a, b, alpha, a)
}

fn check_alpha(op: BinaryOp, alpha: Scalar, result: DType) -> Result<()> {
    if !matches!(op, BinaryOp::Add | BinaryOp::Sub) || alpha == Scalar::Int(1) {
        return Ok(());
    }
    if matches!(alpha, Scalar::Float(_)) && !result.is_floating_point() {
        return Err(Error::new(
            ErrorKind::Value,
            "For integral input tensors, argument alpha must not be a floating point number.",
        ));
    }
    if matches!(alpha, Scalar::Bool(_)) && result != DType::Bool {
        return Err(Error::new(
            ErrorKind::Value,
            "Boolean alpha only supported for Boolean results.",
        ));
    }
    Ok(())
}

/// Sub is add with -alpha, exactly as PyTorch defines it.
#[inline(always)]
fn as_add(op: BinaryOp, alpha: Scalar) -> (BinaryOp, Scalar) {
    match (op, alpha) {
        (BinaryOp::Sub, Scalar::Int(i)) => (BinaryOp::Add, Scalar::Int(i.wrapping_neg())),
        (BinaryOp::Sub, Scalar::Float(f)) => (BinaryOp::Add, Scalar::Float(-f)),
        other => other,
    }
}

/// Runs `$body` with `$k` bound to the SIMD f32 kernel of `$op` (after
/// [`as_add`]), or `$other` when the op has none: one table for the
/// general path and the number path, so both run the same kernel.
macro_rules! with_simd_f32 {
    ($op:expr, $alpha:expr, $k:ident => $body:expr, else $other:expr) => {
        match $op {
            BinaryOp::Add if $alpha == Scalar::Int(1) => {
                let $k = SimdBin(AddF);
                $body
            }
            BinaryOp::Add => {
                let $k = SimdBin(AddAlphaF($alpha.to_f64() as f32));
                $body
            }
            BinaryOp::Mul => {
                let $k = SimdBin(MulF);
                $body
            }
            BinaryOp::Div => {
                let $k = SimdBin(DivF);
                $body
            }
            BinaryOp::Maximum => {
                let $k = SimdBin(MaxF);
                $body
            }
            BinaryOp::Minimum => {
                let $k = SimdBin(MinF);
                $body
            }
            _ => $other,
        }
    };
}
use with_simd_f32;

fn run(
    op: BinaryOp,
    a: &TensorImpl,
    b: &TensorImpl,
    alpha: Scalar,
    out: Out<'_>,
    ty: BinaryTypes,
) -> Result<()> {
    let mut out = out;
    if ty.compute == DType::F32 && ty.result == DType::F32 {
        let (op, alpha) = as_add(op, alpha);
        if let Some(done) =
            with_simd_f32!(op, alpha, k => dense_pair(a, b, &mut out, &k), else None)
        {
            return done;
        }
    }
    check_alpha(op, alpha, ty.result)?;
    let (op, alpha) = as_add(op, alpha);
    let half = matches!(ty.result, DType::BF16 | DType::F16);
    if half
        && ty.compute == DType::F32
        && out.dtype() == ty.result
        && has_simd_f32(op)
        && let Some(ins) = half_ins(a, b, ty.result)?
    {
        return match ty.result {
            DType::BF16 => run_half::<bf16>(op, alpha, ins, out),
            _ => run_half::<f16>(op, alpha, ins, out),
        };
    }
    if op == BinaryOp::Remainder && ty.compute.is_integral(false) {
        check_no_zero_divisor(b)?;
    }
    let ins = [a, b];
    macro_rules! scalar {
        ($T:ty, $O:ty, $f:expr) => {
            run_elementwise(ins, out, &ScalarBin::<$T, $O, _>($f, PhantomData))
        };
    }
    match ty.compute {
        DType::F32 => with_simd_f32!(op, alpha, k => run_elementwise(ins, out, &k),
            else typed::<f32>(op, alpha, ins, out)),
        DType::F64 => typed::<f64>(op, alpha, ins, out),
        DType::I64 => typed::<i64>(op, alpha, ins, out),
        DType::I32 => typed::<i32>(op, alpha, ins, out),
        DType::U8 => typed::<u8>(op, alpha, ins, out),
        DType::Bool => match op {
            BinaryOp::Add | BinaryOp::Maximum | BinaryOp::LogicalOr => {
                scalar!(bool, bool, |x: bool, y: bool| x | y)
            }
            BinaryOp::Mul | BinaryOp::Minimum | BinaryOp::LogicalAnd => {
                scalar!(bool, bool, |x: bool, y: bool| x & y)
            }
            BinaryOp::LogicalXor | BinaryOp::Ne => scalar!(bool, bool, |x: bool, y: bool| x ^ y),
            BinaryOp::Eq => scalar!(bool, bool, |x: bool, y: bool| x == y),
            BinaryOp::Lt => scalar!(bool, bool, |x: bool, y: bool| !x & y),
            BinaryOp::Le => scalar!(bool, bool, |x: bool, y: bool| x <= y),
            BinaryOp::Gt => scalar!(bool, bool, |x: bool, y: bool| x & !y),
            BinaryOp::Ge => scalar!(bool, bool, |x: bool, y: bool| x >= y),
            _ => Err(not_implemented(op.name(), DType::Bool)),
        },
        d => Err(not_implemented(op.name(), d)),
    }
}

/// Whether `op` (after [`as_add`]) has an f32 SIMD kernel.
fn has_simd_f32(op: BinaryOp) -> bool {
    with_simd_f32!(op, Scalar::Int(1), _k => true, else false)
}

/// The operands of an f16/bf16 op in the half loops: both tensors of the
/// result's dtype, or one such tensor and a 0-dim tensor of another dtype
/// (a number, as `a * 0.5` becomes), whose value is taken as the f32 the
/// f32 kernel would have read.
enum HalfIns<'a> {
    Tensors([&'a TensorImpl; 2]),
    Number {
        t: &'a TensorImpl,
        v: f32,
        number_first: bool,
    },
}

/// [`HalfIns`] for `a` and `b` with results of `dtype`, if they are so.
fn half_ins<'a>(a: &'a TensorImpl, b: &'a TensorImpl, dtype: DType) -> Result<Option<HalfIns<'a>>> {
    let number = |n: &TensorImpl| n.ndim() == 0 && n.device().is_cpu();
    // The value the engine's cast would give the f32 kernel.
    let value = |n: &TensorImpl| n.item().map(f32::from_scalar);
    Ok(Some(match (a.dtype() == dtype, b.dtype() == dtype) {
        (true, true) => HalfIns::Tensors([a, b]),
        (true, false) if number(b) => HalfIns::Number {
            t: a,
            v: value(b)?,
            number_first: false,
        },
        (false, true) if number(a) => HalfIns::Number {
            t: b,
            v: value(a)?,
            number_first: true,
        },
        _ => return Ok(None),
    }))
}

/// `op` of f16/bf16 operands by the half loops.
fn run_half<H: Half>(op: BinaryOp, alpha: Scalar, ins: HalfIns<'_>, out: Out<'_>) -> Result<()> {
    with_simd_f32!(op, alpha, k => match ins {
        HalfIns::Tensors(ts) => run_elementwise(ts, out, &HalfBin::<_, H>(k.0, PhantomData)),
        HalfIns::Number { t, v, number_first } => run_elementwise(
            [t],
            out,
            &HalfNum::<_, H> { g: k.0, v, number_first, h: PhantomData },
        ),
    }, else Err(not_implemented(op.name(), H::DTYPE)))
}

/// An f32 vector function of two f16/bf16 inputs ([`map2_half`]).
struct HalfBin<G, H>(G, PhantomData<H>);

impl<G: VecFn2, H: Half> Kernel<2> for HalfBin<G, H> {
    type In = H;
    type Out = H;
    #[inline(always)]
    fn run<S: Vf32>(&self, s: S, out: &mut [H], ins: [Src<'_, H>; 2], _stream: bool) {
        map2_half(s, self.0, ins[0].into(), ins[1].into(), out)
    }
}

/// An f32 vector function of an f16/bf16 input and an f32 number.
struct HalfNum<G, H> {
    g: G,
    v: f32,
    number_first: bool,
    h: PhantomData<H>,
}

impl<G: VecFn2, H: Half> Kernel<1> for HalfNum<G, H> {
    type In = H;
    type Out = H;
    #[inline(always)]
    fn run<S: Vf32>(&self, s: S, out: &mut [H], ins: [Src<'_, H>; 1], _stream: bool) {
        let (x, v) = (ins[0].into(), HalfSrc::Splat(self.v));
        if self.number_first {
            map2_half(s, self.g, v, x, out)
        } else {
            map2_half(s, self.g, x, v, out)
        }
    }
}

/// PyTorch raises on integer division by zero in `remainder`.
fn check_no_zero_divisor(b: &TensorImpl) -> Result<()> {
    if b.to_vec_f64()?.contains(&0.0) {
        return Err(Error::new(ErrorKind::Value, "ZeroDivisionError"));
    }
    Ok(())
}

/// Scalar arithmetic with PyTorch's semantics for one compute type.
pub trait Arith: Element + PartialOrd {
    fn add(a: Self, b: Self) -> Self;
    fn add_alpha(a: Self, b: Self, alpha: Self) -> Self;
    fn mul(a: Self, b: Self) -> Self;
    fn div(a: Self, b: Self) -> Self;
    fn rem(a: Self, b: Self) -> Self;
    fn pow(a: Self, b: Self) -> Self;
    fn maximum(a: Self, b: Self) -> Self;
    fn minimum(a: Self, b: Self) -> Self;
}

macro_rules! arith_float {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)]
            fn add(a: Self, b: Self) -> Self {
                a + b
            }
            #[inline(always)]
            fn add_alpha(a: Self, b: Self, alpha: Self) -> Self {
                a + alpha * b
            }
            #[inline(always)]
            fn mul(a: Self, b: Self) -> Self {
                a * b
            }
            #[inline(always)]
            fn div(a: Self, b: Self) -> Self {
                a / b
            }
            #[inline(always)]
            fn rem(a: Self, b: Self) -> Self {
                // Python's modulo: the sign of the divisor.
                let m = a % b;
                if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
                    m + b
                } else {
                    m
                }
            }
            #[inline(always)]
            fn pow(a: Self, b: Self) -> Self {
                a.powf(b)
            }
            #[inline(always)]
            fn maximum(a: Self, b: Self) -> Self {
                if a.is_nan() || b.is_nan() {
                    Self::NAN
                } else if a > b {
                    a
                } else {
                    b
                }
            }
            #[inline(always)]
            fn minimum(a: Self, b: Self) -> Self {
                if a.is_nan() || b.is_nan() {
                    Self::NAN
                } else if a < b {
                    a
                } else {
                    b
                }
            }
        }
    };
}
arith_float!(f32);
arith_float!(f64);

macro_rules! arith_int {
    ($t:ty, $signed:expr) => {
        impl Arith for $t {
            #[inline(always)]
            fn add(a: Self, b: Self) -> Self {
                a.wrapping_add(b)
            }
            #[inline(always)]
            fn add_alpha(a: Self, b: Self, alpha: Self) -> Self {
                a.wrapping_add(alpha.wrapping_mul(b))
            }
            #[inline(always)]
            fn mul(a: Self, b: Self) -> Self {
                a.wrapping_mul(b)
            }
            #[inline(always)]
            fn div(a: Self, b: Self) -> Self {
                // Integer true division never reaches here (it promotes to
                // float); kept total for completeness.
                if b == 0 { 0 } else { a.wrapping_div(b) }
            }
            #[inline(always)]
            fn rem(a: Self, b: Self) -> Self {
                if b == 0 {
                    return 0; // checked before the kernel runs
                }
                let m = a.wrapping_rem(b);
                #[allow(unused_comparisons)]
                if $signed && m != 0 && ((m < 0) != (b < 0)) {
                    m.wrapping_add(b)
                } else {
                    m
                }
            }
            #[inline(always)]
            fn pow(a: Self, b: Self) -> Self {
                #[allow(unused_comparisons)]
                if b < 0 {
                    // PyTorch: 1 for base 1, +-1 for base -1, else 0.
                    return match a as i64 {
                        1 => 1,
                        -1 => {
                            if (b as i64) % 2 == 0 {
                                1
                            } else {
                                (0 as $t).wrapping_sub(1)
                            }
                        }
                        _ => 0,
                    };
                }
                a.wrapping_pow(b as u32)
            }
            #[inline(always)]
            fn maximum(a: Self, b: Self) -> Self {
                a.max(b)
            }
            #[inline(always)]
            fn minimum(a: Self, b: Self) -> Self {
                a.min(b)
            }
        }
    };
}
arith_int!(i64, true);
arith_int!(i32, true);
arith_int!(u8, false);

/// The scalar-loop kernel of `op` for compute type `T`.
fn typed<T: Arith>(op: BinaryOp, alpha: Scalar, ins: [&TensorImpl; 2], out: Out<'_>) -> Result<()> {
    macro_rules! k {
        ($O:ty, $f:expr) => {
            run_elementwise(ins, out, &ScalarBin::<T, $O, _>($f, PhantomData))
        };
    }
    let al = T::from_scalar(alpha);
    match op {
        BinaryOp::Add if alpha == Scalar::Int(1) => k!(T, T::add),
        BinaryOp::Add => k!(T, move |x, y| T::add_alpha(x, y, al)),
        BinaryOp::Mul => k!(T, T::mul),
        BinaryOp::Div => k!(T, T::div),
        BinaryOp::Remainder => k!(T, T::rem),
        BinaryOp::Pow => k!(T, T::pow),
        BinaryOp::Maximum => k!(T, T::maximum),
        BinaryOp::Minimum => k!(T, T::minimum),
        BinaryOp::Eq => k!(bool, |x: T, y: T| x == y),
        BinaryOp::Ne => k!(bool, |x: T, y: T| x != y),
        BinaryOp::Lt => k!(bool, |x: T, y: T| x < y),
        BinaryOp::Le => k!(bool, |x: T, y: T| x <= y),
        BinaryOp::Gt => k!(bool, |x: T, y: T| x > y),
        BinaryOp::Ge => k!(bool, |x: T, y: T| x >= y),
        BinaryOp::Sub | BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::LogicalXor => {
            unreachable!("sub is rewritten to add; logical ops compute in bool")
        }
    }
}

/// An f32 SIMD kernel of two inputs.
struct SimdBin<G>(G);

impl<G: VecFn2> Kernel<2> for SimdBin<G> {
    type In = f32;
    type Out = f32;
    #[inline(always)]
    fn run<S: Vf32>(&self, s: S, out: &mut [f32], ins: [Src<'_, f32>; 2], stream: bool) {
        map2(s, self.0, ins[0], ins[1], out, stream)
    }
}

/// A scalar-loop kernel of two inputs (vectorized by the compiler where it
/// can, inside the same per-ISA `target_feature` code).
struct ScalarBin<I, O, Fun>(Fun, PhantomData<fn(I, I) -> O>);

impl<I: Element, O: Element, Fun: Fn(I, I) -> O + Sync> Kernel<2> for ScalarBin<I, O, Fun> {
    type In = I;
    type Out = O;
    #[inline(always)]
    fn run<S: Vf32>(&self, _s: S, out: &mut [O], ins: [Src<'_, I>; 2], _stream: bool) {
        let f = &self.0;
        match (ins[0], ins[1]) {
            (Src::Slice(a), Src::Slice(b)) => {
                for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                    *o = f(x, y);
                }
            }
            (Src::Slice(a), Src::Splat(y)) => {
                for (o, &x) in out.iter_mut().zip(a) {
                    *o = f(x, y);
                }
            }
            (Src::Splat(x), Src::Slice(b)) => {
                for (o, &y) in out.iter_mut().zip(b) {
                    *o = f(x, y);
                }
            }
            (Src::Splat(x), Src::Splat(y)) => out.fill(f(x, y)),
        }
    }
}

macro_rules! vecfn2 {
    ($(#[$m:meta])* $name:ident, |$s:ident, $a:ident, $b:ident| $body:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy)]
        struct $name;
        impl VecFn2 for $name {
            #[inline(always)]
            fn apply<S: Vf32>(self, $s: S, $a: F<S>, $b: F<S>) -> F<S> {
                $body
            }
        }
    };
}

vecfn2!(AddF, |s, a, b| s.add_f32s(a, b));
vecfn2!(MulF, |s, a, b| s.mul_f32s(a, b));
vecfn2!(DivF, |s, a, b| s.div_f32s(a, b));
vecfn2!(
    /// NaN in either input gives NaN (PyTorch's maximum).
    MaxF,
    |s, a, b| {
        let m = s.max_f32s(a, b);
        let m = s.select_f32s(s.equal_f32s(a, a), m, a);
        s.select_f32s(s.equal_f32s(b, b), m, b)
    }
);
vecfn2!(MinF, |s, a, b| {
    let m = s.min_f32s(a, b);
    let m = s.select_f32s(s.equal_f32s(a, a), m, a);
    s.select_f32s(s.equal_f32s(b, b), m, b)
});

/// `a + alpha * b` (one rounding: fused).
#[derive(Clone, Copy)]
struct AddAlphaF(f32);
impl VecFn2 for AddAlphaF {
    #[inline(always)]
    fn apply<S: Vf32>(self, s: S, a: F<S>, b: F<S>) -> F<S> {
        s.mul_add_f32s(b, s.splat_f32s(self.0), a)
    }
}

/// `where(cond, a, b)`: `a` where `cond` is true, else `b`, broadcast.
pub fn where_(cond: &TensorImpl, a: &TensorImpl, b: &TensorImpl) -> Result<TensorImpl> {
    if cond.dtype() != DType::Bool {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
                cond.dtype().scalar_type_name()
            ),
        ));
    }
    let result = result_type(&[operand(a), operand(b)]).expect("two operands");
    let compute = compute_dtype(result);
    ft_core::with_dtype!(compute, T => {
        made(result, |o| run_elementwise([cond, a, b], o, &Where::<T>(PhantomData)))
    })
}

/// `grad` where `y > threshold`, else 0 (NaN in `y` keeps `grad`, as the
/// comparison `y <= threshold` is false): PyTorch's `threshold_backward`,
/// the gradient of `relu` from its output. Floating-point `grad` and `y`
/// of one dtype, broadcasting.
///
/// ```
/// # use ft_core::TensorImpl;
/// let g = TensorImpl::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
/// let y = TensorImpl::from_slice(&[0.5f32, 0.0, -1.0], &[3])?;
/// let r = ft_kernels::threshold_backward(&g, &y, 0.0)?;
/// assert_eq!(r.to_vec::<f32>()?, vec![1.0, 0.0, 0.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn threshold_backward(grad: &TensorImpl, y: &TensorImpl, threshold: f64) -> Result<TensorImpl> {
    if grad.dtype() != y.dtype() || !grad.dtype().is_floating_point() {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "threshold_backward: grad and output must share a floating-point dtype, got {}                  and {}",
                grad.dtype().scalar_type_name(),
                y.dtype().scalar_type_name()
            ),
        ));
    }
    let dtype = grad.dtype();
    // f16 and bf16 compute in f32.
    if compute_dtype(dtype) == DType::F64 {
        made(dtype, |o| {
            run_elementwise([grad, y], o, &ThresholdBackward::<f64>(threshold))
        })
    } else {
        let th = threshold as f32;
        made(dtype, |o| {
            run_elementwise([grad, y], o, &ThresholdBackward::<f32>(th))
        })
    }
}

struct ThresholdBackward<T>(T);

impl<T: Element + PartialOrd> Kernel<2> for ThresholdBackward<T> {
    type In = T;
    type Out = T;
    #[inline(always)]
    fn run<S: Vf32>(&self, _s: S, out: &mut [T], ins: [Src<'_, T>; 2], _stream: bool) {
        let (zero, th) = (T::zero(), self.0);
        let n = out.len();
        match ins {
            [Src::Slice(g), Src::Slice(y)] => {
                let (g, y) = (&g[..n], &y[..n]);
                for i in 0..n {
                    out[i] = if y[i] <= th { zero } else { g[i] };
                }
            }
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = if ins[1].get(i) <= th {
                        zero
                    } else {
                        ins[0].get(i)
                    };
                }
            }
        }
    }
}

/// The condition arrives converted to `T` (1 or 0).
struct Where<T>(PhantomData<fn() -> T>);

impl<T: Element> Kernel<3> for Where<T> {
    type In = T;
    type Out = T;
    #[inline(always)]
    fn run<S: Vf32>(&self, _s: S, out: &mut [T], ins: [Src<'_, T>; 3], _stream: bool) {
        let zero = T::zero();
        let n = out.len();
        // The layouts autograd's masks use (a condition and two rows, or a
        // row and a 0-dim zero), as branch-free selects the compiler
        // vectorizes; anything else element by element.
        match ins {
            [Src::Slice(c), Src::Slice(a), Src::Slice(b)] => {
                let (c, a, b) = (&c[..n], &a[..n], &b[..n]);
                for i in 0..n {
                    out[i] = if c[i] != zero { a[i] } else { b[i] };
                }
            }
            [Src::Slice(c), Src::Splat(a), Src::Slice(b)] => {
                let (c, b) = (&c[..n], &b[..n]);
                for i in 0..n {
                    out[i] = if c[i] != zero { a } else { b[i] };
                }
            }
            [Src::Slice(c), Src::Slice(a), Src::Splat(b)] => {
                let (c, a) = (&c[..n], &a[..n]);
                for i in 0..n {
                    out[i] = if c[i] != zero { a[i] } else { b };
                }
            }
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = if ins[0].get(i) != zero {
                        ins[1].get(i)
                    } else {
                        ins[2].get(i)
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ft_core::Scalar;

    /// `a.op_(number)` in place on f32 tensors, on the small dense path
    /// (sizes around its 256-element stretches) and past it (a view, a
    /// size over the parallel grain): each element equals the f64
    /// reference of `a op number` rounded to f32 (exact for these ops, the
    /// number first rounded to f32 as PyTorch does), NaN where it is NaN;
    /// the version counter moves.
    #[test]
    fn in_place_number_ops_match_the_f64_reference() {
        let reference = |op: BinaryOp, x: f32, s: f32| -> f32 {
            let (x, s) = (f64::from(x), f64::from(s));
            (match op {
                BinaryOp::Add => x + s,
                BinaryOp::Sub => x - s,
                BinaryOp::Mul => x * s,
                BinaryOp::Div => x / s,
                BinaryOp::Maximum if x.is_nan() || s.is_nan() => f64::NAN,
                BinaryOp::Maximum => x.max(s),
                BinaryOp::Minimum if x.is_nan() || s.is_nan() => f64::NAN,
                BinaryOp::Minimum => x.min(s),
                _ => unreachable!(),
            }) as f32
        };
        let ops = [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Maximum,
            BinaryOp::Minimum,
        ];
        for n in [1usize, 16, 255, 256, 257, 1000, 40_000] {
            let x: Vec<f32> = (0..n)
                .map(|i| match i % 97 {
                    13 => f32::NAN,
                    29 => -0.0,
                    _ => (i as f32 * 0.37).sin() * 3.0,
                })
                .collect();
            for op in ops {
                for s in [Scalar::Float(0.3), Scalar::Int(-2), Scalar::Float(f64::NAN)] {
                    let a = TensorImpl::from_slice(&x, &[n]).unwrap();
                    let v0 = a.version();
                    binary_scalar_(op, &a, s).unwrap();
                    assert!(a.version() > v0);
                    let got = a.to_vec::<f32>().unwrap();
                    let sv = s.to_f64() as f32;
                    for (i, (&g, &xi)) in got.iter().zip(&x).enumerate() {
                        let want = reference(op, xi, sv);
                        assert!(
                            g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                            "{op:?} {s:?} n={n} at {i}: {g} vs {want}"
                        );
                    }
                }
            }
        }
        // A strided view goes the general way, and writes only its elements.
        let base = TensorImpl::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        let col = base.transpose(0, 1).unwrap();
        binary_scalar_(BinaryOp::Mul, &col, Scalar::Int(2)).unwrap();
        assert_eq!(
            base.to_vec::<f32>().unwrap(),
            vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        );
    }

    /// `binary_types`, with its f32 shortcut, gives what PyTorch's rules
    /// give (the same types, or the same error) for every op and every
    /// pair of operands made of each dtype (as a tensor or a 0-dim tensor)
    /// and numbers of each kind: the shortcut's pairs among them.
    #[test]
    fn the_f32_shortcut_gives_what_the_rules_give() {
        let mut operands = Vec::new();
        for d in DType::ALL {
            operands.push(Operand::Tensor(d));
            operands.push(Operand::ZeroDim(d));
        }
        for s in [
            Scalar::Bool(true),
            Scalar::Int(2),
            Scalar::Float(0.5),
            Scalar::Float(f64::NAN),
        ] {
            operands.push(Operand::Scalar(s));
        }
        for op in BinaryOp::ALL {
            for &a in &operands {
                for &b in &operands {
                    let fast = binary_types(op, a, b);
                    let rules = by_rules(op, a, b);
                    match (&fast, &rules) {
                        (Ok(f), Ok(r)) => assert_eq!(f, r, "{op:?} {a:?} {b:?}"),
                        (Err(f), Err(r)) => assert_eq!(f.to_string(), r.to_string()),
                        _ => panic!("{op:?} {a:?} {b:?}: {fast:?} vs {rules:?}"),
                    }
                }
            }
        }
    }
}
