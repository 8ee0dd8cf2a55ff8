//! f16 and bf16 to and from f32, element by element and by slices, as
//! half's `to_f32` / `from_f32` convert (and PyTorch's `.to()`): widening
//! exact, narrowing to nearest even, NaN kept quiet with its top payload
//! bits.
//!
//! The element functions are branch-free (selects), so the loops over
//! slices vectorize on whatever ISA they are compiled for. On x86_64 the
//! slice functions run compiled for AVX2 where the processor has AVX2 and
//! F16C and `FT_ISA` is not `scalar`: f16 by F16C (`vcvtph2ps` /
//! `vcvtps2ph`, eight per instruction), bf16 by the portable loops eight
//! lanes wide. The slice functions check for F16C themselves: they serve
//! the engine's gathers and scatters outside kernel jobs, and, inside
//! them, the reductions' f16 sub-blocks ([`convert`]; bf16 there inline).
//! Since kernel jobs are compiled with F16C (`isa::run_v3` / `run_v4`),
//! a job's vector loop can convert in registers instead: `Vf32`'s
//! `load_f16s` / `store_f16s` and their bf16 twins, which the f16/bf16
//! elementwise loops (`map::map1_half` / `map2_half`) use.
//! Through `ft_core::cast` (by way of f64, half's per-element feature
//! check included) a bf16 element took ~22 instructions each way: more
//! than an add of two of them.

use ft_core::{Element, cast};
use half::{bf16, f16};
use std::mem::MaybeUninit;

/// `xs` as a slice of `T` if `U` is `T`.
#[inline(always)]
pub(crate) fn as_same<U: Element, T: Element>(xs: &[U]) -> Option<&[T]> {
    // SAFETY: equal dtypes mean U and T are the same type (one Element
    // type per dtype), so the slice is reinterpreted as itself.
    (U::DTYPE == T::DTYPE).then(|| unsafe { &*(xs as *const [U] as *const [T]) })
}

/// [`as_same`] for a mutable slice.
#[inline(always)]
pub(crate) fn as_same_mut<U: Element, T: Element>(xs: &mut [U]) -> Option<&mut [T]> {
    // SAFETY: as in `as_same`: U and T are the same type.
    (U::DTYPE == T::DTYPE).then(|| unsafe { &mut *(xs as *mut [U] as *mut [T]) })
}

/// `x` as a `T` if `U` is `T`.
#[inline(always)]
fn same<U: Element, T: Element>(x: U) -> Option<T> {
    as_same::<U, T>(std::slice::from_ref(&x)).map(|s| s[0])
}

/// `cast::<U, T>(x)`, with f16/bf16 to and from f32 by the bit functions
/// below (the same values, without f64).
#[inline(always)]
pub(crate) fn cast_fast<U: Element, T: Element>(x: U) -> T {
    if let Some(t) = same::<U, T>(x) {
        return t;
    }
    if let Some(b) = same::<U, bf16>(x) {
        if let Some(w) = same::<f32, T>(bf16_to_f32(b.to_bits())) {
            return w;
        }
    } else if let Some(h) = same::<U, f16>(x) {
        if let Some(w) = same::<f32, T>(f16_to_f32(h.to_bits())) {
            return w;
        }
    } else if let Some(v) = same::<U, f32>(x) {
        if let Some(b) = same::<bf16, T>(bf16::from_bits(f32_to_bf16(v))) {
            return b;
        }
        if let Some(h) = same::<f16, T>(f16::from_bits(f32_to_f16(v))) {
            return h;
        }
    }
    cast::<U, T>(x)
}

