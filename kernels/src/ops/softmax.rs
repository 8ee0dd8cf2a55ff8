//! softmax and log_softmax over any dim, numerically stable (the row max is
//! subtracted before exp).
//!
//! Over the last dim each row is done while it sits in L1: one pass to find
//! the max, one to write exp(x - max) and sum it, one to scale what was just
//! written. Memory sees one read of the input and one write of the output,
//! where PyTorch makes three passes over memory. Other dims are moved last,
//! computed, and moved back.
//!
//! log_softmax is `(x - max) - log(sum)`, PyTorch's order. Over the last dim
//! of an f16/bf16 tensor PyTorch keeps the sum and its log in the half
//! dtype (its per-row scalars are of the input's type), so they are rounded
//! to it here too; over other dims it keeps them in f32, as here
//! (`conformance/oracle/half_rules.py`: no result of 19,200 differs).

use crate::isa::{Job, dispatch};
use crate::iter::PAR_GRAIN;
use crate::math;
use crate::simd::Vf32;
use ft_core::layout::wrap_dim;
use ft_core::{DType, Error, ErrorKind, Result, TensorImpl};

/// `softmax(x, dim)`.
pub fn softmax(x: &TensorImpl, dim: isize) -> Result<TensorImpl> {
    run(x, dim, false)
}

/// `log_softmax(x, dim)`.
pub fn log_softmax(x: &TensorImpl, dim: isize) -> Result<TensorImpl> {
    run(x, dim, true)
}

fn run(x: &TensorImpl, dim: isize, log: bool) -> Result<TensorImpl> {
    x.device().check_executable()?;
    let d = wrap_dim(dim, x.ndim())?;
    let last = x.ndim().saturating_sub(1);
    if !x.dtype().is_floating_point() {
        let name = match (log, d == last) {
            (false, true) => "softmax_lastdim_kernel_impl",
            (false, false) => "softmax_kernel_impl",
            (true, true) => "log_softmax_lastdim_kernel_impl",
            (true, false) => "log_softmax_kernel_impl",
        };
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "\"{name}\" not implemented for '{}'",
                x.dtype().scalar_type_name()
            ),
        ));
    }
    if x.ndim() > 0 && d != last {
        let moved = x.transpose(d as isize, -1)?;
        let y = over_last_dim(&moved, log, Round::None)?;
        return y.transpose(d as isize, -1)?.contiguous();
    }
    let round = match x.dtype() {
        DType::BF16 => Round::Bf16,
        DType::F16 => Round::F16,
        _ => Round::None,
    };
    over_last_dim(x, log, round)
}

/// How a half log_softmax over the last dim holds its row sum and its log:
/// rounded to the input's dtype (PyTorch's scalars of that type), or not.
#[derive(Clone, Copy)]
enum Round {
    None,
    Bf16,
    F16,
}

impl Round {
    #[inline]
    fn apply(self, v: f32) -> f32 {
        use crate::convert::cast_fast;
        match self {
            Round::None => v,
            Round::Bf16 => cast_fast::<half::bf16, f32>(cast_fast::<f32, half::bf16>(v)),
            Round::F16 => cast_fast::<half::f16, f32>(cast_fast::<f32, half::f16>(v)),
        }
    }
}

/// softmax or log_softmax over the last dim of `x`.
fn over_last_dim(x: &TensorImpl, log: bool, round: Round) -> Result<TensorImpl> {
    let last = x.ndim().saturating_sub(1);
    let xc = x.contiguous()?;
    let row = if x.ndim() == 0 { 1 } else { x.shape()[last] };
    let rows = x.numel().checked_div(row).unwrap_or(0);
    match x.dtype() {
        DType::F32 => rows_into::<f32>(&xc, row, rows, log, round),
        DType::BF16 => rows_into::<half::bf16>(&xc, row, rows, log, round),
        DType::F16 => rows_into::<half::f16>(&xc, row, rows, log, round),
        _ => {
            let v = xc.to_vec::<f64>()?;
            let mut o = vec![0.0f64; v.len()];
            for (xs, os) in v.chunks(row.max(1)).zip(o.chunks_mut(row.max(1))) {
                row_f64(xs, os, log);
            }
            TensorImpl::from_vec(o, x.shape())
        }
    }
}

/// The rows of the contiguous `xc` into a new tensor of its dtype `E`.
fn rows_into<E: RowElem>(
    xc: &TensorImpl,
    row: usize,
    rows: usize,
    log: bool,
    round: Round,
) -> Result<TensorImpl> {
    // SAFETY: contiguous and dense; every row is written below.
    let out = unsafe { TensorImpl::uninit_strided(xc.shape(), xc.strides(), E::DTYPE)? };
    {
        let src = xc.as_slice::<E>()?;
        let mut g = out.storage().write()?;
        let dst: &mut [E] = bytemuck::cast_slice_mut(g.bytes_mut());
        rows_of(&src, &mut dst[..xc.numel()], row, rows, log, round);
    }
    Ok(out)
}

