//! The contiguous inner loops: one generic body per arity, vector head and a
//! masked partial tail (no scalar tail loop), over a function value that is
//! itself generic over the SIMD type.

use crate::math::F;
use crate::simd::Vf32;

/// An elementwise f32 function of one vector.
pub trait VecFn1: Copy + Send + Sync {
    fn apply<S: Vf32>(self, s: S, x: F<S>) -> F<S>;
}

/// An elementwise f32 function of two vectors.
pub trait VecFn2: Copy + Send + Sync {
    fn apply<S: Vf32>(self, s: S, a: F<S>, b: F<S>) -> F<S>;
}

/// An operand of a contiguous run: a slice, or one value broadcast.
#[derive(Clone, Copy, Debug)]
pub enum Src<'a, T> {
    Slice(&'a [T]),
    Splat(T),
}

impl<T: Copy> Src<'_, T> {
    #[inline(always)]
    pub fn get(&self, i: usize) -> T {
        match self {
            Src::Slice(s) => s[i],
            Src::Splat(v) => *v,
        }
    }
}

/// Writes the vector part of a row, with streaming stores when asked. A
/// macro, not a closure: a closure is its own function, compiled without
/// the ISA's `target_feature`s, and would not inline the SIMD body.
macro_rules! put {
    ($s:expr, $oh:expr, $stream:expr, |$i:ident| $body:expr) => {
        if $stream {
            for ($i, o) in $oh.iter_mut().enumerate() {
                $s.stream_f32s(o, $body);
            }
            $s.stream_fence();
        } else {
            for ($i, o) in $oh.iter_mut().enumerate() {
                *o = $body;
            }
        }
    };
}

#[inline(always)]
pub fn map1<S: Vf32, G: VecFn1>(s: S, g: G, x: &[f32], out: &mut [f32], stream: bool) {
    debug_assert_eq!(x.len(), out.len());
    let (xh, xt) = S::as_simd_f32s(x);
    let (oh, ot) = S::as_mut_simd_f32s(out);
    // Inputs cut to the output's length: no bounds check in the loop.
    let xh = &xh[..oh.len()];
    put!(s, oh, stream, |i| g.apply(s, xh[i]));
    if !xt.is_empty() {
        let v = s.partial_load_f32s(xt);
        s.partial_store_f32s(ot, g.apply(s, v));
    }
}

/// `out = g(a, b)` where each of `a`, `b` is a slice or a splat.
#[inline(always)]
pub fn map2<S: Vf32, G: VecFn2>(
    s: S,
    g: G,
    a: Src<'_, f32>,
    b: Src<'_, f32>,
    out: &mut [f32],
    stream: bool,
) {
    match (a, b) {
        (Src::Slice(a), Src::Slice(b)) => map2_ss(s, g, a, b, out, stream),
        (Src::Slice(a), Src::Splat(b)) => map2_sv(s, g, a, s.splat_f32s(b), false, out, stream),
        (Src::Splat(a), Src::Slice(b)) => map2_sv(s, g, b, s.splat_f32s(a), true, out, stream),
        (Src::Splat(a), Src::Splat(b)) => {
            let v = g.apply(pulp::Scalar::new(), a, b);
            out.fill(v);
        }
    }
}

#[inline(always)]
fn map2_ss<S: Vf32, G: VecFn2>(s: S, g: G, a: &[f32], b: &[f32], out: &mut [f32], stream: bool) {
    debug_assert!(a.len() == out.len() && b.len() == out.len());
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let (oh, ot) = S::as_mut_simd_f32s(out);
    // Zipped, not indexed: no bounds check in the loop.
    if stream {
        for ((o, &x), &y) in oh.iter_mut().zip(ah).zip(bh) {
            s.stream_f32s(o, g.apply(s, x, y));
        }
        s.stream_fence();
    } else {
        for ((o, &x), &y) in oh.iter_mut().zip(ah).zip(bh) {
            *o = g.apply(s, x, y);
        }
    }
    if !at.is_empty() {
        let (x, y) = (s.partial_load_f32s(at), s.partial_load_f32s(bt));
        s.partial_store_f32s(ot, g.apply(s, x, y));
    }
}

/// One slice operand and one splat `v`; `splat_first` says which side of
/// `g` the splat is on.
#[inline(always)]
fn map2_sv<S: Vf32, G: VecFn2>(
    s: S,
    g: G,
    a: &[f32],
    v: F<S>,
    splat_first: bool,
    out: &mut [f32],
    stream: bool,
) {
    debug_assert_eq!(a.len(), out.len());
    let (ah, at) = S::as_simd_f32s(a);
    let (oh, ot) = S::as_mut_simd_f32s(out);
    let ah = &ah[..oh.len()];
    if splat_first {
        put!(s, oh, stream, |i| g.apply(s, v, ah[i]));
    } else {
        put!(s, oh, stream, |i| g.apply(s, ah[i], v));
    }
    if !at.is_empty() {
        let x = s.partial_load_f32s(at);
        let y = if splat_first {
            g.apply(s, v, x)
        } else {
            g.apply(s, x, v)
        };
        s.partial_store_f32s(ot, y);
    }
}
