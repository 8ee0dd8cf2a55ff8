//! `Vf32`: the few vector primitives pulp's portable `Simd` trait lacks
//! (rounding, f32/i32 conversion, exponent-field shifts), one small impl per
//! ISA. Everything else a kernel needs is pulp's, so kernel bodies are
//! written once, generic over `S: Vf32`, and contain no `unsafe`.

use crate::convert::{f16_to_f32, f32_to_bf16, f32_to_f16};
use half::{bf16, f16};
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

    /// `min(a, b)`, or `b` where `b` is NaN: one `minps` on x86, whose
    /// rule this is (a NaN in either operand returns the second), and a
    /// comparison and a select elsewhere. Lets a formula clamp its input
    /// and still carry a NaN input through to its result.
    #[inline(always)]
    fn min_or_nan_f32s(self, a: Self::f32s, b: Self::f32s) -> Self::f32s {
        self.select_f32s(self.equal_f32s(b, b), self.min_f32s(a, b), b)
    }

    /// `max(a, b)`, or `b` where `b` is NaN (see [`Vf32::min_or_nan_f32s`]).
    #[inline(always)]
    fn max_or_nan_f32s(self, a: Self::f32s, b: Self::f32s) -> Self::f32s {
        self.select_f32s(self.equal_f32s(b, b), self.max_f32s(a, b), b)
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

    /// Whether some lane of `x` is greater than `y`'s (a NaN lane is not):
    /// lets a kernel skip a piece of its formula that no lane needs.
    #[inline(always)]
    fn any_gt_f32s(self, x: Self::f32s, y: Self::f32s) -> bool {
        let lanes = std::mem::size_of::<Self::f32s>() / 4;
        self.first_true_m32s(self.greater_than_f32s(x, y)) < lanes
    }

    /// The first vector's worth of `src` widened to f32, exactly. Panics
    /// if `src` holds fewer than a vector's lanes. By default each lane
    /// through a loop the compiler vectorizes for the ISA.
    ///
    /// A bit shift: a signaling NaN stays signaling here (the element
    /// function makes it quiet). What is loaded this way is stored by
    /// [`Vf32::store_bf16s`] or [`Vf32::store_f16s`], which make every NaN
    /// they write quiet, and no f32 kernel treats a signaling NaN other than
    /// a quiet one with its payload, so the results are the same; the
    /// four instructions of the quieting were a third of the conversions in
    /// a bf16 `exp`.
    #[inline(always)]
    fn load_bf16s(self, src: &[bf16]) -> Self::f32s {
        let n = lanes::<Self>();
        let mut t = [0.0f32; MAX_LANES];
        for (t, x) in t[..n].iter_mut().zip(&src[..n]) {
            *t = f32::from_bits((x.to_bits() as u32) << 16);
        }
        vector_of::<Self>(&t)
    }

    /// `v` rounded to bf16 (nearest even) into the first vector's worth
    /// of `dst`. Panics if `dst` is shorter than that.
    #[inline(always)]
    fn store_bf16s(self, dst: &mut [bf16], v: Self::f32s) {
        let n = lanes::<Self>();
        let t = lanes_of::<Self>(v);
        for (d, &x) in dst[..n].iter_mut().zip(&t[..n]) {
            *d = bf16::from_bits(f32_to_bf16(x));
        }
    }

    /// As [`Vf32::load_bf16s`], for f16, NaN made quiet.
    #[inline(always)]
    fn load_f16s(self, src: &[f16]) -> Self::f32s {
        load_f16s_by_elements(self, src)
    }

    /// As [`Vf32::store_bf16s`], for f16 (subnormals rounded once).
    #[inline(always)]
    fn store_f16s(self, dst: &mut [f16], v: Self::f32s) {
        store_f16s_by_elements(self, dst, v)
    }

    /// Whether this processor has what [`Vf32::load_f16s_unchecked`] and
    /// [`Vf32::store_f16s_unchecked`] need: F16C on AVX2 (pulp's `V3`
    /// does not prove it); false where they are the checked methods. Read
    /// once by [`HalfConv::new`].
    #[inline(always)]
    fn f16c() -> bool {
        false
    }

    /// [`Vf32::load_f16s`] without a feature check of its own.
    ///
    /// # Safety
    /// `Self::f16c()` returned true.
    #[inline(always)]
    unsafe fn load_f16s_unchecked(self, src: &[f16]) -> Self::f32s {
        self.load_f16s(src)
    }

    /// [`Vf32::store_f16s`] without a feature check of its own.
    ///
    /// # Safety
    /// `Self::f16c()` returned true.
    #[inline(always)]
    unsafe fn store_f16s_unchecked(self, dst: &mut [f16], v: Self::f32s) {
        self.store_f16s(dst, v)
    }

    /// Copies a `rows x cols` block of 4-byte values transposed:
    /// `dst[c * dst_ld + r] = src[r * src_ld + c]`. Bits are moved, never
    /// converted, so any 4-byte element type (f32, i32) may be passed as
    /// `u32`. The vector ISAs move whole square blocks with register
    /// shuffles (8 x 8 on x86, 4 x 4 on NEON) and the edges one by one.
    ///
    /// # Safety
    /// Every `src[r * src_ld + c]` must be readable and every
    /// `dst[c * dst_ld + r]` writable (`r < rows`, `c < cols`), and the two
    /// regions must not overlap.
    #[inline(always)]
    unsafe fn transpose_u32(
        self,
        src: *const u32,
        src_ld: usize,
        rows: usize,
        cols: usize,
        dst: *mut u32,
        dst_ld: usize,
    ) {
        // SAFETY: the caller's contract, for the whole block.
        unsafe { transpose_u32_scalar(src, src_ld, 0, rows, cols, dst, dst_ld) }
    }
}

