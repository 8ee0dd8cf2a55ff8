//! Vectorized f32 transcendentals, written once over `S: Vf32`.
//!
//! Each is a polynomial or rational approximation after range reduction.
//! The error bounds, in ulp of the correctly rounded f32 result against an
//! f64 reference, are measured by `tests/math_ulp.rs` on every ISA, which
//! fails if a bound here is exceeded:
//!
//! | fn | bound (ulp) | domain of the bound | measured max |
//! |---|---|---|---|
//! | exp | 1.5 | all f32 (0 and inf where the result is) | 1.21 |
//! | expm1 | 1.5 | all f32 | 1.33 |
//! | log | 1 | all f32 (NaN below 0, -inf at 0) | 0.75 |
//! | log1p | 1.5 | all f32 | 1.44 |
//! | sin, cos | 2 | \|x\| <= 8192 (beyond: the op computes in f64) | 2.00 |
//! | tanh | 2.5 | all f32 | 2.17 |
//! | sigmoid | 2.5 | \|x\| <= 87 (beyond: below the subnormal step) | 2.19 |
//! | silu | 3.5 | \|x\| <= 87 (beyond: below the subnormal step) | 3.41 |
//! | erf | 1.5 | all f32 | 1.32 |
//! | gelu | 2.5 | x >= -1; below, plus 1e-7·\|x\| absolute | 2.22 |
//! | gelu (tanh form) | 4 | as gelu | 3.53 |
//!
//! Below x = -1 gelu's `1 + erf` cancels, as PyTorch's formula does too.
//!
//! NaN in gives NaN out everywhere; infinities give the limits.

// Published coefficients keep their digits; the compiler rounds them to f32.
#![allow(clippy::excessive_precision)]

use crate::simd::{Vf32, pow2i};

/// A vector of `S`.
pub type F<S> = <S as pulp::Simd>::f32s;

#[inline(always)]
fn splat<S: Vf32>(s: S, v: f32) -> F<S> {
    s.splat_f32s(v)
}

/// `x` where `x` is NaN, else `y`.
#[inline(always)]
fn keep_nan<S: Vf32>(s: S, x: F<S>, y: F<S>) -> F<S> {
    s.select_f32s(s.equal_f32s(x, x), y, x)
}

