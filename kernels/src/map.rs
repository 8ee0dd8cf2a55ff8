//! The contiguous inner loops: one generic body per arity, vector head and a
//! masked partial tail (no scalar tail loop), over a function value that is
//! itself generic over the SIMD type.

use crate::math::F;
use crate::simd::{HalfConv, Vf32};
use ft_core::Element;
use half::{bf16, f16};

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

/// A 16-bit float that the half loops load as f32 vectors and store back:
/// the arithmetic is f32's (as PyTorch's `opmath`), each result rounded
/// once, and no element leaves the registers between its load and its
/// store (the engine's general path widens a piece into an f32 buffer,
/// runs the f32 loop, then narrows: three passes over the buffers).
pub trait Half: Element {
    /// The first vector's worth of `src`, widened.
    fn load<S: Vf32>(c: HalfConv<S>, src: &[Self]) -> F<S>;
    /// `v` rounded into the first vector's worth of `dst`.
    fn store<S: Vf32>(c: HalfConv<S>, dst: &mut [Self], v: F<S>);
}

impl Half for bf16 {
    #[inline(always)]
    fn load<S: Vf32>(c: HalfConv<S>, src: &[Self]) -> F<S> {
        c.load_bf16s(src)
    }
    #[inline(always)]
    fn store<S: Vf32>(c: HalfConv<S>, dst: &mut [Self], v: F<S>) {
        c.store_bf16s(dst, v)
    }
}

impl Half for f16 {
    #[inline(always)]
    fn load<S: Vf32>(c: HalfConv<S>, src: &[Self]) -> F<S> {
        c.load_f16s(src)
    }
    #[inline(always)]
    fn store<S: Vf32>(c: HalfConv<S>, dst: &mut [Self], v: F<S>) {
        c.store_f16s(dst, v)
    }
}

/// An operand of a half loop: a run of `H`, or an f32 broadcast (a number
/// stays f32, as PyTorch keeps a scalar operand in `opmath`).
#[derive(Clone, Copy, Debug)]
pub enum HalfSrc<'a, H> {
    Slice(&'a [H]),
    Splat(f32),
}

impl<'a, H: Half> From<Src<'a, H>> for HalfSrc<'a, H> {
    #[inline(always)]
    fn from(src: Src<'a, H>) -> Self {
        match src {
            Src::Slice(x) => HalfSrc::Slice(x),
            Src::Splat(v) => HalfSrc::Splat(crate::convert::cast_fast::<H, f32>(v)),
        }
    }
}

/// An operand inside the loop: vectors read at an element index.
trait Lanes<S: Vf32>: Copy {
    /// The vector of elements `i..i + lanes` (all there).
    fn at(self, c: HalfConv<S>, i: usize) -> F<S>;
    /// The vector of the elements from `i` to the end (fewer than a
    /// vector), zeros after them.
    fn tail(self, c: HalfConv<S>, i: usize) -> F<S>;
}

impl<S: Vf32, H: Half> Lanes<S> for &[H] {
    #[inline(always)]
    fn at(self, c: HalfConv<S>, i: usize) -> F<S> {
        H::load(c, &self[i..])
    }
    #[inline(always)]
    fn tail(self, c: HalfConv<S>, i: usize) -> F<S> {
        let rest = &self[i..];
        let mut t = [H::zero(); 16];
        t[..rest.len()].copy_from_slice(rest);
        H::load(c, &t)
    }
}

/// A broadcast vector.
#[derive(Clone, Copy)]
struct Splat<V>(V);

impl<S: Vf32> Lanes<S> for Splat<F<S>> {
    #[inline(always)]
    fn at(self, _c: HalfConv<S>, _i: usize) -> F<S> {
        self.0
    }
    #[inline(always)]
    fn tail(self, _c: HalfConv<S>, _i: usize) -> F<S> {
        self.0
    }
}

/// Stores the vectors `v(i)` into `out` at every vector step `i`, the
/// last (partial) one through a buffer. A macro, as [`put!`].
macro_rules! put_half {
    ($c:expr, $out:expr, $H:ty, |$i:ident, $tail:ident| $v:expr) => {{
        let n = crate::simd::lanes::<S>();
        let whole = $out.len() - $out.len() % n;
        let (head, rest) = $out.split_at_mut(whole);
        for (k, o) in head.chunks_exact_mut(n).enumerate() {
            let ($i, $tail) = (k * n, false);
            <$H>::store($c, o, $v);
        }
        if !rest.is_empty() {
            let ($i, $tail) = (whole, true);
            let mut t = [<$H as Element>::zero(); 16];
            <$H>::store($c, &mut t, $v);
            rest.copy_from_slice(&t[..rest.len()]);
        }
    }};
}

/// `out = g(x)` over 16-bit floats.
#[inline(always)]
pub fn map1_half<S: Vf32, G: VecFn1, H: Half>(s: S, g: G, x: &[H], out: &mut [H]) {
    debug_assert_eq!(x.len(), out.len());
    let x = &x[..out.len()];
    let c = HalfConv::new(s);
    put_half!(c, out, H, |i, tail| {
        let v = if tail { x.tail(c, i) } else { x.at(c, i) };
        g.apply(s, v)
    });
}

/// `out = g(a, b)` over 16-bit floats, each operand a run or a broadcast.
#[inline(always)]
pub fn map2_half<S: Vf32, G: VecFn2, H: Half>(
    s: S,
    g: G,
    a: HalfSrc<'_, H>,
    b: HalfSrc<'_, H>,
    out: &mut [H],
) {
    let n = out.len();
    match (a, b) {
        (HalfSrc::Slice(a), HalfSrc::Slice(b)) => {
            map2_lanes::<S, G, H, _, _>(s, g, &a[..n], &b[..n], out)
        }
        (HalfSrc::Slice(a), HalfSrc::Splat(v)) => {
            map2_lanes::<S, G, H, _, _>(s, g, &a[..n], Splat(s.splat_f32s(v)), out)
        }
        (HalfSrc::Splat(v), HalfSrc::Slice(b)) => {
            map2_lanes::<S, G, H, _, _>(s, g, Splat(s.splat_f32s(v)), &b[..n], out)
        }
        (HalfSrc::Splat(x), HalfSrc::Splat(y)) => {
            let v = g.apply(pulp::Scalar::new(), x, y);
            out.fill(crate::convert::cast_fast::<f32, H>(v));
        }
    }
}

#[inline(always)]
fn map2_lanes<S: Vf32, G: VecFn2, H: Half, A: Lanes<S>, B: Lanes<S>>(
    s: S,
    g: G,
    a: A,
    b: B,
    out: &mut [H],
) {
    let c = HalfConv::new(s);
    put_half!(c, out, H, |i, tail| {
        if tail {
            g.apply(s, a.tail(c, i), b.tail(c, i))
        } else {
            g.apply(s, a.at(c, i), b.at(c, i))
        }
    });
}