/// A token's f16 and bf16 conversions with their feature check made once.
/// On AVX2, [`Vf32::load_f16s`] and [`Vf32::store_f16s`] ask whether the
/// processor has F16C at every vector (a load of std's cache, which no loop
/// hoists: an f16 row sum ran at half its speed so); a loop that makes one
/// of these first reads the answer from a register.
///
/// ```
/// use ft_kernels::simd::HalfConv;
/// let c = HalfConv::new(pulp::Scalar::new());
/// let x = [half::f16::from_f32(1.5)];
/// assert_eq!(c.load_f16s(&x), 1.5);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HalfConv<S> {
    s: S,
    /// `S::f16c()`, read when this was made.
    f16c: bool,
}

impl<S: Vf32> HalfConv<S> {
    #[inline(always)]
    pub fn new(s: S) -> Self {
        HalfConv { s, f16c: S::f16c() }
    }
    /// The token.
    #[inline(always)]
    pub fn simd(self) -> S {
        self.s
    }
    /// [`Vf32::load_f16s`].
    #[inline(always)]
    pub fn load_f16s(self, src: &[f16]) -> S::f32s {
        if self.f16c {
            // SAFETY: `f16c` is `S::f16c()` (set only in `new`), true.
            unsafe { self.s.load_f16s_unchecked(src) }
        } else {
            self.s.load_f16s(src)
        }
    }
    /// [`Vf32::store_f16s`].
    #[inline(always)]
    pub fn store_f16s(self, dst: &mut [f16], v: S::f32s) {
        if self.f16c {
            // SAFETY: as in `load_f16s`.
            unsafe { self.s.store_f16s_unchecked(dst, v) }
        } else {
            self.s.store_f16s(dst, v)
        }
    }
    /// [`Vf32::load_bf16s`].
    #[inline(always)]
    pub fn load_bf16s(self, src: &[bf16]) -> S::f32s {
        self.s.load_bf16s(src)
    }
    /// [`Vf32::store_bf16s`].
    #[inline(always)]
    pub fn store_bf16s(self, dst: &mut [bf16], v: S::f32s) {
        self.s.store_bf16s(dst, v)
    }
}

/// The most f32 lanes of any ISA's vector (AVX-512's).
pub(crate) const MAX_LANES: usize = 16;

/// The f32 lanes of `S`'s vector.
#[inline(always)]
pub fn lanes<S: pulp::Simd>() -> usize {
    std::mem::size_of::<S::f32s>() / 4
}

