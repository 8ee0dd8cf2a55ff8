//! f16 and bf16 to and from f32, element by element and by slices, as
//! half's `to_f32` / `from_f32` convert (and PyTorch's `.to()`): widening
//! exact, narrowing to nearest even, NaN kept quiet with its top payload
//! bits.
//!
//! The element functions are branch-free (selects), so the loops over
//! slices vectorize on whatever ISA they are compiled for. On x86_64 the
//! f16 slice conversions use F16C (`vcvtph2ps` / `vcvtps2ph`, eight per
//! instruction) where the processor has it and `FT_ISA` is not `scalar`.
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
/// is f16/bf16 and f32 either way, by slices (F16C for f16 where it can);
/// false, and nothing written, for any other pair.
#[inline(always)]
fn convert_slice<U: Element, T: Element>(src: &[U], dst: &mut [MaybeUninit<T>]) -> bool {
    debug_assert_eq!(src.len(), dst.len());
    if let Some(d) = as_same_uninit_mut::<T, f32>(dst) {
        if let Some(s) = as_same::<U, bf16>(src) {
            widen_bf16(s, d);
            return true;
        }
        if let Some(s) = as_same::<U, f16>(src) {
            widen_f16(s, d);
            return true;
        }
    } else if let Some(s) = as_same::<U, f32>(src) {
        if let Some(d) = as_same_uninit_mut::<T, bf16>(dst) {
            narrow_bf16(s, d);
            return true;
        }
        if let Some(d) = as_same_uninit_mut::<T, f16>(dst) {
            narrow_f16(s, d);
            return true;
        }
    }
    false
}

/// `dst[i] = cast(src[i])` (equal lengths): f16/bf16 and f32 either way
/// by [`convert_slice`], the rest element by element.
#[inline(always)]
pub(crate) fn convert<U: Element, T: Element>(src: &[U], dst: &mut [T]) {
    convert_uninit(src, slots(dst));
}

