//! Element types and PyTorch's type-promotion rules (`torch.result_type`).

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor. The set and the names follow PyTorch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

/// The promotion category of a dtype: a scalar only promotes a tensor of a
/// lower category (`int32 tensor + 2` stays int32, `int32 tensor + 2.5` is
/// float32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Bool,
    Integral,
    Floating,
}

impl DType {
    /// Every dtype, in a fixed order (useful for tables and tests).
    pub const ALL: [DType; 8] = [
        DType::Bool,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    #[inline]
    pub const fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 => 1,
            DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub const fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::U8 | DType::I32 | DType::I64 => Category::Integral,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Category::Floating,
        }
    }

    #[inline]
    pub const fn is_floating_point(self) -> bool {
        matches!(self.category(), Category::Floating)
    }

    /// Integral in PyTorch's sense (`include_bool` decides whether bool counts).
    pub const fn is_integral(self, include_bool: bool) -> bool {
        match self.category() {
            Category::Integral => true,
            Category::Bool => include_bool,
            Category::Floating => false,
        }
    }

    /// PyTorch's Python-side name, e.g. `float32`.
    #[inline]
    pub const fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// PyTorch's C++ `ScalarType` name, used in its error messages
    /// ("expected scalar type Float but found Double").
    #[inline]
    pub const fn scalar_type_name(self) -> &'static str {
        match self {
            DType::Bool => "Bool",
            DType::U8 => "Byte",
            DType::I32 => "Int",
            DType::I64 => "Long",
            DType::F16 => "Half",
            DType::BF16 => "BFloat16",
            DType::F32 => "Float",
            DType::F64 => "Double",
        }
    }

    /// Parses PyTorch's Python name (`"float32"`, also `"float"`, `"long"`...).
    pub fn parse(s: &str) -> Option<DType> {
        let s = s.strip_prefix("torch.").unwrap_or(s);
        Some(match s {
            "bool" => DType::Bool,
            "uint8" => DType::U8,
            "int32" | "int" => DType::I32,
            "int64" | "long" => DType::I64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The default floating dtype (PyTorch's `torch.get_default_dtype()`).
pub const DEFAULT_FLOAT: DType = DType::F32;

/// `torch.promote_types(a, b)`: the smallest dtype both convert to without
/// losing the category. Symmetric; `Bool` is the identity.
pub const fn promote_types(a: DType, b: DType) -> DType {
    use DType::*;
    if a as u8 == b as u8 {
        return a;
    }
    match (a, b) {
        (Bool, x) | (x, Bool) => x,
        (F64, _) | (_, F64) => F64,
        (F32, _) | (_, F32) => F32,
        // The two 16-bit floats have no common 16-bit supertype.
        (F16, BF16) | (BF16, F16) => F32,
        (F16, _) | (_, F16) => F16,
        (BF16, _) | (_, BF16) => BF16,
        (I64, _) | (_, I64) => I64,
        (I32, _) | (_, I32) => I32,
        (U8, U8) => U8,
    }
}

/// A number that is not a tensor: what Python passes as `2`, `2.5` or `True`.
///
/// `repr(C, u64)`: the tag is a whole word and every payload, the `bool`
/// too, sits at byte 8, so a `Scalar` is copied as two words. With the
/// default layout the `bool` sat in byte 1, and the compiler copied bytes 1
/// to 7 of every `Scalar` as two overlapping 4-byte moves through the
/// stack, whose reload could not be forwarded from the stores: a stall in
/// each scalar op's argument read. `repr(C, u8)` (a byte tag, payloads at
/// byte 8, bytes 1 to 7 padding) was tried first and measured no faster
/// (`perf-artifacts/autograd-v3-in-place.md`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, u64)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    /// The dtype PyTorch gives this scalar when it takes part in promotion
    /// (a "wrapped number"): bool, int64, or the default float dtype.
    pub const fn wrapped_dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::I64,
            Scalar::Float(_) => DEFAULT_FLOAT,
        }
    }

    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as u8 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }

    /// Whether the value is non-zero (how PyTorch casts a number to bool).
    pub fn to_bool(self) -> bool {
        match self {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
            Scalar::Float(f) => f != 0.0,
        }
    }
}

impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}
impl From<i32> for Scalar {
    fn from(v: i32) -> Self {
        Scalar::Int(v.into())
    }
}
impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::Int(v)
    }
}
impl From<f32> for Scalar {
    fn from(v: f32) -> Self {
        Scalar::Float(v.into())
    }
}
impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::Float(v)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// One operand of `result_type`, classified as PyTorch classifies it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operand {
    /// A tensor with at least one dimension.
    Tensor(DType),
    /// A zero-dimensional tensor (`torch.tensor(2.0)`).
    ZeroDim(DType),
    /// A Python number.
    Scalar(Scalar),
}

/// `torch.result_type` over any number of operands.
///
/// PyTorch keeps three running promotions: over dimensioned tensors, over
/// zero-dim tensors, and over scalars (each scalar counted as its wrapped
/// dtype). A lower-priority group only matters when it is of a higher
/// category than every higher-priority group: `int32[2] + 2.5` is float32,
/// but `float16[2] + 2.5` stays float16 and `int32[2] + int64 zero-dim`
/// stays int32. Returns `None` for an empty operand list.
pub fn result_type(operands: &[Operand]) -> Option<DType> {
    let mut dim: Option<DType> = None;
    let mut zero: Option<DType> = None;
    let mut wrapped: Option<DType> = None;
    let push = |slot: &mut Option<DType>, t: DType| {
        *slot = Some(slot.map_or(t, |s| promote_types(s, t)));
    };
    for op in operands {
        match *op {
            Operand::Tensor(t) => push(&mut dim, t),
            Operand::ZeroDim(t) => push(&mut zero, t),
            Operand::Scalar(s) => push(&mut wrapped, s.wrapped_dtype()),
        }
    }
    combine_categories(dim, combine_categories(zero, wrapped))
}

/// PyTorch's `combine_categories(higher, lower)` (ATen TypeProperties.cpp),
/// without the complex branch (no complex dtypes here).
fn combine_categories(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (None, l) => l,
        (Some(h), None) => Some(h),
        (Some(h), Some(l)) => {
            if h.is_floating_point() {
                Some(h)
            } else if h == DType::Bool || l.is_floating_point() {
                Some(promote_types(h, l))
            } else {
                Some(h)
            }
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for bool {}
    impl Sealed for u8 {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A Rust type that is the element of one dtype. Sealed: storage bytes are
/// reinterpreted as these types, which is sound only for this fixed set.
pub trait Element: sealed::Sealed + Copy + Send + Sync + PartialEq + fmt::Debug + 'static {
    const DTYPE: DType;
    /// Exact for every value of every dtype except i64 beyond 2^53.
    fn to_f64(self) -> f64;
    /// PyTorch's conversion: floats round to nearest, integers truncate
    /// toward zero (and wrap), bool is `x != 0`.
    fn from_f64(v: f64) -> Self;
    /// Exact for integers (wrapping on overflow, as PyTorch's C++ casts).
    fn from_i64(v: i64) -> Self;
    /// Integers and bool exactly; floats truncated toward zero (NaN is 0).
    fn to_i64(self) -> i64;
    /// A number converted as PyTorch converts it to this dtype.
    fn from_scalar(s: Scalar) -> Self {
        match s {
            Scalar::Bool(b) => Self::from_i64(b as i64),
            Scalar::Int(i) => Self::from_i64(i),
            Scalar::Float(f) => Self::from_f64(f),
        }
    }
    fn zero() -> Self;
    fn one() -> Self;
}

macro_rules! element_int {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                // Through i64 so that out-of-range values wrap like C++'s
                // conversion does in practice on x86 (PyTorch's behaviour),
                // rather than saturating as Rust's `as` would.
                if v.is_nan() { 0 } else { (v as i64) as $t }
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn zero() -> Self {
                0
            }
            fn one() -> Self {
                1
            }
        }
    };
}
element_int!(u8, DType::U8);
element_int!(i32, DType::I32);