/// The vector of `t`'s first [`lanes`].
#[inline(always)]
fn vector_of<S: Vf32>(t: &[f32; MAX_LANES]) -> S::f32s {
    S::as_simd_f32s(&t[..lanes::<S>()]).0[0]
}

/// `v`'s lanes, first [`lanes`] of the array.
#[inline(always)]
fn lanes_of<S: Vf32>(v: S::f32s) -> [f32; MAX_LANES] {
    let mut t = [0.0f32; MAX_LANES];
    S::as_mut_simd_f32s(&mut t[..lanes::<S>()]).0[0] = v;
    t
}

/// [`Vf32::load_f16s`] lane by lane through the element function.
#[inline(always)]
fn load_f16s_by_elements<S: Vf32>(_s: S, src: &[f16]) -> S::f32s {
    let n = lanes::<S>();
    let mut t = [0.0f32; MAX_LANES];
    for (t, x) in t[..n].iter_mut().zip(&src[..n]) {
        *t = f16_to_f32(x.to_bits());
    }
    vector_of::<S>(&t)
}

/// [`Vf32::store_f16s`] lane by lane through the element function.
#[inline(always)]
fn store_f16s_by_elements<S: Vf32>(_s: S, dst: &mut [f16], v: S::f32s) {
    let n = lanes::<S>();
    let t = lanes_of::<S>(v);
    for (d, &x) in dst[..n].iter_mut().zip(&t[..n]) {
        *d = f16::from_bits(f32_to_f16(x));
    }
}

/// The scalar part of [`Vf32::transpose_u32`]: rows `r0..rows` of the block
/// (the vector paths pass the rows their square blocks did not cover), plus,
/// from `r0 = 0`, nothing else.
///
/// # Safety
/// As [`Vf32::transpose_u32`].
#[inline(never)]
unsafe fn transpose_u32_scalar(
    src: *const u32,
    src_ld: usize,
    r0: usize,
    rows: usize,
    cols: usize,
    dst: *mut u32,
    dst_ld: usize,
) {
    for r in r0..rows {
        for c in 0..cols {
            // SAFETY: r < rows and c < cols: inside both blocks (caller).
            unsafe { *dst.add(c * dst_ld + r) = *src.add(r * src_ld + c) };
        }
    }
}

