//! `Vf32`: the few vector primitives pulp's portable `Simd` trait lacks
//! (rounding, f32/i32 conversion, exponent-field shifts), one small impl per
//! ISA. Everything else a kernel needs is pulp's, so kernel bodies are
//! written once, generic over `S: Vf32`, and contain no `unsafe`.

use pulp::Simd;

pub trait Vf32: Simd {
    /// Round to nearest, ties to even.
    fn round_f32s(self, x: Self::f32s) -> Self::f32s;
    fn floor_f32s(self, x: Self::f32s) -> Self::f32s;
    fn ceil_f32s(self, x: Self::f32s) -> Self::f32s;
    fn trunc_f32s(self, x: Self::f32s) -> Self::f32s;
    /// Integer-valued `x` (|x| < 2^31) to i32.
    fn cvt_f32s_i32s(self, x: Self::f32s) -> Self::i32s;
    fn cvt_i32s_f32s(self, x: Self::i32s) -> Self::f32s;
    /// `x << 23`: an integer into the exponent field.
    fn shl23_i32s(self, x: Self::i32s) -> Self::i32s;
    /// `x >> 23` (logical): the exponent field (with sign bit) of a float's bits.
    fn shr23_i32s(self, x: Self::i32s) -> Self::i32s;

    /// `y * 2^n` for integer-valued `n` in [-152, 128], rounded once
    /// (subnormal results too; n = 128 overflows to inf for y >= 1).
    #[inline(always)]
    fn scale_f32s(self, y: Self::f32s, n: Self::f32s) -> Self::f32s {
        // Two steps so that each factor is a normal power of two.
        let n1 = self.round_f32s(self.mul_f32s(n, self.splat_f32s(0.5)));
        let n2 = self.sub_f32s(n, n1);
        self.mul_f32s(self.mul_f32s(y, pow2i(self, n1)), pow2i(self, n2))
    }

    /// Stores `v` at `dst`, bypassing the caches where the ISA can and
    /// `dst` is aligned to the vector size (else a plain store). Follow a
    /// run of these with `stream_fence`.
    #[inline(always)]
    fn stream_f32s(self, dst: &mut Self::f32s, v: Self::f32s) {
        *dst = v;
    }

    /// Orders earlier streaming stores before any later store.
    #[inline(always)]
    fn stream_fence(self) {}
}

/// A hint to bring the cache line holding `p` into L1 (`level` 0) or L2
/// (any other level). A no-op off x86_64.
#[inline(always)]
pub fn prefetch(p: *const u8, level: u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _MM_HINT_T1, _mm_prefetch};
        // SAFETY: a prefetch never faults and changes no memory, so any
        // address is allowed; SSE is part of the x86_64 baseline.
        unsafe {
            if level == 0 {
                _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
            } else {
                _mm_prefetch::<_MM_HINT_T1>(p as *const i8)
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, level);
}

/// 2^n for integer-valued n in [-127, 128] (-127 gives 0, 128 gives inf).
#[inline(always)]
pub fn pow2i<S: Vf32>(s: S, n: S::f32s) -> S::f32s {
    let e = s.add_i32s(s.cvt_f32s_i32s(n), s.splat_i32s(127));
    s.transmute_f32s_i32s(s.shl23_i32s(e))
}

