//! Shared helpers of the kernel tests: every ISA, every layout, and
//! reference values computed here in f64 / i128, never by the kernels.
#![allow(dead_code)]

use ft_core::{DType, Generator, TensorImpl};
use ft_kernels::{Isa, available_isas, force_isa};
use std::sync::Mutex;

static ISA_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` once per ISA: the one `FT_ISA` names when set (CI runs the
/// suite once per ISA that way), else every ISA this machine has.
pub fn for_each_isa(mut f: impl FnMut(Isa)) {
    let _g = ISA_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(v) = std::env::var("FT_ISA") {
        let isa = Isa::parse(&v).expect("FT_ISA names an ISA");
        assert_eq!(
            ft_kernels::isa(),
            isa,
            "FT_ISA={v} must be honoured on this machine"
        );
        f(isa);
        return;
    }
    for isa in available_isas() {
        force_isa(isa).unwrap();
        f(isa);
    }
    force_isa(ft_kernels::detected_isa()).unwrap();
}

/// How a test tensor is laid out in memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lay {
    Contiguous,
    /// A permuted view (dims reversed) of a contiguous tensor.
    Transposed,
    /// Every other element of a larger tensor, offset by one.
    Sliced,
    /// Broadcast from size 1 along the first dim (0 stride).
    Broadcast,
}

pub const LAYS: [Lay; 4] = [
    Lay::Contiguous,
    Lay::Transposed,
    Lay::Sliced,
    Lay::Broadcast,
];

/// Values in a range that suits `dtype` (small ints, signed floats).
pub fn values(n: usize, dtype: DType, seed: u64) -> Vec<f64> {
    let mut g = Generator::new(seed);
    (0..n)
        .map(|_| {
            let u = g.uniform_f64();
            match dtype {
                DType::Bool => (u < 0.5) as u8 as f64,
                DType::U8 => (u * 20.0).floor(),
                DType::I32 | DType::I64 => (u * 40.0).floor() - 20.0,
                _ => (u * 8.0 - 4.0 + 1e-3).max(-4.0),
            }
        })
        .collect()
}

/// A tensor of `shape` holding `vals` (row-major) in layout `lay`.
pub fn make(shape: &[usize], vals: &[f64], dtype: DType, lay: Lay) -> TensorImpl {
    let n: usize = shape.iter().product();
    assert_eq!(vals.len(), n);
    let isz: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
    match lay {
        Lay::Contiguous => TensorImpl::from_fn(shape, dtype, |i| vals[i]).unwrap(),
        Lay::Transposed => {
            // Store the transpose contiguously, then view it back.
            let rev: Vec<usize> = shape.iter().rev().copied().collect();
            let base = TensorImpl::from_fn(&rev, dtype, |j| {
                // j indexes rev-shape row-major; map to shape row-major.
                let mut idx = vec![0; rev.len()];
                let mut r = j;
                for d in (0..rev.len()).rev() {
                    idx[d] = r % rev[d];
                    r /= rev[d];
                }
                idx.reverse();
                let mut p = 0;
                for (d, &i) in idx.iter().enumerate() {
                    p = p * shape[d] + i;
                }
                vals[p]
            })
            .unwrap();
            let perm: Vec<isize> = (0..shape.len() as isize).rev().collect();
            base.permute(&perm).unwrap()
        }
        Lay::Sliced => {
            let big = TensorImpl::from_fn(&[2 * n + 1], dtype, |i| {
                if i >= 1 && (i - 1) % 2 == 0 {
                    vals[(i - 1) / 2]
                } else {
                    -7.0
                }
            })
            .unwrap();
            let mut strides = vec![0isize; shape.len()];
            let mut acc = 2isize;
            for d in (0..shape.len()).rev() {
                strides[d] = acc;
                acc *= shape[d].max(1) as isize;
            }
            big.as_strided(shape, &strides, 1).unwrap()
        }
        Lay::Broadcast => {
            if shape.is_empty() || shape[0] == 0 {
                return make(shape, vals, dtype, Lay::Contiguous);
            }
            // Row 0 repeated: the reference must use `effective`.
            let mut one = shape.to_vec();
            one[0] = 1;
            let t = TensorImpl::from_fn(&one, dtype, |i| vals[i]).unwrap();
            t.expand(&isz).unwrap()
        }
    }
}

/// What `make(.., Lay::Broadcast)` actually holds: row 0 repeated.
pub fn effective(shape: &[usize], vals: &[f64], lay: Lay) -> Vec<f64> {
    if lay != Lay::Broadcast || shape.is_empty() || shape[0] == 0 {
        return vals.to_vec();
    }
    let row: usize = shape[1..].iter().product();
    (0..vals.len()).map(|i| vals[i % row.max(1)]).collect()
}

/// The value `v` converted to `dtype` and back, as the tensor holds it.
pub fn stored(v: f64, dtype: DType) -> f64 {
    TensorImpl::full(&[], v, dtype)
        .unwrap()
        .to_vec_f64()
        .unwrap()[0]
}

/// Distance in ulps of `dtype` between `got` and the exact `want`.
pub fn ulps(got: f64, want: f64, dtype: DType) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if want.is_infinite() || got.is_infinite() {
        return if got == want { 0.0 } else { f64::INFINITY };
    }
    let spacing = match dtype {
        DType::F64 => {
            let a = want.abs().max(f64::MIN_POSITIVE);
            f64::from_bits(a.to_bits() + 1) - a
        }
        DType::F16 => {
            let a = (want.abs() as f32).max(6.1e-5);
            2f64.powi(a.log2().floor() as i32 - 10)
        }
        DType::BF16 => {
            let a = (want.abs() as f32).max(f32::MIN_POSITIVE);
            2f64.powi(a.log2().floor() as i32 - 7)
        }
        _ => {
            let a = (want.abs() as f32).max(f32::MIN_POSITIVE);
            (f32::from_bits(a.to_bits() + 1) - a) as f64
        }
    };
    (got - want).abs() / spacing
}