/// The vector paths' shared walk: `B x B` blocks moved by `block` over the
/// largest multiple of `B` in each direction; the right-hand columns of
/// those rows and the bottom rows one by one.
///
/// # Safety
/// As [`Vf32::transpose_u32`]; `block(s, d)` must move exactly the `B x B`
/// block at `s` (rows `src_ld` apart) to `d` (rows `dst_ld` apart).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[inline(always)]
unsafe fn transpose_blocks<const B: usize>(
    src: *const u32,
    src_ld: usize,
    rows: usize,
    cols: usize,
    dst: *mut u32,
    dst_ld: usize,
    mut block: impl FnMut(*const u32, *mut u32),
) {
    let (rb, cb) = (rows / B * B, cols / B * B);
    for r in (0..rb).step_by(B) {
        for c in (0..cb).step_by(B) {
            // r + B <= rows and c + B <= cols: the block lies inside both
            // regions (wrapping arithmetic keeps this safe to compute).
            block(
                src.wrapping_add(r * src_ld + c),
                dst.wrapping_add(c * dst_ld + r),
            );
        }
        for c in cb..cols {
            for i in r..r + B {
                // SAFETY: i < rows, c < cols.
                unsafe { *dst.add(c * dst_ld + i) = *src.add(i * src_ld + c) };
            }
        }
    }
    // SAFETY: rows rb..rows of the same block.
    unsafe { transpose_u32_scalar(src, src_ld, rb, rows, cols, dst, dst_ld) }
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

/// [`prefetch`] of every 64-byte line of the `bytes` bytes from `start`
/// (one request per 64 bytes from `start`). The addresses are only
/// computed (`wrapping_add`), never read, so the range may lie partly or
/// wholly outside any allocation.
#[inline(always)]
pub fn prefetch_lines(start: *const u8, bytes: usize, level: u8) {
    for off in (0..bytes).step_by(64) {
        prefetch(start.wrapping_add(off), level);
    }
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
    use half::f16;
    use pulp::x86::{V3, V4};
    use pulp::{f32x8, f32x16, i32x8, i32x16};
    use std::arch::x86_64::{_mm256_cvtph_ps, _mm256_cvtps_ph};

    /// One 8 x 8 block of 4-byte values, transposed in registers: eight
    /// row loads, 24 shuffles, eight column stores.
    ///
    /// # Safety
    /// The processor has AVX; eight rows of eight values at `src` (`src_ld`
    /// apart) are readable, eight at `dst` (`dst_ld` apart) writable.
    #[target_feature(enable = "avx")]
    #[inline]
    unsafe fn transpose_8x8(src: *const u32, src_ld: usize, dst: *mut u32, dst_ld: usize) {
        use std::arch::x86_64::*;
        // SAFETY: row i of the source block is 8 readable values (caller).
        let r: [__m256; 8] =
            std::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * src_ld) as *const f32) });
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        // Columns c and c + 4 of rows 0..4 (s0..s3) and 4..8 (s4..s7).
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let cols = [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        for (c, v) in cols.into_iter().enumerate() {
            // SAFETY: row c of the destination block is 8 writable values.
            unsafe { _mm256_storeu_ps(dst.add(c * dst_ld) as *mut f32, v) };
        }
    }

    /// [`Vf32::transpose_u32`] in 8 x 8 blocks.
    ///
    /// # Safety
    /// The processor has AVX; the contract of [`Vf32::transpose_u32`].
    #[target_feature(enable = "avx")]
    unsafe fn transpose_u32_avx(
        src: *const u32,
        src_ld: usize,
        rows: usize,
        cols: usize,
        dst: *mut u32,
        dst_ld: usize,
    ) {
        // SAFETY: each 8 x 8 block passed lies inside both regions
        // (`transpose_blocks`' contract); the caller guarantees AVX.
        unsafe {
            super::transpose_blocks::<8>(src, src_ld, rows, cols, dst, dst_ld, |s, d| {
                transpose_8x8(s, src_ld, d, dst_ld)
            })
        }
    }

    // _MM_FROUND_{TO_NEAREST_INT, TO_NEG_INF, TO_POS_INF, TO_ZERO} | _MM_FROUND_NO_EXC
    const NEAREST: i32 = 8;
    const FLOOR: i32 = 9;
    const CEIL: i32 = 10;
    const TRUNC: i32 = 11;

    /// Eight f16 widened by `vcvtph2ps` (exact, sNaN made quiet).
    #[target_feature(enable = "avx,f16c")]
    #[inline]
    fn widen_f16x8(h: [f16; 8]) -> f32x8 {
        cast(_mm256_cvtph_ps(cast(h)))
    }

    /// Eight f32 narrowed by `vcvtps2ph` imm 0: nearest even whatever
    /// MXCSR says.
    #[target_feature(enable = "avx,f16c")]
    #[inline]
    fn narrow_f16x8(v: f32x8) -> [f16; 8] {
        cast(_mm256_cvtps_ph::<0>(cast(v)))
    }

    /// Whether the processor has F16C. pulp's `V3` does not prove it
    /// (x86-64-v3 has it, the token does not check it), so each use checks
    /// (a load and a bit test of std's cache). `run_v3` and `run_v4` are
    /// compiled with `f16c` (`isa::run_on` checks it before calling them),
    /// so inside a kernel job the F16C functions above are inlined.
    #[inline(always)]
    fn has_f16c() -> bool {
        std::arch::is_x86_feature_detected!("f16c")
    }

    impl Vf32 for V3 {
        #[inline(always)]
        fn min_or_nan_f32s(self, a: f32x8, b: f32x8) -> f32x8 {
            // MINPS: the second operand where either is NaN.
            cast(self.avx._mm256_min_ps(cast(a), cast(b)))
        }
        #[inline(always)]
        fn max_or_nan_f32s(self, a: f32x8, b: f32x8) -> f32x8 {
            // MAXPS: the second operand where either is NaN.
            cast(self.avx._mm256_max_ps(cast(a), cast(b)))
        }
        #[inline(always)]
        fn any_gt_f32s(self, x: f32x8, y: f32x8) -> bool {
            // _CMP_GT_OQ: false where either is NaN.
            let gt = self.avx._mm256_cmp_ps::<30>(cast(x), cast(y));
            self.avx._mm256_movemask_ps(gt) != 0
        }
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
        #[inline(always)]
        unsafe fn transpose_u32(
            self,
            src: *const u32,
            src_ld: usize,
            rows: usize,
            cols: usize,
            dst: *mut u32,
            dst_ld: usize,
        ) {
            // SAFETY: this ISA's token proves AVX; the block contract is
            // the caller's.
            unsafe { transpose_u32_avx(src, src_ld, rows, cols, dst, dst_ld) }
        }
        #[inline(always)]
        fn load_f16s(self, src: &[f16]) -> f32x8 {
            let h: [f16; 8] = src[..8].try_into().expect("8 lanes");
            if has_f16c() {
                // SAFETY: the processor has F16C (checked just above) and
                // AVX (the token).
                unsafe { widen_f16x8(h) }
            } else {
                super::load_f16s_by_elements(self, src)
            }
        }
        #[inline(always)]
        fn store_f16s(self, dst: &mut [f16], v: f32x8) {
            if has_f16c() {
                // SAFETY: as in `load_f16s`.
                dst[..8].copy_from_slice(&unsafe { narrow_f16x8(v) });
            } else {
                super::store_f16s_by_elements(self, dst, v)
            }
        }
        #[inline(always)]
        fn f16c() -> bool {
            has_f16c()
        }
        #[inline(always)]
        unsafe fn load_f16s_unchecked(self, src: &[f16]) -> f32x8 {
            let h: [f16; 8] = src[..8].try_into().expect("8 lanes");
            // SAFETY: the caller's contract: the processor has F16C; AVX is
            // the token's.
            unsafe { widen_f16x8(h) }
        }
        #[inline(always)]
        unsafe fn store_f16s_unchecked(self, dst: &mut [f16], v: f32x8) {
            // SAFETY: as in `load_f16s_unchecked`.
            dst[..8].copy_from_slice(&unsafe { narrow_f16x8(v) });
        }
    }

    impl Vf32 for V4 {
        #[inline(always)]
        fn min_or_nan_f32s(self, a: f32x16, b: f32x16) -> f32x16 {
            // VMINPS: the second operand where either is NaN.
            cast(self.avx512f._mm512_min_ps(cast(a), cast(b)))
        }
        #[inline(always)]
        fn max_or_nan_f32s(self, a: f32x16, b: f32x16) -> f32x16 {
            // VMAXPS: the second operand where either is NaN.
            cast(self.avx512f._mm512_max_ps(cast(a), cast(b)))
        }
        #[inline(always)]
        fn any_gt_f32s(self, x: f32x16, y: f32x16) -> bool {
            // _CMP_GT_OQ: false where either is NaN.
            self.avx512f._mm512_cmp_ps_mask::<30>(cast(x), cast(y)) != 0
        }
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
        /// `vcvtph2ps`: exact, sNaN made quiet (AVX-512F itself).
        #[inline(always)]
        fn load_f16s(self, src: &[f16]) -> f32x16 {
            let h: [f16; 16] = src[..16].try_into().expect("16 lanes");
            cast(self.avx512f._mm512_cvtph_ps(cast(h)))
        }
        /// `vcvtps2ph` with imm 8: nearest even whatever MXCSR says,
        /// exceptions suppressed.
        #[inline(always)]
        fn store_f16s(self, dst: &mut [f16], v: f32x16) {
            let h: [f16; 16] = cast(self.avx512f._mm512_cvtps_ph::<8>(cast(v)));
            dst[..16].copy_from_slice(&h);
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
        #[inline(always)]
        unsafe fn transpose_u32(
            self,
            src: *const u32,
            src_ld: usize,
            rows: usize,
            cols: usize,
            dst: *mut u32,
            dst_ld: usize,
        ) {
            // SAFETY: this ISA's token proves AVX; the block contract is
            // the caller's.
            unsafe { transpose_u32_avx(src, src_ld, rows, cols, dst, dst_ld) }
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
        #[inline(always)]
        unsafe fn transpose_u32(
            self,
            src: *const u32,
            src_ld: usize,
            rows: usize,
            cols: usize,
            dst: *mut u32,
            dst_ld: usize,
        ) {
            // SAFETY: this ISA's token proves NEON; the block contract is
            // the caller's.
            unsafe { transpose_u32_neon(src, src_ld, rows, cols, dst, dst_ld) }
        }
    }

    /// One 4 x 4 block of 4-byte values, transposed in registers.
    ///
    /// # Safety
    /// The processor has NEON; four rows of four values at `src` (`src_ld`
    /// apart) are readable, four at `dst` (`dst_ld` apart) writable.
    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn transpose_4x4(src: *const u32, src_ld: usize, dst: *mut u32, dst_ld: usize) {
        use std::arch::aarch64::*;
        // SAFETY: row i of the source block is 4 readable values (caller).
        let r: [uint32x4_t; 4] = std::array::from_fn(|i| unsafe { vld1q_u32(src.add(i * src_ld)) });
        // Pairs: t0 = (r0[0], r1[0], r0[2], r1[2]), t1 = (r0[1], r1[1], r0[3], r1[3]).
        let t0 = vreinterpretq_u64_u32(vtrn1q_u32(r[0], r[1]));
        let t1 = vreinterpretq_u64_u32(vtrn2q_u32(r[0], r[1]));
        let t2 = vreinterpretq_u64_u32(vtrn1q_u32(r[2], r[3]));
        let t3 = vreinterpretq_u64_u32(vtrn2q_u32(r[2], r[3]));
        let cols = [
            vzip1q_u64(t0, t2),
            vzip1q_u64(t1, t3),
            vzip2q_u64(t0, t2),
            vzip2q_u64(t1, t3),
        ];
        for (c, v) in cols.into_iter().enumerate() {
            // SAFETY: row c of the destination block is 4 writable values.
            unsafe { vst1q_u32(dst.add(c * dst_ld), vreinterpretq_u32_u64(v)) };
        }
    }

    /// [`Vf32::transpose_u32`] in 4 x 4 blocks.
    ///
    /// # Safety
    /// The processor has NEON; the contract of [`Vf32::transpose_u32`].
    #[target_feature(enable = "neon")]
    unsafe fn transpose_u32_neon(
        src: *const u32,
        src_ld: usize,
        rows: usize,
        cols: usize,
        dst: *mut u32,
        dst_ld: usize,
    ) {
        // SAFETY: each 4 x 4 block passed lies inside both regions
        // (`transpose_blocks`' contract); the caller guarantees NEON.
        unsafe {
            super::transpose_blocks::<4>(src, src_ld, rows, cols, dst, dst_ld, |s, d| {
                transpose_4x4(s, src_ld, d, dst_ld)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Vf32;
    use crate::isa::{Isa, Job, dispatch_on};

    /// `any_gt_f32s` for one lane above the bound in each position, none,
    /// a lane equal to it, and NaN lanes, on the given ISA's vector.
    struct AnyGt;

    impl Job for AnyGt {
        type Output = Vec<(String, bool, bool)>;
        fn run<S: Vf32>(self, s: S) -> Self::Output {
            let lanes = std::mem::size_of::<S::f32s>() / 4;
            let one = s.splat_f32s(1.0);
            let check = |name: String, buf: Vec<f32>, want: bool| {
                let v = S::as_simd_f32s(&buf).0[0];
                (name, s.any_gt_f32s(v, one), want)
            };
            let mut out = vec![
                check("none".into(), vec![0.5; lanes], false),
                check("equal".into(), vec![1.0; lanes], false),
                check("nan".into(), vec![f32::NAN; lanes], false),
            ];
            for i in 0..lanes {
                let mut buf = vec![-3.0; lanes];
                buf[i] = 1.5;
                out.push(check(format!("lane {i}"), buf, true));
            }
            out
        }
    }

    #[test]
    fn any_gt_sees_every_lane_and_no_nan() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon] {
            let Ok(cases) = dispatch_on(isa, AnyGt) else {
                continue;
            };
            for (name, got, want) in cases {
                assert_eq!(got, want, "{isa} {name}");
            }
        }
    }
}