/// Writes `cast::<U, T>(src[i])` into `dst[i]` (equal lengths) if the pair
/// is f16/bf16 and f32 either way, by slices; false, and nothing written,
/// for any other pair. f16 always by the out-of-line slice functions (F16C
/// where it can); bf16 by them too unless `INLINE_BF16`, then by loops
/// inlined into the caller (inside a kernel job, compiled for its ISA: a
/// call and the feature checks cost as much as 128 elements' conversion).
#[inline(always)]
fn convert_slice<U: Element, T: Element, const INLINE_BF16: bool>(
    src: &[U],
    dst: &mut [MaybeUninit<T>],
) -> bool {
    debug_assert_eq!(src.len(), dst.len());
    if let Some(d) = as_same_uninit_mut::<T, f32>(dst) {
        if let Some(s) = as_same::<U, bf16>(src) {
            if INLINE_BF16 {
                widen_bf16_portable(s, d);
            } else {
                widen_bf16(s, d);
            }
            return true;
        }
        if let Some(s) = as_same::<U, f16>(src) {
            widen_f16(s, d);
            return true;
        }
    } else if let Some(s) = as_same::<U, f32>(src) {
        if let Some(d) = as_same_uninit_mut::<T, bf16>(dst) {
            if INLINE_BF16 {
                narrow_bf16_portable(s, d);
            } else {
                narrow_bf16(s, d);
            }
            return true;
        }
        if let Some(d) = as_same_uninit_mut::<T, f16>(dst) {
            narrow_f16(s, d);
            return true;
        }
    }
    false
}

/// `dst[i] = cast(src[i])` (equal lengths), from inside a kernel job:
/// f16/bf16 and f32 either way by [`convert_slice`] (bf16 inlined), the
/// rest element by element.
#[inline(always)]
pub(crate) fn convert<U: Element, T: Element>(src: &[U], dst: &mut [T]) {
    let dst = slots(dst);
    if !convert_slice::<U, T, true>(src, dst) {
        convert_elements(src, dst);
    }
}

/// [`convert`] into slots not yet written, from outside a kernel job (the
/// engine's out-of-line gathers): bf16 too by the out-of-line functions,
/// compiled for AVX2.
#[inline(always)]
pub(crate) fn convert_uninit<U: Element, T: Element>(src: &[U], dst: &mut [MaybeUninit<T>]) {
    if !convert_slice::<U, T, false>(src, dst) {
        convert_elements(src, dst);
    }
}

#[inline(always)]
fn convert_elements<U: Element, T: Element>(src: &[U], dst: &mut [MaybeUninit<T>]) {
    debug_assert_eq!(src.len(), dst.len());
    for (d, &x) in dst.iter_mut().zip(src) {
        d.write(cast_fast::<U, T>(x));
    }
}

/// [`as_same_mut`] for a slice of `MaybeUninit`.
#[inline(always)]
fn as_same_uninit_mut<U: Element, T: Element>(
    xs: &mut [MaybeUninit<U>],
) -> Option<&mut [MaybeUninit<T>]> {
    // SAFETY: as in `as_same`: U and T are the same type.
    (U::DTYPE == T::DTYPE)
        .then(|| unsafe { &mut *(xs as *mut [MaybeUninit<U>] as *mut [MaybeUninit<T>]) })
}

/// `xs` as `MaybeUninit` slots for this module's conversions to write.
#[inline(always)]
pub(crate) fn slots<T: Copy>(xs: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: MaybeUninit<T> has T's layout; the callers pass the slots
    // only to this module's conversions, which write initialised values
    // only, so `xs` stays initialised.
    unsafe { &mut *(xs as *mut [T] as *mut [MaybeUninit<T>]) }
}

// ------------------------------------------------------------ elements

/// The f32 of bf16 bits, as half's `to_f32` (NaN keeps its payload and is
/// made quiet), without a branch.
#[inline(always)]
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    let quiet = if b & 0x7fff > 0x7f80 { 0x40 } else { 0 };
    f32::from_bits(((b | quiet) as u32) << 16)
}

/// The f32 of f16 bits, as half's `to_f32` (subnormals exact, NaN's
/// payload kept and made quiet), with selects instead of branches.
#[inline(always)]
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let em = h & 0x7fff;
    // Normal: the exponent rebiased from 15 to 127.
    let normal = (em << 13) + ((127 - 15) << 23);
    // Subnormal (and zero): the mantissa times 2^-24, exact in f32.
    let sub = (em as f32 * f32::from_bits(0x3380_0000)).to_bits();
    let quiet = if em > 0x7c00 { 0x0040_0000 } else { 0 };
    let inf_nan = (em << 13) | 0x7f80_0000 | quiet;
    let bits = if em >= 0x7c00 {
        inf_nan
    } else if em < 0x0400 {
        sub
    } else {
        normal
    };
    f32::from_bits(bits | (h & 0x8000) << 16)
}