/// An element type whose rows the f32 row code computes: f32 itself, or
/// f16/bf16 through two row buffers in L1 (the row widened into one, the
/// f32 results written to the other and narrowed into the output, each
/// rounded once). Whole-tensor casts around the f32 path moved 20 bytes
/// an element through memory (`perf-artifacts/kernels-v21-half-softmax.md`).
trait RowElem: ft_core::Element + bytemuck::Pod + Send + Sync {
    /// f32 scratch elements a row job needs for rows of `row` elements.
    fn scratch(row: usize) -> usize;
    fn row<S: Vf32>(s: S, x: &[Self], o: &mut [Self], buf: &mut [f32], log: bool, round: Round);
}

impl RowElem for f32 {
    fn scratch(_: usize) -> usize {
        0
    }
    #[inline(always)]
    fn row<S: Vf32>(s: S, x: &[f32], o: &mut [f32], _: &mut [f32], log: bool, round: Round) {
        row_f32(s, x, o, log, round);
    }
}

macro_rules! half_rows {
    ($($t:ty),*) => {$(
        impl RowElem for $t {
            fn scratch(row: usize) -> usize {
                2 * row
            }
            #[inline(always)]
            fn row<S: Vf32>(s: S, x: &[$t], o: &mut [$t], buf: &mut [f32], log: bool, round: Round) {
                let (bx, bo) = buf.split_at_mut(x.len());
                crate::convert::convert(x, bx);
                row_f32(s, bx, &mut bo[..x.len()], log, round);
                crate::convert::convert(&bo[..x.len()], o);
            }
        }
    )*};
}
half_rows!(half::bf16, half::f16);

fn rows_of<E: RowElem>(src: &[E], dst: &mut [E], row: usize, rows: usize, log: bool, round: Round) {
    if rows == 0 {
        return;
    }
    if rows * row >= PAR_GRAIN && rows > 1 && rayon::current_num_threads() > 1 {
        let per = rows.div_ceil(rayon::current_num_threads() * 4).max(1) * row;
        crate::par::region(|| {
            crate::par::chunks_mut(dst, per, |k, d| {
                dispatch(Rows {
                    src: &src[k * per..k * per + d.len()],
                    dst: d,
                    row,
                    log,
                    round,
                })
            })
        });
    } else {
        dispatch(Rows {
            src,
            dst,
            row,
            log,
            round,
        });
    }
}

struct Rows<'a, E> {
    src: &'a [E],
    dst: &'a mut [E],
    row: usize,
    log: bool,
    round: Round,
}

impl<E: RowElem> Job for Rows<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        let mut buf = vec![0.0f32; E::scratch(self.row)];
        for (x, o) in self
            .src
            .chunks_exact(self.row)
            .zip(self.dst.chunks_exact_mut(self.row))
        {
            E::row(s, x, o, &mut buf, self.log, self.round);
        }
    }
}

#[inline(always)]
fn row_f32<S: Vf32>(s: S, x: &[f32], o: &mut [f32], log: bool, round: Round) {
    // Pass 1: max (a NaN in the row reaches the sum).
    let (xh, xt) = S::as_simd_f32s(x);
    let mv = s.splat_f32s(crate::ops::reduce::max_f32(s, x));
    // Pass 2: o = exp(x - max), and its sum.
    let mut sum = s.splat_f32s(0.0);
    {
        let (oh, ot) = S::as_mut_simd_f32s(o);
        for (d, &v) in oh.iter_mut().zip(xh) {
            let e = math::exp(s, s.sub_f32s(v, mv));
            *d = e;
            sum = s.add_f32s(sum, e);
        }
        if !xt.is_empty() {
            let e = math::exp(s, s.sub_f32s(s.partial_load_f32s(xt), mv));
            // Lanes past the tail load as 0 and give exp(-max): mask them out
            // of the sum by storing first and re-loading.
            s.partial_store_f32s(ot, e);
            sum = s.add_f32s(sum, s.partial_load_f32s(ot));
        }
    }
    let total = s.reduce_sum_f32s(sum);
    // Pass 3, on the row while it is in L1.
    if log {
        let lse = s.splat_f32s(round.apply(round.apply(total).ln()));
        let (oh, ot) = S::as_mut_simd_f32s(o);
        for (d, &v) in oh.iter_mut().zip(xh) {
            *d = s.sub_f32s(s.sub_f32s(v, mv), lse);
        }
        if !xt.is_empty() {
            let v = s.partial_load_f32s(xt);
            s.partial_store_f32s(ot, s.sub_f32s(s.sub_f32s(v, mv), lse));
        }
    } else {
        let inv = s.splat_f32s(1.0 / total);
        let (oh, ot) = S::as_mut_simd_f32s(o);
        for d in oh.iter_mut() {
            *d = s.mul_f32s(*d, inv);
        }
        if !ot.is_empty() {
            s.partial_store_f32s(ot, s.mul_f32s(s.partial_load_f32s(ot), inv));
        }
    }
}

fn row_f64(x: &[f64], o: &mut [f64], log: bool) {
    let m = x.iter().fold(f64::NEG_INFINITY, |a, &b| {
        if b.is_nan() || a.is_nan() {
            f64::NAN
        } else {
            a.max(b)
        }
    });
    let mut sum = 0.0;
    for (d, &v) in o.iter_mut().zip(x) {
        *d = (v - m).exp();
        sum += *d;
    }
    if log {
        let lse = sum.ln();
        for (d, &v) in o.iter_mut().zip(x) {
            *d = v - m - lse;
        }
    } else {
        for d in o.iter_mut() {
            *d /= sum;
        }
    }
}