impl Vf32 for pulp::Scalar {
    #[inline(always)]
    fn round_f32s(self, x: f32) -> f32 {
        x.round_ties_even()
    }
    #[inline(always)]
    fn floor_f32s(self, x: f32) -> f32 {
        x.floor()
    }
    #[inline(always)]
    fn ceil_f32s(self, x: f32) -> f32 {
        x.ceil()
    }
    #[inline(always)]
    fn trunc_f32s(self, x: f32) -> f32 {
        x.trunc()
    }
    #[inline(always)]
    fn cvt_f32s_i32s(self, x: f32) -> i32 {
        x as i32
    }
    #[inline(always)]
    fn cvt_i32s_f32s(self, x: i32) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn shl23_i32s(self, x: i32) -> i32 {
        x << 23
    }
    #[inline(always)]
    fn shr23_i32s(self, x: i32) -> i32 {
        ((x as u32) >> 23) as i32
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Vf32;
    use bytemuck::cast;
    use pulp::x86::{V3, V4};
    use pulp::{f32x8, f32x16, i32x8, i32x16};

    // _MM_FROUND_{TO_NEAREST_INT, TO_NEG_INF, TO_POS_INF, TO_ZERO} | _MM_FROUND_NO_EXC
    const NEAREST: i32 = 8;
    const FLOOR: i32 = 9;
    const CEIL: i32 = 10;
    const TRUNC: i32 = 11;

    impl Vf32 for V3 {
        #[inline(always)]
        fn round_f32s(self, x: f32x8) -> f32x8 {
            cast(self.avx._mm256_round_ps::<NEAREST>(cast(x)))
        }
        #[inline(always)]
        fn floor_f32s(self, x: f32x8) -> f32x8 {
            cast(self.avx._mm256_round_ps::<FLOOR>(cast(x)))
        }
        #[inline(always)]
        fn ceil_f32s(self, x: f32x8) -> f32x8 {
            cast(self.avx._mm256_round_ps::<CEIL>(cast(x)))
        }
        #[inline(always)]
        fn trunc_f32s(self, x: f32x8) -> f32x8 {
            cast(self.avx._mm256_round_ps::<TRUNC>(cast(x)))
        }
        #[inline(always)]
        fn cvt_f32s_i32s(self, x: f32x8) -> i32x8 {
            cast(self.avx._mm256_cvtps_epi32(cast(x)))
        }
        #[inline(always)]
        fn cvt_i32s_f32s(self, x: i32x8) -> f32x8 {
            cast(self.avx._mm256_cvtepi32_ps(cast(x)))
        }
        #[inline(always)]
        fn shl23_i32s(self, x: i32x8) -> i32x8 {
            cast(self.avx2._mm256_slli_epi32::<23>(cast(x)))
        }
        #[inline(always)]
        fn shr23_i32s(self, x: i32x8) -> i32x8 {
            cast(self.avx2._mm256_srli_epi32::<23>(cast(x)))
        }
        #[inline(always)]
        fn stream_f32s(self, dst: &mut f32x8, v: f32x8) {
            let p = dst as *mut f32x8 as *mut f32;
            if (p as usize).is_multiple_of(32) {
                // SAFETY: `p` comes from a live exclusive reference to 8 f32
                // and is 32-byte aligned (checked), as vmovntps requires.
                unsafe { self.avx._mm256_stream_ps(p, cast(v)) }
            } else {
                *dst = v;
            }
        }
        #[inline(always)]
        fn stream_fence(self) {
            self.sse._mm_sfence();
        }
    }

    impl Vf32 for V4 {
        #[inline(always)]
        fn round_f32s(self, x: f32x16) -> f32x16 {
            cast(self.avx512f._mm512_roundscale_ps::<NEAREST>(cast(x)))
        }
        #[inline(always)]
        fn floor_f32s(self, x: f32x16) -> f32x16 {
            cast(self.avx512f._mm512_roundscale_ps::<FLOOR>(cast(x)))
        }
        #[inline(always)]
        fn ceil_f32s(self, x: f32x16) -> f32x16 {
            cast(self.avx512f._mm512_roundscale_ps::<CEIL>(cast(x)))
        }
        #[inline(always)]
        fn trunc_f32s(self, x: f32x16) -> f32x16 {
            cast(self.avx512f._mm512_roundscale_ps::<TRUNC>(cast(x)))
        }
        #[inline(always)]
        fn cvt_f32s_i32s(self, x: f32x16) -> i32x16 {
            cast(self.avx512f._mm512_cvtps_epi32(cast(x)))
        }
        #[inline(always)]
        fn cvt_i32s_f32s(self, x: i32x16) -> f32x16 {
            cast(self.avx512f._mm512_cvtepi32_ps(cast(x)))
        }
        #[inline(always)]
        fn shl23_i32s(self, x: i32x16) -> i32x16 {
            cast(self.avx512f._mm512_slli_epi32::<23>(cast(x)))
        }
        #[inline(always)]
        fn shr23_i32s(self, x: i32x16) -> i32x16 {
            cast(self.avx512f._mm512_srli_epi32::<23>(cast(x)))
        }
        /// One instruction, rounding once, subnormals and overflow included.
        #[inline(always)]
        fn scale_f32s(self, y: f32x16, n: f32x16) -> f32x16 {
            cast(self.avx512f._mm512_scalef_ps(cast(y), cast(n)))
        }
        #[inline(always)]
        fn stream_f32s(self, dst: &mut f32x16, v: f32x16) {
            let p = dst as *mut f32x16 as *mut f32;
            if (p as usize).is_multiple_of(64) {
                // SAFETY: `p` comes from a live exclusive reference to 16
                // f32 and is 64-byte aligned (checked), as vmovntps requires.
                unsafe { self.avx512f._mm512_stream_ps(p, cast(v)) }
            } else {
                *dst = v;
            }
        }
        #[inline(always)]
        fn stream_fence(self) {
            self.sse._mm_sfence();
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::Vf32;
    use bytemuck::cast;
    use pulp::aarch64::Neon;
    use pulp::{f32x4, i32x4};

    impl Vf32 for Neon {
        #[inline(always)]
        fn round_f32s(self, x: f32x4) -> f32x4 {
            cast(self.neon.vrndnq_f32(cast(x)))
        }
        #[inline(always)]
        fn floor_f32s(self, x: f32x4) -> f32x4 {
            cast(self.neon.vrndmq_f32(cast(x)))
        }
        #[inline(always)]
        fn ceil_f32s(self, x: f32x4) -> f32x4 {
            cast(self.neon.vrndpq_f32(cast(x)))
        }
        #[inline(always)]
        fn trunc_f32s(self, x: f32x4) -> f32x4 {
            cast(self.neon.vrndq_f32(cast(x)))
        }
        #[inline(always)]
        fn cvt_f32s_i32s(self, x: f32x4) -> i32x4 {
            cast(self.neon.vcvtnq_s32_f32(cast(x)))
        }
        #[inline(always)]
        fn cvt_i32s_f32s(self, x: i32x4) -> f32x4 {
            cast(self.neon.vcvtq_f32_s32(cast(x)))
        }
        #[inline(always)]
        fn shl23_i32s(self, x: i32x4) -> i32x4 {
            cast(self.neon.vshlq_n_s32::<23>(cast(x)))
        }
        #[inline(always)]
        fn shr23_i32s(self, x: i32x4) -> i32x4 {
            let u: pulp::u32x4 = cast(x);
            cast(self.neon.vshrq_n_u32::<23>(cast(u)))
        }
    }
}