/// The bf16 bits nearest `x` (ties to even; overflow to inf), NaN made
/// quiet with its top payload bits, as half's `bf16::from_f32`.
#[inline(always)]
pub(crate) fn f32_to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    // Adding just under half a unit of the kept bits, plus their last bit,
    // carries exactly when the dropped bits round up (a carry out of the
    // mantissa steps the exponent, to inf past the largest finite).
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16;
    let nan = (b >> 16) | 0x40;
    (if b & 0x7fff_ffff > 0x7f80_0000 {
        nan
    } else {
        rounded
    }) as u16
}

/// The f16 bits nearest `x` (ties to even; subnormals rounded once;
/// overflow to inf), NaN made quiet with its top payload bits, as half's
/// `f16::from_f32` and F16C's `vcvtps2ph` in nearest mode.
#[inline(always)]
pub(crate) fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let a = b & 0x7fff_ffff;
    // |x| in f16's normal range: the exponent rebiased, rounded at bit 13
    // as in `f32_to_bf16` (to inf from 65520 up).
    let normal = (a.wrapping_sub((127 - 15) << 23) + 0xfff + ((a >> 13) & 1)) >> 13;
    // Below 2^-14: adding 0.5 (whose f32 unit is 2^-24, f16's smallest
    // subnormal) rounds |x| to a whole number of those units, to nearest
    // even, in the add itself; the units are the low bits of the sum.
    let sub = (f32::from_bits(a) + 0.5)
        .to_bits()
        .wrapping_sub(0x3f00_0000);
    let nan = 0x7e00 | ((a >> 13) & 0x3ff);
    let bits = if a > 0x7f80_0000 {
        nan
    } else if a >= 0x4780_0000 {
        // 2^16 and up (inf included).
        0x7c00
    } else if a < 0x3880_0000 {
        sub
    } else {
        normal
    };
    (bits | (b >> 16) & 0x8000) as u16
}

// ------------------------------------------------------------ slices

/// Whether the slice conversions may use AVX2 and F16C: the ISA in use is
/// AVX2 or AVX-512 (`FT_ISA` is not `scalar`). `isa()` names those only
/// where the processor can run them, pulp's features and F16C included
/// (`isa::x86_jobs`), so no feature test of its own is needed here.
#[cfg(target_arch = "x86_64")]
#[inline]
fn use_avx2() -> bool {
    use crate::isa::{Isa, isa};
    matches!(isa(), Isa::Avx2 | Isa::Avx512)
}

#[cfg(all(test, target_arch = "x86_64"))]
fn has_avx2_f16c() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c")
}

/// A slice conversion: the AVX2 version where [`use_avx2`] says so, else
/// the portable one.
macro_rules! dispatched {
    ($(#[$doc:meta])* $name:ident, $portable:ident, $src:ty => $dst:ty) => {
        $(#[$doc])*
        #[inline]
        pub(crate) fn $name(src: &[$src], dst: &mut [MaybeUninit<$dst>]) {
            #[cfg(target_arch = "x86_64")]
            if use_avx2() {
                // SAFETY: the processor has AVX2 and F16C: the ISA in use
                // is AVX2 or AVX-512 (checked just above), which `isa()`
                // picks only where both were found.
                return unsafe { x86::$name(src, dst) };
            }
            $portable(src, dst)
        }
    };
}

dispatched!(
    /// `dst[i]` = `src[i]` widened (equal lengths).
    widen_bf16, widen_bf16_portable, bf16 => f32
);
dispatched!(
    /// `dst[i]` = `src[i]` rounded to bf16 (equal lengths).
    narrow_bf16, narrow_bf16_portable, f32 => bf16
);
dispatched!(
    /// `dst[i]` = `src[i]` widened (equal lengths).
    widen_f16, widen_f16_portable, f16 => f32
);
dispatched!(
    /// `dst[i]` = `src[i]` rounded to f16 (equal lengths).
    narrow_f16, narrow_f16_portable, f32 => f16
);

#[inline(always)]
fn widen_bf16_portable(src: &[bf16], dst: &mut [MaybeUninit<f32>]) {
    for (d, x) in dst.iter_mut().zip(src) {
        d.write(bf16_to_f32(x.to_bits()));
    }
}

#[inline(always)]
fn narrow_bf16_portable(src: &[f32], dst: &mut [MaybeUninit<bf16>]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        d.write(bf16::from_bits(f32_to_bf16(x)));
    }
}

#[inline(always)]
fn widen_f16_portable(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
    for (d, x) in dst.iter_mut().zip(src) {
        d.write(f16_to_f32(x.to_bits()));
    }
}

#[inline(always)]
fn narrow_f16_portable(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        d.write(f16::from_bits(f32_to_f16(x)));
    }
}

