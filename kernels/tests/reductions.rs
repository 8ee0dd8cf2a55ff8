//! Reductions and softmax against f64 references on every ISA and layout;
//! bitwise identity across thread counts; summation accuracy.

mod common;
use common::*;
use ft_core::{DType, Generator, TensorImpl};
use ft_kernels::{Isa, NormP, force_isa};

/// Reference reduction of `vals` (row-major over `shape`) over `dims`:
/// returns (out_shape without keepdim, groups of values per output).
fn groups(shape: &[usize], vals: &[f64], dims: &[usize]) -> (Vec<usize>, Vec<Vec<f64>>) {
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&d| shape[d]).collect();
    let n_out: usize = out_shape.iter().product();
    let mut g = vec![Vec::new(); n_out];
    for (p, &v) in vals.iter().enumerate() {
        let mut idx = vec![0; shape.len()];
        let mut r = p;
        for d in (0..shape.len()).rev() {
            idx[d] = r % shape[d];
            r /= shape[d];
        }
        let mut o = 0;
        for &d in &kept {
            o = o * shape[d] + idx[d];
        }
        g[o].push(v);
    }
    (out_shape, g)
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= rel * want.abs().max(1.0)
}

#[test]
fn reductions_match_reference_on_every_isa_and_layout() {
    let shapes: [(&[usize], &[&[isize]]); 4] = [
        (&[4, 5, 6], &[&[0], &[1], &[2], &[0, 2], &[-1, -2], &[]]),
        (&[37, 3], &[&[0], &[1]]),
        (&[0, 3], &[&[0], &[1]]),
        (&[], &[&[]]),
    ];
    for_each_isa(|isa| {
        for (shape, dimsets) in shapes {
            for dt in [
                DType::F32,
                DType::F64,
                DType::F16,
                DType::I64,
                DType::I32,
                DType::U8,
                DType::Bool,
            ] {
                for lay in LAYS {
                    let n: usize = shape.iter().product();
                    let v = values(n, dt, 3);
                    let x = make(shape, &v, dt, lay);
                    let ev: Vec<f64> = effective(shape, &v, lay)
                        .iter()
                        .map(|&a| stored(a, dt))
                        .collect();
                    for dims in dimsets {
                        let wd: Vec<usize> = if dims.is_empty() {
                            (0..shape.len()).collect()
                        } else {
                            dims.iter()
                                .map(|&d| {
                                    if d < 0 {
                                        (d + shape.len() as isize) as usize
                                    } else {
                                        d as usize
                                    }
                                })
                                .collect()
                        };
                        let (oshape, g) = groups(shape, &ev, &wd);
                        let tag = format!("{dt} {lay:?} {shape:?} dims {dims:?} {isa}");
                        for keepdim in [false, true] {
                            let dsel = Some(*dims);
                            let s = ft_kernels::sum(&x, dsel, keepdim, None).unwrap();
                            let want_shape: Vec<usize> = if keepdim {
                                (0..shape.len())
                                    .map(|d| if wd.contains(&d) { 1 } else { shape[d] })
                                    .collect()
                            } else {
                                oshape.clone()
                            };
                            assert_eq!(s.shape(), &want_shape[..], "sum shape {tag}");
                            let sv = s.to_vec_f64().unwrap();
                            let od = s.dtype();
                            let tol = match od {
                                DType::F16 => 2e-3,
                                DType::F32 => 1e-6,
                                _ => 1e-12,
                            };
                            for (i, grp) in g.iter().enumerate() {
                                let want = stored(grp.iter().sum(), od);
                                assert!(close(sv[i], want, tol), "sum {tag}: {} vs {want}", sv[i]);
                            }
                            let p = ft_kernels::prod(&x, dsel, keepdim, None)
                                .unwrap()
                                .to_vec_f64()
                                .unwrap();
                            for (i, grp) in g.iter().enumerate() {
                                let want = if od == DType::I64 {
                                    grp.iter().fold(1i64, |a, &x| a.wrapping_mul(x as i64)) as f64
                                } else {
                                    stored(grp.iter().product(), od)
                                };
                                assert!(
                                    close(p[i], want, tol.max(1e-5)),
                                    "prod {tag}: {} vs {want}",
                                    p[i]
                                );
                            }
                            if dt.is_floating_point() {
                                let m = ft_kernels::mean(&x, dsel, keepdim, None)
                                    .unwrap()
                                    .to_vec_f64()
                                    .unwrap();
                                let vr = ft_kernels::var(&x, dsel, 1.0, keepdim)
                                    .unwrap()
                                    .to_vec_f64()
                                    .unwrap();
                                let sd = ft_kernels::std(&x, dsel, 0.0, keepdim)
                                    .unwrap()
                                    .to_vec_f64()
                                    .unwrap();
                                let lse = ft_kernels::logsumexp(&x, dsel, keepdim)
                                    .unwrap()
                                    .to_vec_f64()
                                    .unwrap();
                                let n2 = ft_kernels::norm(&x, NormP::Two, dsel, keepdim)
                                    .unwrap()
                                    .to_vec_f64()
                                    .unwrap();
                                let n1 = ft_kernels::norm(&x, NormP::One, dsel, keepdim)
                                    .unwrap()
                                    .to_vec_f64()
                                    .unwrap();
                                for (i, grp) in g.iter().enumerate() {
                                    let k = grp.len() as f64;
                                    let mu = grp.iter().sum::<f64>() / k;
                                    let ss: f64 = grp.iter().map(|x| (x - mu) * (x - mu)).sum();
                                    assert!(close(m[i], mu, tol), "mean {tag}");
                                    assert!(
                                        close(vr[i], ss / (k - 1.0).max(0.0), tol.max(1e-6)),
                                        "var {tag}: {} vs {}",
                                        vr[i],
                                        ss / (k - 1.0)
                                    );
                                    assert!(
                                        close(sd[i], (ss / k).sqrt(), tol.max(1e-6)),
                                        "std {tag}"
                                    );
                                    let mx = grp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                                    let want = if grp.is_empty() {
                                        f64::NEG_INFINITY
                                    } else {
                                        mx + grp.iter().map(|x| (x - mx).exp()).sum::<f64>().ln()
                                    };
                                    assert!(close(lse[i], want, tol.max(1e-6)), "logsumexp {tag}");
                                    assert!(
                                        close(
                                            n2[i],
                                            grp.iter().map(|x| x * x).sum::<f64>().sqrt(),
                                            tol.max(1e-6)
                                        ),
                                        "norm2 {tag}"
                                    );
                                    assert!(
                                        close(
                                            n1[i],
                                            grp.iter().map(|x| x.abs()).sum::<f64>(),
                                            tol.max(1e-6)
                                        ),
                                        "norm1 {tag}"
                                    );
                                }
                            }
                            let an = ft_kernels::any(&x, dsel, keepdim)
                                .unwrap()
                                .to_vec_f64()
                                .unwrap();
                            let al = ft_kernels::all(&x, dsel, keepdim)
                                .unwrap()
                                .to_vec_f64()
                                .unwrap();
                            for (i, grp) in g.iter().enumerate() {
                                assert_eq!(
                                    an[i],
                                    grp.iter().any(|&x| x != 0.0) as u8 as f64,
                                    "any {tag}"
                                );
                                assert_eq!(
                                    al[i],
                                    grp.iter().all(|&x| x != 0.0) as u8 as f64,
                                    "all {tag}"
                                );
                            }
                        }
                        // max/min with indices over one dim.
                        if dims.len() == 1 && shape[wd[0]] > 0 {
                            let (vals, idx) = ft_kernels::max_dim(&x, dims[0], false).unwrap();
                            let (mv, mi) =
                                (vals.to_vec_f64().unwrap(), idx.to_vec::<i64>().unwrap());
                            // PyTorch's argmin refuses bool input; compare on
                            // the same values as uint8.
                            if x.dtype() == DType::Bool {
                                assert!(ft_kernels::argmin(&x, Some(dims[0]), false).is_err());
                            }
                            let xa = if x.dtype() == DType::Bool {
                                ft_kernels::cast(&x, DType::U8).unwrap()
                            } else {
                                x.clone()
                            };
                            let am = ft_kernels::argmin(&xa, Some(dims[0]), false)
                                .unwrap()
                                .to_vec::<i64>()
                                .unwrap();
                            for (i, grp) in g.iter().enumerate() {
                                let best = grp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                                let first = grp.iter().position(|&v| v == best).unwrap() as i64;
                                assert_eq!((mv[i], mi[i]), (best, first), "max_dim {tag}");
                                let lo = grp.iter().cloned().fold(f64::INFINITY, f64::min);
                                assert_eq!(
                                    am[i],
                                    grp.iter().position(|&v| v == lo).unwrap() as i64,
                                    "argmin {tag}"
                                );
                            }
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn reduction_edges_follow_pytorch() {
    let nan = TensorImpl::from_slice(&[1.0f32, f32::NAN, 3.0, f32::NAN], &[4]).unwrap();
    assert!(ft_kernels::max(&nan).unwrap().to_vec::<f32>().unwrap()[0].is_nan());
    assert_eq!(
        ft_kernels::argmax(&nan, None, false)
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![1]
    );
    let ties = TensorImpl::from_slice(&[3.0f32, 1.0, 3.0], &[3]).unwrap();
    assert_eq!(
        ft_kernels::argmax(&ties, None, false)
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![0]
    );
    let empty = TensorImpl::zeros(&[0], DType::F32).unwrap();
    assert!(
        ft_kernels::max(&empty)
            .unwrap_err()
            .to_string()
            .contains("Specify the reduction dim")
    );
    assert!(
        ft_kernels::mean(&empty, None, false, None)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()[0]
            .is_nan()
    );
    let e2 = TensorImpl::zeros(&[2, 0], DType::F32).unwrap();
    assert_eq!(
        ft_kernels::sum(&e2, Some(&[1]), false, None)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0, 0.0]
    );
    assert_eq!(
        ft_kernels::prod(&e2, Some(&[1]), false, None)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0, 1.0]
    );
    assert!(
        ft_kernels::max_dim(&e2, 1, false)
            .unwrap_err()
            .to_string()
            .contains("Expected reduction dim 1 to have non-zero size")
    );
    let i = TensorImpl::from_slice(&[3i64, -2], &[2]).unwrap();
    assert!(
        ft_kernels::mean(&i, None, false, None)
            .unwrap_err()
            .to_string()
            .contains("Got: Long")
    );
    assert!(ft_kernels::var(&i, None, 1.0, false).is_err());
    assert_eq!(
        ft_kernels::sum(
            &TensorImpl::from_slice(&[true, true], &[2]).unwrap(),
            None,
            false,
            None
        )
        .unwrap()
        .dtype(),
        DType::I64
    );
    assert_eq!(
        ft_kernels::any(
            &TensorImpl::from_slice(&[0u8, 2], &[2]).unwrap(),
            None,
            false
        )
        .unwrap()
        .dtype(),
        DType::U8
    );
    let big = i64::MAX - 5;
    let bi = TensorImpl::from_slice(&[big, 1], &[2]).unwrap();
    assert_eq!(
        ft_kernels::max(&bi).unwrap().to_vec::<i64>().unwrap(),
        vec![big],
        "int64 max is exact"
    );
    assert!(
        ft_kernels::sum(&i, Some(&[0, 0]), false, None)
            .unwrap_err()
            .to_string()
            .contains("appears multiple times")
    );
    assert!(ft_kernels::sum(&i, Some(&[1]), false, None).is_err());
}

/// Runs `f` on a rayon pool of `n` threads.
fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn reductions_are_bitwise_identical_across_thread_counts() {
    let mut g = Generator::new(11);
    let x = TensorImpl::rand(&[1 << 20], DType::F32, &mut g).unwrap();
    let m = TensorImpl::randn(&[515, 1031], DType::F32, &mut g).unwrap();
    let m16 = ft_kernels::cast(&m, DType::BF16).unwrap();
    let run = || {
        let mut bits: Vec<Vec<u64>> = Vec::new();
        let mut push = |t: TensorImpl| {
            bits.push(
                t.to_vec_f64()
                    .unwrap()
                    .into_iter()
                    .map(f64::to_bits)
                    .collect(),
            )
        };
        push(ft_kernels::sum(&x, None, false, None).unwrap());
        push(ft_kernels::sum(&m, Some(&[0]), false, None).unwrap());
        push(ft_kernels::sum(&m, Some(&[1]), false, None).unwrap());
        push(ft_kernels::mean(&m.t().unwrap(), Some(&[1]), false, None).unwrap());
        push(ft_kernels::var(&x, None, 1.0, false).unwrap());
        push(ft_kernels::logsumexp(&m, Some(&[0]), false).unwrap());
        push(ft_kernels::norm(&x, NormP::Two, None, false).unwrap());
        push(ft_kernels::softmax(&m, -1).unwrap());
        push(ft_kernels::sum(&m16, Some(&[1]), false, None).unwrap());
        push(ft_kernels::sum(&m16, Some(&[0]), false, None).unwrap());
        push(ft_kernels::max_dim(&m, 0, false).unwrap().1);
        push(ft_kernels::max_dim(&m16, 0, false).unwrap().0);
        bits
    };
    let names = [
        "sum",
        "sum dim 0",
        "sum dim 1",
        "mean of a view",
        "var",
        "logsumexp",
        "norm",
        "softmax",
        "bf16 sum dim 1",
        "bf16 sum dim 0",
        "argmax dim 0",
        "bf16 max dim 0",
    ];
    // Inside the ISA lock: other tests switch ISAs, which changes results.
    for_each_isa(|isa| {
        each_sum_width(isa, |sum_isa| {
            let one = with_threads(1, run);
            for n in [2, 3] {
                let other = with_threads(n, run);
                for (k, name) in names.iter().enumerate() {
                    assert!(
                        one[k] == other[k],
                        "{name} on {isa} (sums on {sum_isa}): 1 vs {n} threads differ"
                    );
                }
            }
        })
    });
}

/// Values max/min tests draw from: zeros of both signs, infinities, few
/// finite values (ties everywhere).
const EXTREME_POOL: [f32; 8] = [
    0.0,
    -0.0,
    1.5,
    -1.5,
    3.0,
    -3.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
];

/// PyTorch's max (min) of `xs` with its index: the first NaN if any, else
/// the first element of the largest (smallest) value; (bits, index).
fn pytorch_extreme(xs: &[f32], max: bool) -> (u32, i64) {
    if let Some(i) = xs.iter().position(|v| v.is_nan()) {
        return (f32::NAN.to_bits(), i as i64);
    }
    let mut best = 0;
    for (k, &v) in xs.iter().enumerate() {
        if (max && v > xs[best]) || (!max && v < xs[best]) {
            best = k;
        }
    }
    (xs[best].to_bits(), best as i64)
}

/// A xorshift64 stream from `seed` (not 0).
fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// max/min with indices along f32, f16 and bf16 rows (the SIMD leaf of
/// `ExtremeF32`) against PyTorch's rule, element by element: the first NaN
/// if any, else the first element of the largest (smallest) value, `-0.0`
/// and `0.0` counted equal and the element's own sign kept. Rows cross
/// vector, leaf (2048) and chunk boundaries; values are few (ties
/// everywhere) and include infinities, zeros of both signs and NaNs.
#[test]
fn max_and_min_along_rows_find_pytorchs_element() {
    let lens = [1, 2, 7, 15, 16, 17, 33, 64, 255, 2047, 2048, 2049, 5003];
    let pool = EXTREME_POOL;
    for_each_isa(|isa| {
        let mut next = xorshift(0x9e37_79b9);
        for &n in &lens {
            for case in 0..6 {
                // case 0-1: no NaN; 2-3: one NaN somewhere; 4: NaN last;
                // 5: -inf only but one value.
                let mut row: Vec<f32> = (0..n)
                    .map(|_| pool[(next() % if case < 4 { 8 } else { 6 }) as usize])
                    .collect();
                match case {
                    2 | 3 => row[(next() % n as u64) as usize] = f32::NAN,
                    4 => row[n - 1] = f32::NAN,
                    5 => {
                        row.fill(f32::NEG_INFINITY);
                        row[(next() % n as u64) as usize] = -0.0;
                    }
                    _ => {}
                }
                for dt in [DType::F32, DType::BF16, DType::F16] {
                    let x = ft_kernels::cast(&TensorImpl::from_slice(&row, &[1, n]).unwrap(), dt)
                        .unwrap();
                    for max in [true, false] {
                        let (v, i) = if max {
                            ft_kernels::max_dim(&x, 1, false).unwrap()
                        } else {
                            ft_kernels::min_dim(&x, 1, false).unwrap()
                        };
                        let got = (
                            ft_kernels::cast(&v, DType::F32)
                                .unwrap()
                                .to_vec::<f32>()
                                .unwrap()[0],
                            i.to_vec::<i64>().unwrap()[0],
                        );
                        let (bits, idx) = pytorch_extreme(&row, max);
                        let same = if f32::from_bits(bits).is_nan() {
                            got.0.is_nan()
                        } else {
                            got.0.to_bits() == bits
                        };
                        assert!(
                            same && got.1 == idx,
                            "{isa} {dt:?} n {n} case {case} max {max}: got {got:?}, want ({}, {idx})",
                            f32::from_bits(bits)
                        );
                    }
                }
            }
        }
    });
}

#[test]
fn max_and_min_down_columns_find_pytorchs_element() {
    // Columns: lane tails on every ISA; rows: within a leaf, across leaves.
    let shapes = [(1, 5), (3, 16), (16, 17), (17, 37), (40, 67), (100, 33)];
    let pool = EXTREME_POOL;
    for_each_isa(|isa| {
        let mut next = xorshift(0x2545_f491);
        for &(rows, cols) in &shapes {
            let mut m: Vec<f32> = (0..rows * cols)
                .map(|_| pool[(next() % 8) as usize])
                .collect();
            // NaN in a third of the columns, at a random row (twice in some).
            for c in (0..cols).step_by(3) {
                for _ in 0..1 + c % 2 {
                    m[(next() % rows as u64) as usize * cols + c] = f32::NAN;
                }
            }
            // A column of -inf but one -0.0.
            if cols > 1 {
                for r in 0..rows {
                    m[r * cols + 1] = f32::NEG_INFINITY;
                }
                m[(next() % rows as u64) as usize * cols + 1] = -0.0;
            }
            for dt in [DType::F32, DType::BF16, DType::F16] {
                let x = ft_kernels::cast(&TensorImpl::from_slice(&m, &[rows, cols]).unwrap(), dt)
                    .unwrap();
                for max in [true, false] {
                    let (v, i) = if max {
                        ft_kernels::max_dim(&x, 0, false).unwrap()
                    } else {
                        ft_kernels::min_dim(&x, 0, false).unwrap()
                    };
                    let vals = ft_kernels::cast(&v, DType::F32)
                        .unwrap()
                        .to_vec::<f32>()
                        .unwrap();
                    let idx = i.to_vec::<i64>().unwrap();
                    for c in 0..cols {
                        let col: Vec<f32> = (0..rows).map(|r| m[r * cols + c]).collect();
                        let (bits, at) = pytorch_extreme(&col, max);
                        let same = if f32::from_bits(bits).is_nan() {
                            vals[c].is_nan()
                        } else {
                            vals[c].to_bits() == bits
                        };
                        assert!(
                            same && idx[c] == at,
                            "{isa} {dt:?} [{rows}, {cols}] column {c} max {max}: got ({}, {}), want ({}, {at})",
                            vals[c],
                            idx[c],
                            f32::from_bits(bits)
                        );
                    }
                }
            }
        }
    });
}

/// Runs `f` with f32 row sums at each vector width `isa` offers (512 and
/// 256 bits on AVX-512: `ft_kernels::ops::reduce::set_sum_width`; the one
/// ISA elsewhere), passing the ISA the sums run on; the processor's width
/// again after. Call it inside `for_each_isa`: the width changes results'
/// bits, as the ISA does, so it is switched under the same lock.
fn each_sum_width(isa: Isa, mut f: impl FnMut(Isa)) {
    use ft_kernels::ops::reduce::{set_sum_width, sum_isa};
    let widths: &[u32] = if isa == Isa::Avx512 {
        &[512, 256]
    } else {
        &[512]
    };
    for &w in widths {
        set_sum_width(Some(w));
        f(sum_isa());
    }
    set_sum_width(None);
}

/// `set_sum_width(Some(256))` on AVX-512 runs f32 row sums (`sum`,
/// `mean`) on the AVX2 body: the AVX2 ISA's bits, and at 512 bits others
/// (more lanes, another tree). Column sums keep the active ISA. Runs where
/// AVX-512 is among the ISAs tested.
#[test]
fn a_256_bit_sum_on_avx512_is_the_avx2_sum() {
    use ft_kernels::ops::reduce::set_sum_width;
    let mut g = Generator::new(5);
    let flat = TensorImpl::randn(&[100_003], DType::F32, &mut g).unwrap();
    let m = TensorImpl::randn(&[37, 5003], DType::F32, &mut g).unwrap();
    let bits = |t: TensorImpl| -> Vec<u32> {
        t.to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let rows = || {
        [
            bits(ft_kernels::sum(&flat, None, false, None).unwrap()),
            bits(ft_kernels::sum(&m, Some(&[1]), false, None).unwrap()),
            bits(ft_kernels::mean(&m, Some(&[-1]), false, None).unwrap()),
        ]
    };
    let cols = || bits(ft_kernels::sum(&m, Some(&[0]), false, None).unwrap());
    for_each_isa(|isa| {
        if isa != Isa::Avx512 {
            return;
        }
        set_sum_width(Some(256));
        let (narrow, narrow_cols) = (rows(), cols());
        set_sum_width(Some(512));
        let (wide, wide_cols) = (rows(), cols());
        force_isa(Isa::Avx2).unwrap();
        let avx2 = rows();
        force_isa(Isa::Avx512).unwrap();
        set_sum_width(None);
        for k in 0..3 {
            assert_eq!(
                narrow[k], avx2[k],
                "row sum {k}: 256 bits on avx512 vs avx2"
            );
            assert_ne!(wide[k], avx2[k], "row sum {k}: 512 bits gave avx2's bits");
        }
        assert_eq!(narrow_cols, wide_cols, "column sums changed with the width");
    });
}

/// var, std, norm (p = 1, 2, inf) and logsumexp of f32, f16 and bf16 keep
/// f64 accumulation in their SIMD leaves: each result within half an ulp
/// of the output dtype of the f64 reference (rounded once), logsumexp
/// within 4e-7 more (its exponentials are f32's, 1.5 ulp). Rows cross
/// vector, leaf (2048) and tail boundaries, down rows and columns and
/// over everything; values sit at an offset (var's cancellation) or
/// hold NaN and infinities in and between leaves.
#[test]
fn f64_reductions_of_floats_round_once_on_every_isa() {
    let lens = [1, 2, 7, 33, 300, 2047, 2048, 2049, 5003];
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let mut values = |n: usize, offset: f64| -> Vec<f64> {
        (0..n)
            .map(|_| offset + (next() % 20_001) as f64 / 10_000.0 - 1.0)
            .collect()
    };
    // (rows, offset, special values at (row, index)).
    let mut cases: Vec<(usize, Vec<f64>)> = vec![];
    for &n in &lens {
        cases.push((n, values(3 * n, 0.0)));
        cases.push((n, values(3 * n, 10.0)));
        let mut v = values(3 * n, 0.0);
        let at = |k: usize| (k % n).min(n - 1);
        v[at(2048)] = f64::NAN; // row 0: NaN (in leaf 1 where it has one)
        v[n + at(n - 1)] = f64::INFINITY; // row 1: +inf at the end
        for x in &mut v[2 * n..] {
            *x = f64::NEG_INFINITY; // row 2: all -inf
        }
        cases.push((n, v));
    }
    for_each_isa(|isa| {
        for dt in [DType::F32, DType::BF16, DType::F16] {
            for (n, v) in &cases {
                let n = *n;
                let rows = TensorImpl::from_slice(
                    &v.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                    &[3, n],
                )
                .and_then(|t| ft_kernels::cast(&t, dt))
                .unwrap();
                let stored_v = rows.to_vec_f64().unwrap();
                let cols = rows.transpose(0, 1).unwrap().contiguous().unwrap();
                // (tensor, dims, groups of the reference)
                let row_groups: Vec<&[f64]> = stored_v.chunks(n).collect();
                let all = [&stored_v[..]];
                let (d1, d0): (&[isize], &[isize]) = (&[1], &[0]);
                let runs = [
                    (&rows, Some(d1), &row_groups[..]),
                    (&cols, Some(d0), &row_groups[..]),
                    (&rows, None, &all[..]),
                ];
                for (x, dims, groups) in runs {
                    let tag = format!("{isa} {dt:?} n {n} dims {dims:?}");
                    let got = |t: TensorImpl| t.to_vec_f64().unwrap();
                    let var = got(ft_kernels::var(x, dims, 1.0, false).unwrap());
                    let std = got(ft_kernels::std(x, dims, 0.0, false).unwrap());
                    let n1 = got(ft_kernels::norm(x, NormP::One, dims, false).unwrap());
                    let n2 = got(ft_kernels::norm(x, NormP::Two, dims, false).unwrap());
                    let ni = got(ft_kernels::norm(x, NormP::Inf, dims, false).unwrap());
                    let lse = got(ft_kernels::logsumexp(x, dims, false).unwrap());
                    for (i, g) in groups.iter().enumerate() {
                        let k = g.len() as f64;
                        let mean = g.iter().sum::<f64>() / k;
                        let m2: f64 = g.iter().map(|x| (x - mean) * (x - mean)).sum();
                        let any_nan = g.iter().any(|x| x.is_nan());
                        let mx = g.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let want_lse = if any_nan {
                            f64::NAN
                        } else if mx.is_infinite() {
                            mx
                        } else {
                            mx + g.iter().map(|x| (x - mx).exp()).sum::<f64>().ln()
                        };
                        let inf_norm = if any_nan {
                            f64::NAN
                        } else {
                            g.iter().map(|x| x.abs()).fold(0.0, f64::max)
                        };
                        let want = [
                            ("var", var[i], m2 / (k - 1.0).max(0.0)),
                            ("std", std[i], (m2 / k).sqrt()),
                            ("norm1", n1[i], g.iter().map(|x| x.abs()).sum()),
                            ("norm2", n2[i], g.iter().map(|x| x * x).sum::<f64>().sqrt()),
                            ("norm inf", ni[i], inf_norm),
                        ];
                        for (name, got, want) in want {
                            // (A sum past f16's range is inf, as it rounds.)
                            assert!(
                                ulps(got, want, dt) <= 0.51 || got == stored(want, dt),
                                "{name} {tag} [{i}]: {got} vs {want}"
                            );
                        }
                        assert!(
                            ulps(lse[i], want_lse, dt) <= 0.51 || (lse[i] - want_lse).abs() <= 4e-7,
                            "logsumexp {tag} [{i}]: {} vs {want_lse}",
                            lse[i]
                        );
                    }
                }
            }
        }
    });
}

/// Float sums are pairwise over fixed blocks: each element passes through
/// at most `sum_rounding_depth` roundings (a few dozen on the scalar path, a
/// dozen or two with vectors), so the error is O(log n) like PyTorch's
/// cascade sum and not the O(n) of a plain loop. The data is the worst
/// case for rounding (every add rounds the same way).
/// f16 and bf16 row sums widen their elements as they load them: within
/// the f32 tree's rounding bound of the f64 sum, and the very sums of the
/// widened rows, on every ISA and sum width.
/// Lengths cross sub-block (256), leaf (2048) and vector boundaries.
#[test]
fn half_row_sums_widen_as_they_load() {
    let lens = [
        1, 7, 16, 63, 139, 255, 256, 257, 300, 1000, 2047, 2048, 2049, 2187, 5003,
    ];
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    // Values over many binades (bf16: 40, f16: 24), both signs: sums of
    // few-bit values near 1 would be exact in f32 whatever the order.
    let mut values = |n: usize, binades: u64| -> Vec<f32> {
        (0..n)
            .map(|_| {
                let r = next();
                let m = (r % 1000) as f32 / 1000.0 + 0.5;
                let e = ((r >> 20) % binades) as i32 - binades as i32 / 2;
                let sign = if (r >> 40) & 1 == 1 { -1.0 } else { 1.0 };
                sign * m * 2f32.powi(e)
            })
            .collect()
    };
    for_each_isa(|isa| {
        each_sum_width(isa, |sum_isa| {
            for &n in &lens {
                for (dt, binades) in [(DType::BF16, 40), (DType::F16, 24)] {
                    let x = ft_kernels::cast(
                        &TensorImpl::from_slice(&values(3 * n, binades), &[3, n]).unwrap(),
                        dt,
                    )
                    .unwrap();
                    let xv = x.to_vec_f64().unwrap();
                    // In f32 (`dtype=`): the output's rounding would hide
                    // the sums' last bits.
                    let got = ft_kernels::sum(&x, Some(&[1]), false, Some(DType::F32)).unwrap();
                    let wide = ft_kernels::cast(&x, DType::F32).unwrap();
                    let same = ft_kernels::sum(&wide, Some(&[1]), false, None).unwrap();
                    let (got, same) = (got.to_vec_f64().unwrap(), same.to_vec_f64().unwrap());
                    let depth = ft_kernels::ops::reduce::sum_rounding_depth(sum_isa.f32_lanes(), n);
                    for r in 0..3 {
                        let row = &xv[r * n..(r + 1) * n];
                        let want: f64 = row.iter().sum();
                        let mass: f64 = row.iter().map(|v| v.abs()).sum();
                        let bound = depth as f64 * f32::EPSILON as f64 / 2.0 * mass;
                        assert!(
                            (got[r] - want).abs() <= bound,
                            "{isa} (sums on {sum_isa}) {dt:?} n {n} row {r}: {} vs {want}",
                            got[r]
                        );
                        assert_eq!(
                            got[r].to_bits(),
                            same[r].to_bits(),
                            "{isa} (sums on {sum_isa}) {dt:?} n {n} row {r}: not the widened row's sum"
                        );
                    }
                }
            }
        })
    });
}

#[test]
fn float_sum_is_at_least_as_accurate_as_a_cascade_sum() {
    let n = 1 << 24;
    let x = TensorImpl::full(&[n], 0.1f64, DType::F32).unwrap();
    let exact = n as f64 * (0.1f32 as f64);
    for_each_isa(|isa| {
        each_sum_width(isa, |sum_isa| {
            let got = ft_kernels::sum(&x, None, false, None)
                .unwrap()
                .to_vec::<f32>()
                .unwrap()[0] as f64;
            let rel = (got - exact).abs() / exact;
            let depth = ft_kernels::ops::reduce::sum_rounding_depth(sum_isa.f32_lanes(), n);
            let bound = depth as f64 * f32::EPSILON as f64 / 2.0;
            assert!(
                rel <= bound,
                "{isa} (sums on {sum_isa}): relative error {rel:e} > {depth} half-ulps ({bound:e})"
            );
            eprintln!(
                "{isa} (sums on {sum_isa}): relative error {rel:e}, bound {bound:e} ({depth} roundings)"
            );
        });
    });
    let mut naive = 0f32;
    for _ in 0..n {
        naive += 0.1f32;
    }
    let naive_rel = ((naive as f64 - exact) / exact).abs();
    assert!(
        naive_rel > 0.1,
        "the data is hard for a plain loop: {naive_rel:e}"
    );
}

#[test]
fn softmax_matches_reference_and_is_stable() {
    for_each_isa(|isa| {
        for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for lay in LAYS {
                for (shape, dim) in [
                    (&[3usize, 70][..], -1isize),
                    (&[5, 4, 3], 0),
                    (&[5, 4, 3], 1),
                    (&[4, 0], -1),
                    (&[], 0),
                ] {
                    let n: usize = shape.iter().product();
                    let v: Vec<f64> = values(n, dt, 4).iter().map(|x| x * 30.0).collect();
                    let x = make(shape, &v, dt, lay);
                    let ev: Vec<f64> = effective(shape, &v, lay)
                        .iter()
                        .map(|&a| stored(a, dt))
                        .collect();
                    let d = if shape.is_empty() {
                        0
                    } else if dim < 0 {
                        shape.len() - 1
                    } else {
                        dim as usize
                    };
                    let s = ft_kernels::softmax(&x, dim).unwrap();
                    let ls = ft_kernels::log_softmax(&x, dim).unwrap();
                    assert_eq!((s.shape(), s.dtype()), (shape, dt));
                    let (sv, lv) = (s.to_vec_f64().unwrap(), ls.to_vec_f64().unwrap());
                    // Reference per element: group by all dims but d.
                    for p in 0..n {
                        let mut idx = vec![0; shape.len()];
                        let mut r = p;
                        for k in (0..shape.len()).rev() {
                            idx[k] = r % shape[k];
                            r /= shape[k];
                        }
                        let row: Vec<f64> = if shape.is_empty() {
                            vec![ev[0]]
                        } else {
                            (0..shape[d])
                                .map(|j| {
                                    let mut q = 0;
                                    for k in 0..shape.len() {
                                        q = q * shape[k] + if k == d { j } else { idx[k] };
                                    }
                                    ev[q]
                                })
                                .collect()
                        };
                        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let z: f64 = row.iter().map(|x| (x - m).exp()).sum();
                        let want = (ev[p] - m).exp() / z;
                        let want_log = ev[p] - m - z.ln();
                        let tol = match dt {
                            DType::F64 => 1e-12,
                            DType::F32 => 1e-5,
                            _ => 1e-2,
                        };
                        assert!(
                            (sv[p] - want).abs() <= tol * want.max(1e-30).max(1e-3),
                            "softmax {dt} {lay:?} {shape:?} {isa}: {} vs {want}",
                            sv[p]
                        );
                        assert!(
                            (lv[p] - want_log).abs() <= tol * want_log.abs().max(1.0),
                            "log_softmax {dt} {lay:?} {shape:?} {isa}"
                        );
                    }
                }
            }
        }
        // Huge inputs do not overflow; NaN poisons its row only.
        let x = TensorImpl::from_slice(&[1000.0f32, 1000.0, f32::NAN, 0.0], &[2, 2]).unwrap();
        let s = ft_kernels::softmax(&x, -1)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(&s[..2], &[0.5, 0.5]);
        assert!(s[2].is_nan() && s[3].is_nan());
        assert!(ft_kernels::softmax(&TensorImpl::zeros(&[2], DType::I64).unwrap(), 0).is_err());
    });
}

/// f16/bf16 log_softmax rounds as PyTorch 2.15 does (checked there with
/// `conformance/oracle/half_rules.py`'s candidates: no mismatch of 19,200):
/// over the last dim, `(x - max) - h(log(h(sum)))` with `h` the rounding to
/// the input's dtype (its per-row scalars are of that type); over another
/// dim, `(x - max) - log(sum)` in f32; both rounded once at the end. The
/// reference is computed in f64; where a value lies within f32's error
/// (1e-6 relative) of a half rounding boundary, either neighbour is taken,
/// since f32 arithmetic may land on either side. Without the rounded row
/// scalars about one result in ten is a half ulp off.
#[test]
fn half_log_softmax_rounds_its_row_scalars_as_pytorch() {
    for_each_isa(|isa| {
        for dt in [DType::BF16, DType::F16] {
            let h = |v: f64| stored(v, dt);
            // The roundings f32 arithmetic near `v` could give.
            let near = |v: f64| {
                let e = v.abs() * 1e-6;
                [h(v - e), h(v + e)]
            };
            let (rows, cols) = (40, 300);
            let v: Vec<f64> = values(rows * cols, dt, 11)
                .iter()
                .map(|x| h(x * 0.7))
                .collect();
            let x = make(&[rows, cols], &v, dt, Lay::Contiguous);
            for (dim, last) in [(1isize, true), (0, false)] {
                let got = ft_kernels::log_softmax(&x, dim)
                    .unwrap()
                    .to_vec_f64()
                    .unwrap();
                let (n, m) = if last { (rows, cols) } else { (cols, rows) };
                let at = |i: usize, j: usize| if last { i * cols + j } else { j * cols + i };
                for i in 0..n {
                    let row: Vec<f64> = (0..m).map(|j| v[at(i, j)]).collect();
                    let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = row.iter().map(|a| (a - mx).exp()).sum();
                    let lses: Vec<f64> = if last {
                        near(sum).iter().flat_map(|s| near(s.ln())).collect()
                    } else {
                        vec![sum.ln()]
                    };
                    for j in 0..m {
                        let g = got[at(i, j)];
                        let ok = lses.iter().any(|l| near(row[j] - mx - l).contains(&g));
                        assert!(
                            ok,
                            "{isa} {dt:?} dim {dim} [{i}, {j}]: {g} vs {}",
                            h(row[j] - mx - lses[0])
                        );
                    }
                }
            }
        }
    });
}

/// Column sums (the reduced dim is not the last): leaves of `ROW_BLOCK`
/// rows fed four at a time with the partial sums in registers, the rest
/// one by one; column tasks capped in width; with enough rows, threads
/// splitting the row tree instead of the columns. Checked against an f64
/// sum with the error bound of the tree (each element through at most
/// `ROW_BLOCK` serial adds and one add per pairwise level), at 1, 2 and 3
/// threads, on every ISA, and bitwise equal across the thread counts.
#[test]
fn column_sums_match_reference_for_every_split() {
    use ft_kernels::ops::reduce::ROW_BLOCK;
    // (shape, reduced dim): rows for both splits, a width over the task
    // cap, several outer blocks, rows that leave a remainder of 1-3.
    let cases: [(&[usize], isize); 5] = [
        (&[70, 8200], 0),
        (&[200, 300], 0),
        (&[3, 100, 40], 1),
        (&[67, 33], 0),
        (&[4099, 17], 0),
    ];
    for_each_isa(|isa| {
        // f16 and bf16 go through the leaf's conversion (128 columns at a
        // time) and come back rounded to their dtype.
        for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16] {
            for (k, &(shape, dim)) in cases.iter().enumerate() {
                let n: usize = shape.iter().product();
                let v: Vec<f64> = values(n, dtype, 300 + k as u64)
                    .iter()
                    .map(|&x| stored(x, dtype))
                    .collect();
                let x = make(shape, &v, dtype, Lay::Contiguous);
                let d = dim as usize;
                let (o, r, i) = (
                    shape[..d].iter().product::<usize>(),
                    shape[d],
                    shape[d + 1..].iter().product::<usize>(),
                );
                let leaves = r.div_ceil(ROW_BLOCK).max(1);
                let depth = ROW_BLOCK + leaves.next_power_of_two().trailing_zeros() as usize;
                let eps = if dtype == DType::F64 {
                    f64::EPSILON
                } else {
                    f32::EPSILON as f64
                };
                // The f32 sum's rounding to the output dtype: half an ulp.
                let out_half_ulp = match dtype {
                    DType::BF16 => 2f64.powi(-8),
                    DType::F16 => 2f64.powi(-11),
                    _ => 0.0,
                };
                let mut first: Option<Vec<u64>> = None;
                for threads in [1, 2, 3] {
                    let got = with_threads(threads, || {
                        ft_kernels::sum(&x, Some(&[dim]), false, None).unwrap()
                    })
                    .to_vec_f64()
                    .unwrap();
                    assert_eq!(got.len(), o * i);
                    for oo in 0..o {
                        for ii in 0..i {
                            let col = (0..r).map(|rr| v[(oo * r + rr) * i + ii]);
                            let want: f64 = col.clone().sum();
                            let mass: f64 = col.map(f64::abs).sum();
                            let err = (got[oo * i + ii] - want).abs();
                            let rounding = out_half_ulp * want.abs() + 2f64.powi(-24);
                            assert!(
                                err <= depth as f64 * eps * mass + rounding,
                                "{isa} {dtype} {shape:?} dim {dim} {threads}T ({oo}, {ii}): {} vs {want}",
                                got[oo * i + ii]
                            );
                        }
                    }
                    let bits: Vec<u64> = got.iter().map(|g| g.to_bits()).collect();
                    match &first {
                        None => first = Some(bits),
                        Some(b) => assert!(
                            *b == bits,
                            "{isa} {dtype} {shape:?}: 1 and {threads} threads differ"
                        ),
                    }
                }
            }
        }
    });
}

/// The software prefetch ahead of an f32 sum's loads (on or off by
/// processor, `ft_kernels::ops::reduce::set_sum_prefetch`) only asks for
/// lines early: on every ISA and sum width, every distance gives a sum within the
/// rounding bound of the f64 reference, and the same bits as no prefetch.
/// Lengths cross sub-block, leaf and vector boundaries; distances include
/// ones shorter than a vector pass and ones past the data's end.
#[test]
fn sum_prefetch_distance_changes_no_result() {
    use ft_kernels::ops::reduce::{SUM_PREFETCH, set_sum_prefetch, sum_prefetch};
    let cases: [(&[usize], Option<&[isize]>); 4] = [
        (&[100_003], None),
        (&[2048 * 3 + 17], None),
        (&[37, 5003], Some(&[1])),
        (&[3, 70_001], Some(&[-1])),
    ];
    for_each_isa(|isa| {
        each_sum_width(isa, |sum_isa| {
            for (shape, dims) in cases {
                let n: usize = shape.iter().product();
                let vals = values(n, DType::F32, 0x5eed + n as u64);
                let x = make(shape, &vals, DType::F32, Lay::Contiguous);
                let row = *shape.last().unwrap();
                let mut first: Option<Vec<u32>> = None;
                for d in [0, 1, 16, 1000, SUM_PREFETCH, 1 << 30] {
                    set_sum_prefetch(Some(d));
                    assert_eq!(sum_prefetch(), d);
                    let got = ft_kernels::sum(&x, dims, false, None).unwrap();
                    let got = got.to_vec::<f32>().unwrap();
                    for (r, &g) in got.iter().enumerate() {
                        let part = &vals[r * row..(r + 1) * row];
                        let want: f64 = part.iter().sum();
                        let mag: f64 = part.iter().map(|v| v.abs()).sum();
                        let depth =
                            ft_kernels::ops::reduce::sum_rounding_depth(sum_isa.f32_lanes(), row);
                        let bound = depth as f64 * f32::EPSILON as f64 / 2.0 * mag;
                        assert!(
                            (g as f64 - want).abs() <= bound,
                            "{isa} (sums on {sum_isa}) {shape:?} prefetch {d}: row {r} {g} vs {want} (bound {bound:e})"
                        );
                    }
                    let bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                    match &first {
                        None => first = Some(bits),
                        Some(b) => assert_eq!(
                            b, &bits,
                            "{isa} (sums on {sum_isa}) {shape:?}: prefetch {d} changed bits"
                        ),
                    }
                }
            }
        })
    });
    set_sum_prefetch(None);
}
