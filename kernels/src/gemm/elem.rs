//! The element types GEMM computes in, and their vector operations.

use pulp::Simd;
use std::ops::{Add, Mul};

/// A float GEMM runs in: its vector type for each SIMD type and the four
/// vector operations the micro-kernel and the write-back use.
pub trait GemmElem:
    bytemuck::Pod + PartialEq + Send + Sync + Add<Output = Self> + Mul<Output = Self> + 'static
{
    type V<S: Simd>: bytemuck::Pod;
    const ZERO: Self;
    const ONE: Self;
    fn splat<S: Simd>(s: S, x: Self) -> Self::V<S>;
    /// `a * b + c` (fused where the ISA has FMA).
    fn mul_add<S: Simd>(s: S, a: Self::V<S>, b: Self::V<S>, c: Self::V<S>) -> Self::V<S>;
    fn vmul<S: Simd>(s: S, a: Self::V<S>, b: Self::V<S>) -> Self::V<S>;
    fn vadd<S: Simd>(s: S, a: Self::V<S>, b: Self::V<S>) -> Self::V<S>;
    fn as_simd<S: Simd>(x: &[Self]) -> (&[Self::V<S>], &[Self]);
    fn as_mut_simd<S: Simd>(x: &mut [Self]) -> (&mut [Self::V<S>], &mut [Self]);
}

macro_rules! elem {
    ($t:ty, $v:ident, $splat:ident, $fma:ident, $mul:ident, $add:ident, $as:ident, $as_mut:ident) => {
        impl GemmElem for $t {
            type V<S: Simd> = S::$v;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn splat<S: Simd>(s: S, x: Self) -> S::$v {
                s.$splat(x)
            }
            #[inline(always)]
            fn mul_add<S: Simd>(s: S, a: S::$v, b: S::$v, c: S::$v) -> S::$v {
                s.$fma(a, b, c)
            }
            #[inline(always)]
            fn vmul<S: Simd>(s: S, a: S::$v, b: S::$v) -> S::$v {
                s.$mul(a, b)
            }
            #[inline(always)]
            fn vadd<S: Simd>(s: S, a: S::$v, b: S::$v) -> S::$v {
                s.$add(a, b)
            }
            #[inline(always)]
            fn as_simd<S: Simd>(x: &[Self]) -> (&[S::$v], &[Self]) {
                S::$as(x)
            }
            #[inline(always)]
            fn as_mut_simd<S: Simd>(x: &mut [Self]) -> (&mut [S::$v], &mut [Self]) {
                S::$as_mut(x)
            }
        }
    };
}

// `mul_add_e`: fused on AVX2, AVX-512 and NEON; a multiply and an add on
// the portable path, where a fused multiply-add would be a libm call.
elem!(
    f32,
    f32s,
    splat_f32s,
    mul_add_e_f32s,
    mul_f32s,
    add_f32s,
    as_simd_f32s,
    as_mut_simd_f32s
);
elem!(
    f64,
    f64s,
    splat_f64s,
    mul_add_e_f64s,
    mul_f64s,
    add_f64s,
    as_simd_f64s,
    as_mut_simd_f64s
);