/// The slice conversions compiled for AVX2: bf16 by the portable loops
/// (the compiler vectorizes them eight lanes wide), f16 by F16C.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use half::{bf16, f16};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// # Safety
    /// The processor has AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn widen_bf16(src: &[bf16], dst: &mut [MaybeUninit<f32>]) {
        super::widen_bf16_portable(src, dst)
    }

    /// # Safety
    /// The processor has AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn narrow_bf16(src: &[f32], dst: &mut [MaybeUninit<bf16>]) {
        super::narrow_bf16_portable(src, dst)
    }

    /// Eight at a time with `vcvtph2ps`; the last `len % 8` portably (the
    /// same values).
    ///
    /// # Safety
    /// The processor has AVX2 and F16C.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn widen_f16(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
        let n = src.len().min(dst.len());
        let whole = n / 8 * 8;
        let (s, d) = (src.as_ptr() as *const __m128i, dst.as_mut_ptr() as *mut f32);
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= n: eight f16 (16 bytes) readable at element
            // i of `src`, eight f32 writable at element i of `dst`
            // (unaligned load and store).
            unsafe {
                let h = _mm_loadu_si128(s.byte_add(2 * i));
                _mm256_storeu_ps(d.add(i), _mm256_cvtph_ps(h));
            }
        }
        super::widen_f16_portable(&src[whole..n], &mut dst[whole..n]);
    }

    /// Eight at a time with `vcvtps2ph` to nearest even; the last
    /// `len % 8` portably (the same values).
    ///
    /// # Safety
    /// The processor has AVX2 and F16C.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn narrow_f16(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
        let n = src.len().min(dst.len());
        let whole = n / 8 * 8;
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr() as *mut __m128i);
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= n: eight f32 readable at element i of `src`,
            // eight f16 (16 bytes) writable at element i of `dst`.
            unsafe {
                let v = _mm256_loadu_ps(s.add(i));
                // Imm 0: round to nearest even, whatever MXCSR says.
                _mm_storeu_si128(d.byte_add(2 * i), _mm256_cvtps_ph::<0>(v));
            }
        }
        super::narrow_f16_portable(&src[whole..n], &mut dst[whole..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact value of f16 bits, from the format's definition (f64
    /// arithmetic; independent of half and of F16C).
    fn f16_value(h: u16) -> f64 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let (e, m) = (((h >> 10) & 0x1f) as i32, (h & 0x3ff) as f64);
        sign * match e {
            0 => m * 2f64.powi(-24),
            31 if m == 0.0 => f64::INFINITY,
            31 => f64::NAN,
            _ => (1.0 + m / 1024.0) * 2f64.powi(e - 15),
        }
    }

    /// The exact value of bf16 bits (f32's top half).
    fn bf16_value(b: u16) -> f64 {
        f32::from_bits((b as u32) << 16) as f64
    }

    /// The nearest of the non-negative finite values `grid` (ascending, at
    /// index = bits) to |x|, ties to the even bits; past the largest
    /// finite by half a unit or more, inf (`inf_bits`). Then the sign.
    fn nearest(x: f32, grid: &[f64], inf_bits: u16) -> u16 {
        let a = (x as f64).abs();
        let top = grid.len() - 1;
        let unit_at_top = grid[top] - grid[top - 1];
        let bits = if a >= grid[top] + unit_at_top / 2.0 {
            inf_bits
        } else {
            let hi = grid.partition_point(|&g| g < a).min(top);
            let lo = hi.saturating_sub(1);
            let (dl, dh) = (a - grid[lo], grid[hi] - a);
            let pick = if dl < dh || (dl == dh && lo % 2 == 0) {
                lo
            } else {
                hi
            };
            pick as u16
        };
        bits | if x.is_sign_negative() { 0x8000 } else { 0 }
    }

    /// f32 inputs that probe every rounding case: each 16-bit value, the
    /// midpoints between neighbours and one f32 ulp either side of them,
    /// the subnormal and overflow edges, and pseudo-random bit patterns
    /// (NaNs with payloads among them).
    fn probes(value: impl Fn(u16) -> f64, finite_top: u16) -> Vec<f32> {
        let mut xs = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        xs.extend([
            f32::from_bits(0x7f80_0001),
            f32::from_bits(0xffc1_2345),
            f32::MIN_POSITIVE,
        ]);
        xs.extend([
            f32::from_bits(1),
            f32::MAX,
            65504.0,
            65519.99,
            65520.0,
            65536.0,
        ]);
        for h in 0..finite_top {
            let (v, next) = (value(h), value(h + 1));
            let mid = ((v + next) / 2.0) as f32;
            for x in [v as f32, mid, mid.next_down(), mid.next_up()] {
                xs.push(x);
                xs.push(-x);
            }
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            xs.push(f32::from_bits(s as u32));
        }
        xs
    }

    fn narrow_want(x: f32, grid: &[f64], inf_bits: u16, quiet: u16, shift: u32) -> u16 {
        if x.is_nan() {
            let b = x.to_bits();
            let top = ((b >> 16) & 0x8000) as u16 | inf_bits | quiet;
            return top | ((b & 0x007f_ffff) >> shift) as u16;
        }
        nearest(x, grid, inf_bits)
    }

    /// A 16-bit format: its values, its inf bits, its quiet bit and how far
    /// its mantissa sits below f32's.
    #[derive(Clone, Copy)]
    struct Format {
        name: &'static str,
        value: fn(u16) -> f64,
        inf: u16,
        quiet: u16,
        shift: u32,
    }

    const F16: Format = Format {
        name: "f16",
        value: f16_value,
        inf: 0x7c00,
        quiet: 0x0200,
        shift: 13,
    };
    const BF16: Format = Format {
        name: "bf16",
        value: bf16_value,
        inf: 0x7f80,
        quiet: 0x0040,
        shift: 16,
    };

    /// `convert` over `src` in pieces of 1 to 37 elements, so that every
    /// length of a slice's tail is met.
    fn in_pieces<A: Copy, B: Copy + Default>(
        src: &[A],
        convert: impl Fn(&[A], &mut [MaybeUninit<B>]),
    ) -> Vec<B> {
        let mut out = vec![B::default(); src.len()];
        let (mut at, mut len) = (0, 1);
        while at < src.len() {
            let end = (at + len).min(src.len());
            convert(&src[at..end], slots(&mut out[at..end]));
            (at, len) = (end, len % 37 + 1);
        }
        out
    }

    /// One of the AVX2 slice functions as a safe function.
    #[cfg(target_arch = "x86_64")]
    fn avx2<A, B>(
        f: unsafe fn(&[A], &mut [MaybeUninit<B>]),
    ) -> impl Fn(&[A], &mut [MaybeUninit<B>]) {
        assert!(has_avx2_f16c());
        move |src, dst| {
            // SAFETY: the processor has AVX2 and F16C (asserted above).
            unsafe { f(src, dst) }
        }
    }

    /// Every way this module widens: (format, path, the f32 of each of the
    /// 65,536 bit patterns).
    fn widenings(all: &[u16]) -> Vec<(Format, &'static str, Vec<f32>)> {
        let h: Vec<f16> = all.iter().map(|&b| f16::from_bits(b)).collect();
        let b: Vec<bf16> = all.iter().map(|&b| bf16::from_bits(b)).collect();
        // Pushed to on x86_64 only.
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut runs = vec![
            (F16, "portable", in_pieces(&h, widen_f16_portable)),
            (F16, "dispatched", in_pieces(&h, widen_f16)),
            (
                F16,
                "cast_fast",
                h.iter().map(|&x| cast_fast::<f16, f32>(x)).collect(),
            ),
            (BF16, "portable", in_pieces(&b, widen_bf16_portable)),
            (BF16, "dispatched", in_pieces(&b, widen_bf16)),
            (
                BF16,
                "cast_fast",
                b.iter().map(|&x| cast_fast::<bf16, f32>(x)).collect(),
            ),
        ];
        #[cfg(target_arch = "x86_64")]
        if has_avx2_f16c() {
            runs.push((F16, "avx2", in_pieces(&h, avx2(x86::widen_f16))));
            runs.push((BF16, "avx2", in_pieces(&b, avx2(x86::widen_bf16))));
        }
        runs
    }

    #[test]
    fn every_sixteen_bit_value_widens_exactly() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        for (fmt, path, got) in widenings(&all) {
            for (&bits, &g) in all.iter().zip(&got) {
                let want = (fmt.value)(bits);
                let what = format!("{} {path} {bits:#06x}", fmt.name);
                if want.is_nan() {
                    // Quiet, payload kept (as half and F16C give it).
                    let payload = (bits & (0x7fff ^ fmt.inf)) as u32;
                    let w = (bits as u32 & 0x8000) << 16 | 0x7fc0_0000 | payload << fmt.shift;
                    assert_eq!(g.to_bits(), w, "{what}");
                } else {
                    assert_eq!(g as f64, want, "{what}");
                    assert_eq!(g.is_sign_negative(), bits & 0x8000 != 0, "{what}");
                }
            }
        }
    }

    /// Every way this module narrows to `fmt`: (path, the bits of each of
    /// `xs` rounded).
    fn narrowings(fmt: Format, xs: &[f32]) -> Vec<(&'static str, Vec<u16>)> {
        let f16s = |v: Vec<f16>| v.iter().map(|h| h.to_bits()).collect::<Vec<u16>>();
        let bf16s = |v: Vec<bf16>| v.iter().map(|h| h.to_bits()).collect::<Vec<u16>>();
        // Pushed to on x86_64 only.
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut runs = if fmt.name == "f16" {
            vec![
                ("portable", f16s(in_pieces(xs, narrow_f16_portable))),
                ("dispatched", f16s(in_pieces(xs, narrow_f16))),
                (
                    "cast_fast",
                    xs.iter()
                        .map(|&x| cast_fast::<f32, f16>(x).to_bits())
                        .collect(),
                ),
                (
                    "half",
                    xs.iter().map(|&x| f16::from_f32(x).to_bits()).collect(),
                ),
            ]
        } else {
            vec![
                ("portable", bf16s(in_pieces(xs, narrow_bf16_portable))),
                ("dispatched", bf16s(in_pieces(xs, narrow_bf16))),
                (
                    "cast_fast",
                    xs.iter()
                        .map(|&x| cast_fast::<f32, bf16>(x).to_bits())
                        .collect(),
                ),
                (
                    "half",
                    xs.iter().map(|&x| bf16::from_f32(x).to_bits()).collect(),
                ),
            ]
        };
        #[cfg(target_arch = "x86_64")]
        if has_avx2_f16c() {
            runs.push(if fmt.name == "f16" {
                ("avx2", f16s(in_pieces(xs, avx2(x86::narrow_f16))))
            } else {
                ("avx2", bf16s(in_pieces(xs, avx2(x86::narrow_bf16))))
            });
        }
        runs
    }

    #[test]
    fn narrowing_rounds_to_the_nearest_sixteen_bit_value() {
        for fmt in [F16, BF16] {
            let grid: Vec<f64> = (0..fmt.inf).map(fmt.value).collect();
            let xs = probes(fmt.value, fmt.inf - 1);
            let want: Vec<u16> = xs
                .iter()
                .map(|&x| narrow_want(x, &grid, fmt.inf, fmt.quiet, fmt.shift))
                .collect();
            for (path, got) in narrowings(fmt, &xs) {
                for ((&x, &g), &w) in xs.iter().zip(&got).zip(&want) {
                    assert_eq!(g, w, "{} {path} of {x:e} ({:#010x})", fmt.name, x.to_bits());
                }
            }
        }
    }
}