impl Element for i64 {
    const DTYPE: DType = DType::I64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
    fn zero() -> Self {
        0
    }
    fn one() -> Self {
        1
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as f64
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    /// Through f32, as PyTorch converts (its 16-bit types are built from
    /// a float): exact from an f32, rounded twice from an f64. Not
    /// `f16::from_f64`, which in half 2.7 drops the low 32 bits of the
    /// f64 before rounding and so rounds values just above a tie down
    /// (half-rs issue 151): f32 1.3164067 gave 1.3125, not 1.3203125.
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        f16::from_f32(v as f32)
    }
    /// Through f32 (one rounding), as PyTorch converts.
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        f16::from_f32(v as f32)
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self.to_f32() as i64
    }
    fn zero() -> Self {
        f16::ZERO
    }
    fn one() -> Self {
        f16::ONE
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    /// Through f32, as PyTorch converts (its 16-bit types are built from
    /// a float): exact from an f32, rounded twice from an f64. Not
    /// `bf16::from_f64`, which in half 2.7 drops the low 32 bits of the
    /// f64 before rounding and so rounds values just above a tie down
    /// (half-rs issue 151): f32 1.3164067 gave 1.3125, not 1.3203125.
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        bf16::from_f32(v as f32)
    }
    /// Through f32 (one rounding), as PyTorch converts.
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        bf16::from_f32(v as f32)
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self.to_f32() as i64
    }
    fn zero() -> Self {
        bf16::ZERO
    }
    fn one() -> Self {
        bf16::ONE
    }
}

/// Converts one element as PyTorch's `.to(dtype)` does: through f64 from a
/// float (one rounding), through i64 from an integer or bool (exact).
#[inline(always)]
pub fn cast<T: Element, U: Element>(x: T) -> U {
    if T::DTYPE.is_floating_point() {
        U::from_f64(x.to_f64())
    } else {
        U::from_i64(x.to_i64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_follows_pytorch() {
        assert_eq!(cast::<f32, i32>(-2.7), -2);
        assert!(cast::<f32, bool>(f32::NAN));
        assert_eq!(cast::<i64, f32>((1 << 40) + 1), (1u64 << 40) as f32);
        assert_eq!(cast::<bool, f64>(true), 1.0);
        assert_eq!(cast::<i32, u8>(257), 1);
    }

    /// Values just above a rounding tie, and ties made by a first rounding
    /// to f32; the expected values are PyTorch 2.x's `.to(...)` of the same
    /// inputs (checked by hand: `torch.tensor([x], dtype=...).to(...)`).
    #[test]
    fn sixteen_bit_casts_round_as_pytorch() {
        // f32 just above a bf16 tie rounds up (half's own from_f64 gave
        // 1.3125 and 4.8125).
        assert_eq!(cast::<f32, bf16>(1.316_406_7).to_f32(), 1.320_312_5);
        assert_eq!(cast::<f32, bf16>(4.828_128).to_f32(), 4.843_75);
        // f32 one ulp above an f16 tie rounds up.
        let x = 1.0 + 2f32.powi(-11) + 2f32.powi(-23);
        assert_eq!(cast::<f32, f16>(x).to_f32(), 1.000_976_6);
        // f64 goes through f32: 1 + 2^-8 + 2^-30 first becomes the tie
        // 1 + 2^-8, which rounds to even.
        let y = 1.0 + 2f64.powi(-8) + 2f64.powi(-30);
        assert_eq!(cast::<f64, bf16>(y).to_f32(), 1.0);
        let z = 1.0 + 2f64.powi(-11) + 2f64.powi(-30);
        assert_eq!(cast::<f64, f16>(z).to_f32(), 1.0);
        // int64 too: 2^24 + 2^16 + 1 becomes the f32 tie 2^24 + 2^16.
        assert_eq!(
            cast::<i64, bf16>((1 << 24) + (1 << 16) + 1).to_f32(),
            16_777_216.0
        );
    }

    #[test]
    fn promote_types_is_symmetric_and_bool_is_identity() {
        for a in DType::ALL {
            assert_eq!(promote_types(a, DType::Bool), a);
            for b in DType::ALL {
                assert_eq!(promote_types(a, b), promote_types(b, a), "{a} {b}");
            }
        }
    }

    #[test]
    fn scalar_of_same_category_does_not_promote() {
        let t = |d| Operand::Tensor(d);
        let s = |v: Scalar| Operand::Scalar(v);
        assert_eq!(result_type(&[t(DType::I32), s(2.into())]), Some(DType::I32));
        assert_eq!(
            result_type(&[t(DType::U8), s(true.into())]),
            Some(DType::U8)
        );
        assert_eq!(
            result_type(&[t(DType::F16), s(2.5.into())]),
            Some(DType::F16)
        );
        assert_eq!(
            result_type(&[t(DType::I32), s(2.5.into())]),
            Some(DType::F32)
        );
        assert_eq!(
            result_type(&[t(DType::Bool), s(2.into())]),
            Some(DType::I64)
        );
    }

    #[test]
    fn parse_round_trips_names() {
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name()), Some(d));
        }
        assert_eq!(DType::parse("complex64"), None);
    }
}