/// Horner evaluation of `c[0] + c[1] x + ... ` with FMAs.
#[inline(always)]
fn poly<S: Vf32>(s: S, x: F<S>, c: &[f32]) -> F<S> {
    let n = c.len();
    let mut acc = splat(s, c[n - 1]);
    for i in (0..n - 1).rev() {
        acc = s.mul_add_f32s(acc, x, splat(s, c[i]));
    }
    acc
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that n * LN2_HI is exact for |n| < 2^9 (Cody-Waite).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// exp(r) - 1 - r - r^2/2 ... Cephes expf coefficients on |r| <= ln2/2.
const EXP_POLY: [f32; 6] = [
    5.000_000_1e-1,
    1.666_666_5e-1,
    4.166_579_6e-2,
    8.333_452e-3,
    1.398_2e-3,
    1.987_569_1e-4,
];

#[inline(always)]
pub fn exp<S: Vf32>(s: S, x: F<S>) -> F<S> {
    // A NaN `x` stays NaN through every step below (the clamps keep it).
    let xc = s.min_or_nan_f32s(splat(s, 89.0), s.max_or_nan_f32s(splat(s, -104.0), x));
    let n = s.round_f32s(s.mul_f32s(xc, splat(s, LOG2E)));
    let r = s.mul_add_f32s(n, splat(s, -LN2_HI), xc);
    let r = s.mul_add_f32s(n, splat(s, -LN2_LO), r);
    let p = poly(s, r, &EXP_POLY);
    let y = s.mul_add_f32s(s.mul_f32s(p, r), r, s.add_f32s(r, splat(s, 1.0)));
    s.scale_f32s(y, n)
}

/// Taylor coefficients 1/2! .. 1/9! of expm1 on |r| <= ln2/2.
const EXPM1_POLY: [f32; 8] = [
    0.5,
    1.666_666_7e-1,
    4.166_666_8e-2,
    8.333_334e-3,
    1.388_888_9e-3,
    1.984_127e-4,
    2.480_158_7e-5,
    2.755_732e-6,
];

#[inline(always)]
pub fn expm1<S: Vf32>(s: S, x: F<S>) -> F<S> {
    let xc = s.min_f32s(s.max_f32s(x, splat(s, -88.0)), splat(s, 89.0));
    let n = s.round_f32s(s.mul_f32s(xc, splat(s, LOG2E)));
    let r = s.mul_add_f32s(n, splat(s, -LN2_HI), xc);
    let r = s.mul_add_f32s(n, splat(s, -LN2_LO), r);
    // em = expm1(r) = r + r^2 * P(r)
    let em = s.mul_add_f32s(s.mul_f32s(r, r), poly(s, r, &EXPM1_POLY), r);
    let sc = pow2i(s, n);
    // expm1(x) = 2^n * expm1(r) + (2^n - 1), exact in the second term.
    let y = s.mul_add_f32s(sc, em, s.sub_f32s(sc, splat(s, 1.0)));
    // For large n the -1 is below an ulp; scale by 2^(n-1) * 2 so that
    // n = 128 does not overflow before the result does.
    let half = pow2i(s, s.sub_f32s(n, splat(s, 1.0)));
    let big = s.mul_f32s(
        s.mul_f32s(half, s.add_f32s(em, splat(s, 1.0))),
        splat(s, 2.0),
    );
    let y = s.select_f32s(s.greater_than_f32s(n, splat(s, 24.0)), big, y);
    // Keep -0.0 (and tiny x) exact: expm1(x) = x there.
    let tiny = s.less_than_f32s(s.abs_f32s(x), splat(s, 1e-30));
    keep_nan(s, x, s.select_f32s(tiny, x, y))
}

/// Cephes logf: log(1+f) = f - f^2/2 + f^3 P(f) on sqrt(1/2)-1 <= f < sqrt(2)-1.
const LOG_POLY: [f32; 9] = [
    3.333_333_1e-1,
    -2.499_999_4e-1,
    2.000_071_4e-1,
    -1.666_805_8e-1,
    1.424_932_3e-1,
    -1.242_014_1e-1,
    1.167_699_9e-1,
    -1.151_461e-1,
    7.037_683_6e-2,
];

#[inline(always)]
pub fn log<S: Vf32>(s: S, x: F<S>) -> F<S> {
    // Scale subnormals into the normal range first.
    let sub = s.less_than_f32s(x, splat(s, f32::MIN_POSITIVE));
    let xs = s.select_f32s(sub, s.mul_f32s(x, splat(s, 8_388_608.0)), x);
    let e_adj = s.select_f32s(sub, splat(s, -23.0), splat(s, 0.0));
    let bits = s.transmute_i32s_f32s(xs);
    // m in [0.5, 1), x = m * 2^e
    let m_bits = s.or_i32s(
        s.and_i32s(bits, s.splat_i32s(0x007f_ffff)),
        s.splat_i32s(0x3f00_0000),
    );
    let m = s.transmute_f32s_i32s(m_bits);
    let e = s.sub_f32s(s.cvt_i32s_f32s(s.shr23_i32s(bits)), splat(s, 126.0));
    let e = s.add_f32s(e, e_adj);
    // Move m to [sqrt(1/2), sqrt(2)).
    let small = s.less_than_f32s(m, splat(s, std::f32::consts::FRAC_1_SQRT_2));
    let e = s.select_f32s(small, s.sub_f32s(e, splat(s, 1.0)), e);
    let f = s.select_f32s(
        small,
        s.sub_f32s(s.add_f32s(m, m), splat(s, 1.0)),
        s.sub_f32s(m, splat(s, 1.0)),
    );
    let z = s.mul_f32s(f, f);
    let y = s.mul_f32s(s.mul_f32s(poly(s, f, &LOG_POLY), f), z);
    let y = s.mul_add_f32s(e, splat(s, LN2_LO), y);
    let y = s.mul_add_f32s(z, splat(s, -0.5), y);
    let r = s.add_f32s(f, y);
    let r = s.mul_add_f32s(e, splat(s, LN2_HI), r);
    // Specials: 0 -> -inf, < 0 -> NaN, inf -> inf, NaN -> NaN.
    let r = s.select_f32s(
        s.equal_f32s(x, splat(s, 0.0)),
        splat(s, f32::NEG_INFINITY),
        r,
    );
    let r = s.select_f32s(s.less_than_f32s(x, splat(s, 0.0)), splat(s, f32::NAN), r);
    let r = s.select_f32s(s.equal_f32s(x, splat(s, f32::INFINITY)), x, r);
    keep_nan(s, x, r)
}

#[inline(always)]
pub fn log1p<S: Vf32>(s: S, x: F<S>) -> F<S> {
    // log1p(x) = log(u) + (x - (u - 1)) / u with u = 1 + x: the correction
    // restores what rounding u lost.
    let u = s.add_f32s(x, splat(s, 1.0));
    let corr = s.div_f32s(s.sub_f32s(x, s.sub_f32s(u, splat(s, 1.0))), u);
    let r = s.add_f32s(log(s, u), corr);
    // Tiny x (and -0.0): log1p(x) = x. u = inf: inf.
    let tiny = s.less_than_f32s(s.abs_f32s(x), splat(s, 1e-30));
    let r = s.select_f32s(tiny, x, r);
    let r = s.select_f32s(s.equal_f32s(u, splat(s, f32::INFINITY)), u, r);
    let r = s.select_f32s(
        s.equal_f32s(u, splat(s, 0.0)),
        splat(s, f32::NEG_INFINITY),
        r,
    );
    keep_nan(s, x, r)
}

const FRAC_2_PI: f32 = std::f32::consts::FRAC_2_PI;
// pi/2 in three parts (Cephes DP1..3 doubled): n * PIO2_1 and n * PIO2_2 exact.
const PIO2_1: f32 = 1.570_312_5;
const PIO2_2: f32 = 4.837_513e-4;
const PIO2_3: f32 = 7.549_79e-8;
/// Largest |x| the three-part reduction keeps within the stated bound.
pub const TRIG_REDUCE_MAX: f32 = 8192.0;

const SIN_POLY: [f32; 3] = [-1.666_665_5e-1, 8.332_161e-3, -1.951_529_6e-4];
const COS_POLY: [f32; 3] = [4.166_664_6e-2, -1.388_731_6e-3, 2.443_315_7e-5];

/// sin (`cos == false`) or cos of `x`, reduced by quadrant.
#[inline(always)]
fn sincos<S: Vf32>(s: S, x: F<S>, cos: bool) -> F<S> {
    let n = s.round_f32s(s.mul_f32s(x, splat(s, FRAC_2_PI)));
    let r = s.mul_add_f32s(n, splat(s, -PIO2_1), x);
    let r = s.mul_add_f32s(n, splat(s, -PIO2_2), r);
    let r = s.mul_add_f32s(n, splat(s, -PIO2_3), r);
    let z = s.mul_f32s(r, r);
    let sin_r = s.mul_add_f32s(s.mul_f32s(poly(s, z, &SIN_POLY), z), r, r);
    let cos_r = s.add_f32s(
        s.mul_add_f32s(s.mul_f32s(poly(s, z, &COS_POLY), z), z, splat(s, 1.0)),
        s.mul_f32s(z, splat(s, -0.5)),
    );
    // Quadrant q = n mod 4 (cos(x) = sin(x + pi/2): q + 1).
    let mut q = s.cvt_f32s_i32s(n);
    if cos {
        q = s.add_i32s(q, s.splat_i32s(1));
    }
    let odd = s.equal_i32s(s.and_i32s(q, s.splat_i32s(1)), s.splat_i32s(1));
    let neg = s.equal_i32s(s.and_i32s(q, s.splat_i32s(2)), s.splat_i32s(2));
    let y = s.select_f32s(odd, cos_r, sin_r);
    let y = s.select_f32s(neg, s.neg_f32s(y), y);
    // sin(-0.0) = -0.0; inf and NaN give NaN.
    let y = if cos {
        y
    } else {
        s.select_f32s(s.equal_f32s(x, splat(s, 0.0)), x, y)
    };
    let inf = s.equal_f32s(s.abs_f32s(x), splat(s, f32::INFINITY));
    keep_nan(s, x, s.select_f32s(inf, splat(s, f32::NAN), y))
}

#[inline(always)]
pub fn sin<S: Vf32>(s: S, x: F<S>) -> F<S> {
    sincos(s, x, false)
}

#[inline(always)]
pub fn cos<S: Vf32>(s: S, x: F<S>) -> F<S> {
    sincos(s, x, true)
}

/// 1.5 * 2^23: `x + ROUND_SHIFT` (|x| < 2^22) is `x` rounded to an
/// integer, to nearest even, held in the low bits of the sum's mantissa.
const ROUND_SHIFT: f32 = 12_582_912.0;

/// 2^n from `shifted = n + ROUND_SHIFT` (integer n in [-126, 127]): the
/// mantissa's low bits moved into the exponent field (the shift drops all
/// of ROUND_SHIFT's own bits, which lie at bit 22 and up), plus the bias.
/// Two integer operations, where `pow2i(round(..))` needs a rounding
/// (two micro-ops on Intel's AVX-512 cores) and a conversion besides.
#[inline(always)]
fn pow2_shifted<S: Vf32>(s: S, shifted: F<S>) -> F<S> {
    let e = s.shl23_i32s(s.transmute_i32s_f32s(shifted));
    s.transmute_f32s_i32s(s.add_i32s(e, s.splat_i32s(127 << 23)))
}

/// tanh(|x|) is 1 in f32 from here on.
const TANH_SAT: f32 = 9.010_913;

/// tanh through one expm1, with no branch between small and large |x|:
/// with `em = expm1(2|x|)`, tanh(|x|) = em / (em + 2), and the sign of `x`
/// is put back. The quotient damps `em`'s relative error by 2 / (em + 2),
/// so it is smallest where tanh is near 1; near 0, `em` is 2|x| to an ulp.
///
/// The roundings of `em + 2` and of the quotient leave up to 2.2 ulp near
/// |x| = 0.2 (the earlier form, a polynomial below 0.625 and
/// 1 - 2/(e^2|x| + 1) above, had 1.3 ulp at 1.5x the time: both branches
/// ran for every lane; a correction step for those roundings measured as
/// slow as that, `perf-artifacts/kernels-v6-tanh.md`).
#[inline(always)]
pub fn tanh<S: Vf32>(s: S, x: F<S>) -> F<S> {
    // A NaN `x` stays NaN through every step below (the clamp keeps it).
    let a = s.min_or_nan_f32s(splat(s, TANH_SAT), s.abs_f32s(x));
    let t = s.add_f32s(a, a); // exact
    // n = round(t / ln 2) (0 <= n <= 27), and in `shifted`'s low bits.
    let shifted = s.mul_add_f32s(t, splat(s, LOG2E), splat(s, ROUND_SHIFT));
    let n = s.sub_f32s(shifted, splat(s, ROUND_SHIFT));
    let r = s.mul_add_f32s(n, splat(s, -LN2_HI), t);
    let r = s.mul_add_f32s(n, splat(s, -LN2_LO), r);
    // expm1(r) = r + r^2 P(r) on |r| <= ln2/2, then 2^n expm1(r) + 2^n - 1
    // (0 <= n <= 27: 2^n - 1 is exact where it matters).
    let em = s.mul_add_f32s(s.mul_f32s(r, r), poly(s, r, &EXPM1_POLY[..6]), r);
    let sc = pow2_shifted(s, shifted);
    let em = s.mul_add_f32s(sc, em, s.sub_f32s(sc, splat(s, 1.0)));
    let y = s.div_f32s(em, s.add_f32s(em, splat(s, 2.0)));
    s.or_f32s(y, s.and_f32s(x, splat(s, -0.0)))
}

/// 1 / (1 + exp(-x)), through exp(-|x|) so that nothing overflows: for
/// x < 0 it is e / (1 + e).
#[inline(always)]
pub fn sigmoid<S: Vf32>(s: S, x: F<S>) -> F<S> {
    let e = exp(s, s.neg_f32s(s.abs_f32s(x)));
    let num = s.select_f32s(s.less_than_f32s(x, splat(s, 0.0)), e, splat(s, 1.0));
    // A NaN `x` gives a NaN `e` (see `exp`), so a NaN quotient.
    s.div_f32s(num, s.add_f32s(splat(s, 1.0), e))
}

#[inline(always)]
pub fn silu<S: Vf32>(s: S, x: F<S>) -> F<S> {
    s.mul_f32s(x, sigmoid(s, x))
}

// erf in two pieces, fitted for this crate (numpy, iteratively reweighted
// least squares toward minimax; `conformance/oracle/fit_erf.py`):
// |x| <= 1: erf(x) = x (c0 + z Q(z)), z = x^2, c0 = 2/sqrt(pi) split hi+lo;
// 1 < |x| < 4: erf(|x|) = P(|x| - 2.5); beyond 4 erf is 1 in f32.
const ERF_C0_HI: f32 = std::f32::consts::FRAC_2_SQRT_PI;
const ERF_C0_LO: f32 = -5.863_538e-8;
const ERF_Q: [f32; 6] = [
    -3.761_262_6e-1,
    1.128_357_9e-1,
    -2.685_355_4e-2,
    5.187_862e-3,
    -8.006_244e-4,
    7.841_153e-5,
];
const ERF_P: [f32; 14] = [
    9.995_930_8e-1,
    2.178_104_1e-3,
    -5.446_985_4e-3,
    8.352_774e-3,
    -8.613_219e-3,
    6.105_526e-3,
    -2.822_921e-3,
    5.658_334e-4,
    2.912_850_2e-4,
    -2.746_798_3e-4,
    5.969_608e-5,
    1.920_651_3e-5,
    -8.751_262e-6,
    3.005_422_7e-7,
];

#[inline(always)]
pub fn erf<S: Vf32>(s: S, x: F<S>) -> F<S> {
    keep_nan(s, x, erf_finite(s, x))
}

/// erf for every `x` but NaN (a NaN `x` gives some finite number): for
/// callers whose own formula already carries a NaN `x` through.
#[inline(always)]
fn erf_finite<S: Vf32>(s: S, x: F<S>) -> F<S> {
    let a = s.min_f32s(s.abs_f32s(x), splat(s, 4.0));
    let z = s.mul_f32s(x, x);
    let q = s.add_f32s(s.mul_f32s(z, poly(s, z, &ERF_Q)), splat(s, ERF_C0_LO));
    let small = s.mul_add_f32s(x, splat(s, ERF_C0_HI), s.mul_f32s(x, q));
    // The outer piece only where some lane needs it (inputs of gelu within
    // [-1.41, 1.41] never do): the same result either way, since the
    // select below would take `small` in every lane.
    if !s.any_gt_f32s(a, splat(s, 1.0)) {
        return small;
    }
    let big = s.min_f32s(poly(s, s.sub_f32s(a, splat(s, 2.5)), &ERF_P), splat(s, 1.0));
    let big = s.or_f32s(big, s.and_f32s(x, splat(s, -0.0)));
    s.select_f32s(s.less_than_or_equal_f32s(a, splat(s, 1.0)), small, big)
}

/// gelu with PyTorch's default (erf) form: x/2 (1 + erf(x / sqrt 2)).
/// At +inf the result is NaN, as PyTorch's float kernel gives (its double
/// kernel, and ours, give +inf; found by the conformance suite, case
/// `005/gelu/edge_nonfinite`).
#[inline(always)]
pub fn gelu<S: Vf32>(s: S, x: F<S>) -> F<S> {
    let half_x = s.mul_f32s(x, splat(s, 0.5));
    // A NaN x makes half_x NaN, and the fma below carries it.
    let e = erf_finite(s, s.mul_f32s(x, splat(s, std::f32::consts::FRAC_1_SQRT_2)));
    let y = s.mul_add_f32s(half_x, e, half_x);
    s.select_f32s(
        s.equal_f32s(x, splat(s, f32::INFINITY)),
        splat(s, f32::NAN),
        y,
    )
}

/// gelu, `approximate='tanh'`: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#[inline(always)]
pub fn gelu_tanh<S: Vf32>(s: S, x: F<S>) -> F<S> {
    const K: f32 = 0.797_884_6; // sqrt(2/pi)
    let x3 = s.mul_f32s(s.mul_f32s(x, x), x);
    let inner = s.mul_f32s(splat(s, K), s.mul_add_f32s(x3, splat(s, 0.044_715), x));
    let half_x = s.mul_f32s(x, splat(s, 0.5));
    s.mul_add_f32s(half_x, tanh(s, inner), half_x)
}