/// [`convert`] into slots not yet written.
#[inline(always)]
pub(crate) fn convert_uninit<U: Element, T: Element>(src: &[U], dst: &mut [MaybeUninit<T>]) {
    debug_assert_eq!(src.len(), dst.len());
    if !convert_slice(src, dst) {
        for (d, &x) in dst.iter_mut().zip(src) {
            d.write(cast_fast::<U, T>(x));
        }
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

/// Whether the f16 slice conversions may use F16C.
#[inline]
fn use_f16c() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::isa::{Isa, isa};
        isa() != Isa::Scalar
            && std::arch::is_x86_feature_detected!("avx")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `dst[i]` = `src[i]` widened (equal lengths).
#[inline(always)]
pub(crate) fn widen_bf16(src: &[bf16], dst: &mut [MaybeUninit<f32>]) {
    for (d, x) in dst.iter_mut().zip(src) {
        d.write(bf16_to_f32(x.to_bits()));
    }
}

/// `dst[i]` = `src[i]` rounded to bf16 (equal lengths).
#[inline(always)]
pub(crate) fn narrow_bf16(src: &[f32], dst: &mut [MaybeUninit<bf16>]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        d.write(bf16::from_bits(f32_to_bf16(x)));
    }
}

/// `dst[i]` = `src[i]` widened (equal lengths).
#[inline]
pub(crate) fn widen_f16(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    if use_f16c() {
        // SAFETY: the processor has AVX and F16C (checked just above).
        return unsafe { f16c::widen(src, dst) };
    }
    widen_f16_portable(src, dst)
}

/// `dst[i]` = `src[i]` rounded to f16 (equal lengths).
#[inline]
pub(crate) fn narrow_f16(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
    #[cfg(target_arch = "x86_64")]
    if use_f16c() {
        // SAFETY: the processor has AVX and F16C (checked just above).
        return unsafe { f16c::narrow(src, dst) };
    }
    narrow_f16_portable(src, dst)
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

#[cfg(target_arch = "x86_64")]
mod f16c {
    use super::{narrow_f16_portable, widen_f16_portable};
    use half::f16;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Eight at a time with `vcvtph2ps`; the last `len % 8` portably (the
    /// same values).
    ///
    /// # Safety
    /// The processor has AVX and F16C.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn widen(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
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
        widen_f16_portable(&src[whole..n], &mut dst[whole..n]);
    }

    /// Eight at a time with `vcvtps2ph` to nearest even; the last
    /// `len % 8` portably (the same values).
    ///
    /// # Safety
    /// The processor has AVX and F16C.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn narrow(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
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
        narrow_f16_portable(&src[whole..n], &mut dst[whole..n]);
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

    #[test]
    fn every_sixteen_bit_value_widens_exactly() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let h: Vec<f16> = all.iter().map(|&b| f16::from_bits(b)).collect();
        let b: Vec<bf16> = all.iter().map(|&b| bf16::from_bits(b)).collect();
        let mut paths: Vec<(&str, Vec<f32>)> = Vec::new();
        let mut out = vec![0f32; all.len()];
        widen_f16_portable(&h, slots(&mut out));
        paths.push(("f16 portable", out.clone()));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("f16c") {
            // SAFETY: F16C detected (AVX with it).
            unsafe { f16c::widen(&h, slots(&mut out)) };
            paths.push(("f16 f16c", out.clone()));
        }
        widen_f16(&h, slots(&mut out));
        paths.push(("f16 dispatched", out.clone()));
        let elems: Vec<f32> = all
            .iter()
            .map(|&x| cast_fast::<f16, f32>(f16::from_bits(x)))
            .collect();
        paths.push(("f16 cast_fast", elems));
        for (name, got) in &paths {
            for (&bits, &g) in all.iter().zip(got) {
                let want = f16_value(bits);
                if want.is_nan() {
                    // Quiet, payload kept: the bits half and F16C give.
                    let w =
                        (bits as u32 & 0x8000) << 16 | 0x7fc0_0000 | (bits as u32 & 0x3ff) << 13;
                    assert_eq!(g.to_bits(), w, "{name} {bits:#06x}");
                } else {
                    assert_eq!(g as f64, want, "{name} {bits:#06x}");
                    assert_eq!(
                        g.is_sign_negative(),
                        bits & 0x8000 != 0,
                        "{name} {bits:#06x}"
                    );
                }
            }
        }
        widen_bf16(&b, slots(&mut out));
        for (&bits, &g) in all.iter().zip(&out) {
            let want = bf16_value(bits);
            let e = cast_fast::<bf16, f32>(bf16::from_bits(bits));
            if want.is_nan() {
                let w = (bits as u32 | 0x40) << 16;
                assert_eq!((g.to_bits(), e.to_bits()), (w, w), "bf16 {bits:#06x}");
            } else {
                assert_eq!(g.to_bits(), (want as f32).to_bits(), "bf16 {bits:#06x}");
                assert_eq!(e.to_bits(), g.to_bits(), "bf16 {bits:#06x}");
            }
        }
    }

    #[test]
    fn narrowing_rounds_to_the_nearest_sixteen_bit_value() {
        let f16_grid: Vec<f64> = (0..0x7c00).map(f16_value).collect();
        let xs = probes(f16_value, 0x7bff);
        let want: Vec<u16> = xs
            .iter()
            .map(|&x| narrow_want(x, &f16_grid, 0x7c00, 0x0200, 13))
            .collect();
        let mut out = vec![f16::ZERO; xs.len()];
        let mut paths: Vec<(&str, Vec<u16>)> = Vec::new();
        narrow_f16_portable(&xs, slots(&mut out));
        paths.push(("portable", out.iter().map(|h| h.to_bits()).collect()));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("f16c") {
            // SAFETY: F16C detected (AVX with it).
            unsafe { f16c::narrow(&xs, slots(&mut out)) };
            paths.push(("f16c", out.iter().map(|h| h.to_bits()).collect()));
        }
        narrow_f16(&xs, slots(&mut out));
        paths.push(("dispatched", out.iter().map(|h| h.to_bits()).collect()));
        paths.push((
            "cast_fast",
            xs.iter()
                .map(|&x| cast_fast::<f32, f16>(x).to_bits())
                .collect(),
        ));
        paths.push((
            "half",
            xs.iter().map(|&x| f16::from_f32(x).to_bits()).collect(),
        ));
        for (name, got) in &paths {
            for ((&x, &g), &w) in xs.iter().zip(got).zip(&want) {
                assert_eq!(g, w, "f16 {name} of {x:e} ({:#010x})", x.to_bits());
            }
        }

        let bf16_grid: Vec<f64> = (0..0x7f80).map(bf16_value).collect();
        let xs = probes(bf16_value, 0x7f7f);
        let mut out = vec![bf16::ZERO; xs.len()];
        narrow_bf16(&xs, slots(&mut out));
        for (&x, g) in xs.iter().zip(&out) {
            let w = narrow_want(x, &bf16_grid, 0x7f80, 0x0040, 16);
            assert_eq!(g.to_bits(), w, "bf16 of {x:e} ({:#010x})", x.to_bits());
            assert_eq!(
                cast_fast::<f32, bf16>(x).to_bits(),
                w,
                "bf16 cast_fast of {x:e}"
            );
            assert_eq!(bf16::from_f32(x).to_bits(), w, "half's bf16 of {x:e}");
        }
    }
}
