//! Matrix products against f64 references on every ISA: odd sizes,
//! transposed and sliced operands and outputs, empty dims, every dtype;
//! PyTorch's shape rules and errors; bitwise identity across thread counts.
//!
//! Tolerances are error bounds, not guesses: a dot product of length k
//! computed in a precision with unit roundoff u, in any order, with or
//! without fused multiply-adds, is within `k * u * sum |a_i b_i|` of the
//! exact value (to first order); we allow `(k + 2) u` for the alpha/beta
//! step, and half an ulp of the output dtype for 16-bit outputs.

mod common;
use common::*;
use ft_core::{DType, Scalar, TensorImpl};
use ft_kernels::gemm::tune::{self, Bf16Path};

fn unit_roundoff(d: DType) -> f64 {
    match d {
        DType::F64 => 2f64.powi(-53),
        // f16/bf16 accumulate in f32.
        _ => 2f64.powi(-24),
    }
}

/// Checks `mm(a, b)`: its dtype is the operands' and its values are
/// within the error bound of the product.
fn check_mm(a: &TensorImpl, b: &TensorImpl, what: &str) {
    let c = ft_kernels::mm(a, b).unwrap();
    assert_eq!(c.dtype(), a.dtype(), "{what}: dtype");
    check_product(&c, a, b, None, 0.0, 1.0, what);
}

/// Row-major values of `t` (any layout) in f64.
fn vals(t: &TensorImpl) -> Vec<f64> {
    t.contiguous().unwrap().to_vec_f64().unwrap()
}

/// Checks `got = beta * c0 + alpha * a @ b` for 2-D operands, within the
/// error bound of the dtype.
#[allow(clippy::too_many_arguments)]
fn check_product(
    got: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    c0: Option<&[f64]>,
    beta: f64,
    alpha: f64,
    what: &str,
) {
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    assert_eq!(got.shape(), &[m, n], "{what}: shape");
    let (av, bv, gv) = (vals(a), vals(b), vals(got));
    let dt = got.dtype();
    let u = unit_roundoff(dt);
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut mag) = (0.0f64, 0.0f64);
            for p in 0..k {
                exact += av[i * k + p] * bv[p * n + j];
                mag += (av[i * k + p] * bv[p * n + j]).abs();
            }
            let mut want = alpha * exact;
            let mut bound = (k as f64 + 2.0) * u * alpha.abs() * mag;
            if let Some(c) = c0.filter(|_| beta != 0.0) {
                want += beta * c[i * n + j];
                bound += 2.0 * u * (beta * c[i * n + j]).abs();
            }
            let out_round = match dt {
                DType::F16 | DType::BF16 => half_ulp(want, dt),
                _ => 0.0,
            };
            let g = gv[i * n + j];
            assert!(
                (g - want).abs() <= bound + out_round + f64::MIN_POSITIVE,
                "{what}: [{i}, {j}] got {g}, want {want} (bound {bound}, m={m} n={n} k={k})"
            );
        }
    }
}

/// Half an ulp of `v` in a 16-bit float dtype (plus the rounding of the
/// bound itself).
fn half_ulp(v: f64, dt: DType) -> f64 {
    let bits = if dt == DType::BF16 { 7 } else { 10 };
    let a = v.abs().max(if dt == DType::BF16 { 1e-38 } else { 6.1e-5 });
    2f64.powi(a.log2().floor() as i32 - bits) * 0.5001
}

fn rand(shape: &[usize], dt: DType, seed: u64, lay: Lay) -> TensorImpl {
    let n = shape.iter().product();
    make(shape, &values(n, dt, seed), dt, lay)
}

/// Odd sizes from the issue, in combinations whose product stays small
/// enough for debug builds; release runs (CI's ISA loop) add larger ones.
fn shapes() -> Vec<(usize, usize, usize)> {
    let mut s = vec![
        (1, 1, 1),
        (7, 31, 65),
        (65, 7, 31),
        (31, 65, 7),
        (127, 1, 65),
        (1, 127, 513),
        (513, 7, 1),
        (7, 513, 31),
        (33, 33, 300),
    ];
    if !cfg!(debug_assertions) {
        s.extend([
            (127, 127, 513),
            (513, 65, 127),
            (513, 513, 65),
            (200, 300, 700),
        ]);
    }
    s
}

#[test]
fn mm_matches_reference_on_odd_sizes_layouts_and_isas() {
    for_each_isa(|isa| {
        for (m, n, k) in shapes() {
            for dt in [DType::F32, DType::F64] {
                for (la, lb) in [
                    (Lay::Contiguous, Lay::Contiguous),
                    (Lay::Transposed, Lay::Contiguous),
                    (Lay::Contiguous, Lay::Transposed),
                    (Lay::Sliced, Lay::Transposed),
                    (Lay::Transposed, Lay::Sliced),
                ] {
                    let a = rand(&[m, k], dt, 1, la);
                    let b = rand(&[k, n], dt, 2, lb);
                    check_mm(&a, &b, &format!("{isa} {dt:?} {m}x{n}x{k} {la:?}/{lb:?}"));
                }
            }
        }
    });
}

/// Outputs of every layout, in f32, bf16 and f16 (whose f32 accumulators
/// are rounded into the output row block by row block: rows apart by
/// more than a row's length when sliced, several row blocks, depth
/// blocks and threads at the largest size).
#[test]
fn mm_out_writes_transposed_and_strided_outputs() {
    for_each_isa(|isa| {
        let mut sizes = vec![(7, 31, 65), (65, 33, 17), (1, 9, 4), (9, 1, 4)];
        if !cfg!(debug_assertions) {
            sizes.push((160, 40, 1100));
        }
        for &(m, n, k) in &sizes {
            for dt in [DType::F32, DType::BF16, DType::F16] {
                let a = rand(&[m, k], dt, 3, Lay::Contiguous);
                let b = rand(&[k, n], dt, 4, Lay::Contiguous);
                for_each_path_of(dt, |path| {
                    let mut outs: Vec<(String, TensorImpl)> =
                        [Lay::Transposed, Lay::Sliced, Lay::Contiguous]
                            .map(|lay| {
                                let out = make(&[m, n], &vec![f64::NAN; m * n], dt, lay);
                                (format!("{lay:?}"), out)
                            })
                            .into();
                    // Contiguous rows further apart than a row is long.
                    let wide = TensorImpl::full(&[m, n + 3], f64::NAN, dt).unwrap();
                    outs.push(("padded rows".into(), wide.narrow(1, 1, n as isize).unwrap()));
                    for (lay, out) in outs {
                        ft_kernels::mm_out(&out, &a, &b).unwrap();
                        let what = format!("{isa} {path} {dt:?} out {lay} {m}x{n}x{k}");
                        check_product(&out, &a, &b, None, 0.0, 1.0, &what);
                    }
                })
            }
        }
    });
}

/// Runs `f` with each bf16 path this processor can run on the active ISA
/// chosen (widened, and where the processor has them AVX-512 BF16 dot
/// products and AMX tiles; the AMX tile program on software tiles
/// everywhere), then restores the default.
fn for_each_bf16_path(mut f: impl FnMut(&str)) {
    for path in tune::bf16_paths() {
        tune::set_bf16_path(path);
        f(&format!("bf16 {path:?}"));
    }
    tune::set_bf16_path(Bf16Path::Auto);
}

/// Runs `f` once per bf16 path for bf16 and once (path "") for any
/// other dtype: only bf16 products take more than one path.
fn for_each_path_of(dt: DType, mut f: impl FnMut(&str)) {
    if dt == DType::BF16 {
        for_each_bf16_path(f)
    } else {
        f("")
    }
}

#[test]
fn sixteen_bit_products_accumulate_in_f32() {
    for_each_isa(|isa| {
        // (3, 4100, 20): two column blocks (NC = 4096).
        let mut sizes = vec![
            (7, 31, 65),
            (33, 17, 300),
            (1, 1, 1),
            (40, 70, 1030),
            (3, 4100, 20),
        ];
        if !cfg!(debug_assertions) {
            // Several depth blocks, and enough work for threads.
            sizes.extend([(127, 65, 1031), (200, 300, 700)]);
        }
        // Every packing path of the bf16 pairs: A by rows (whole and
        // partial panels) or strided, B by rows or strided.
        let lays = [
            (Lay::Contiguous, Lay::Transposed),
            (Lay::Transposed, Lay::Contiguous),
            (Lay::Sliced, Lay::Sliced),
        ];
        for dt in [DType::BF16, DType::F16] {
            for_each_path_of(dt, |path| {
                for &(m, n, k) in &sizes {
                    for (la, lb) in lays {
                        let a = rand(&[m, k], dt, 5, la);
                        let b = rand(&[k, n], dt, 6, lb);
                        check_mm(
                            &a,
                            &b,
                            &format!("{isa} {path} {dt:?} {m}x{n}x{k} {la:?}/{lb:?}"),
                        );
                    }
                }
            })
        }
    });
}

/// bf16 rows of A packed as whole pairs (register transposes of u32) and
/// the rows that cannot be: a contiguous-row view starting on an odd
/// element (its pairs straddle 4-byte words), one on an even element with
/// an even row stride (whole pairs, plus an odd last column), and an odd
/// row stride.
#[test]
fn bf16_pairs_of_aligned_and_unaligned_rows() {
    for_each_isa(|isa| {
        for_each_bf16_path(|path| {
            for (m, k, n) in [(16, 63, 33), (9, 127, 40), (24, 9, 7)] {
                let big = rand(&[m, k + 1], DType::BF16, 21, Lay::Contiguous);
                let b = rand(&[k, n], DType::BF16, 22, Lay::Contiguous);
                let odd_start = big.narrow(1, 1, k as isize).unwrap();
                let even_start = big.narrow(1, 0, k as isize).unwrap();
                let odd_stride = rand(&[m, k], DType::BF16, 23, Lay::Contiguous);
                for (name, a) in [
                    ("odd start", odd_start),
                    ("even start", even_start),
                    ("odd row stride", odd_stride),
                ] {
                    check_mm(&a, &b, &format!("{isa} {path} {m}x{n}x{k} {name}"));
                }
            }
        })
    });
}

/// Widening happens while packing, exactly: a bf16 product on that path,
/// and every f16 product, is the f32 product of the widened operands
/// (itself checked against f64 above), rounded to the 16-bit type once,
/// bit for bit.
#[test]
fn widened_sixteen_bit_products_are_the_f32_products_rounded() {
    for_each_isa(|isa| {
        tune::set_bf16_path(Bf16Path::Widen);
        for dt in [DType::BF16, DType::F16] {
            for (m, n, k) in [(7, 31, 65), (33, 17, 300), (130, 70, 1030)] {
                for (la, lb) in [
                    (Lay::Contiguous, Lay::Contiguous),
                    (Lay::Transposed, Lay::Transposed),
                    (Lay::Sliced, Lay::Contiguous),
                ] {
                    let a = rand(&[m, k], dt, 41, la);
                    let b = rand(&[k, n], dt, 42, lb);
                    let got = ft_kernels::mm(&a, &b).unwrap();
                    let f32s = |t: &TensorImpl| ft_kernels::cast(t, DType::F32).unwrap();
                    let want = ft_kernels::cast(&ft_kernels::mm(&f32s(&a), &f32s(&b)).unwrap(), dt)
                        .unwrap();
                    let (g, w) = (vals(&got), vals(&want));
                    let differ = g
                        .iter()
                        .zip(&w)
                        .filter(|(x, y)| x.to_bits() != y.to_bits())
                        .count();
                    assert_eq!(
                        differ, 0,
                        "{isa} {dt:?} {m}x{n}x{k} {la:?}/{lb:?}: {differ} differ"
                    );
                }
            }
        }
        tune::set_bf16_path(Bf16Path::Auto);
    });
}

#[test]
fn integer_products_are_exact() {
    for dt in [DType::I64, DType::I32, DType::U8] {
        let a = rand(&[5, 7], dt, 7, Lay::Transposed);
        let b = rand(&[7, 3], dt, 8, Lay::Contiguous);
        let c = ft_kernels::mm(&a, &b).unwrap();
        assert_eq!(c.dtype(), dt);
        let (av, bv, cv) = (vals(&a), vals(&b), vals(&c));
        for i in 0..5 {
            for j in 0..3 {
                let exact: f64 = (0..7).map(|p| av[i * 7 + p] * bv[p * 3 + j]).sum();
                let want = stored(exact, dt);
                assert_eq!(cv[i * 3 + j], want, "{dt:?} [{i}, {j}]");
            }
        }
    }
}

#[test]
fn empty_dims_give_empty_or_zero_products() {
    for_each_isa(|_| {
        let c = ft_kernels::mm(
            &TensorImpl::zeros(&[0, 3], DType::F32).unwrap(),
            &TensorImpl::ones(&[3, 2], DType::F32).unwrap(),
        )
        .unwrap();
        assert_eq!(c.shape(), &[0, 2]);
        let c = ft_kernels::mm(
            &TensorImpl::ones(&[2, 0], DType::F32).unwrap(),
            &TensorImpl::ones(&[0, 4], DType::F32).unwrap(),
        )
        .unwrap();
        assert_eq!(c.to_vec::<f32>().unwrap(), vec![0.0; 8]);
        // k = 0 with beta: beta * input.
        let input = TensorImpl::full(&[2, 4], 3.0, DType::F64).unwrap();
        let c = ft_kernels::addmm(
            &input,
            &TensorImpl::ones(&[2, 0], DType::F64).unwrap(),
            &TensorImpl::ones(&[0, 4], DType::F64).unwrap(),
            Scalar::Float(0.5),
            Scalar::Int(1),
        )
        .unwrap();
        assert_eq!(c.to_vec::<f64>().unwrap(), vec![1.5; 8]);
        let c = ft_kernels::bmm(
            &TensorImpl::ones(&[0, 2, 3], DType::F32).unwrap(),
            &TensorImpl::ones(&[0, 3, 4], DType::F32).unwrap(),
        )
        .unwrap();
        assert_eq!(c.shape(), &[0, 2, 4]);
        // Empty depth in a batch: each product is zeros (the f32/f64 outputs
        // are not zeroed before the product; the product must write them).
        let c = ft_kernels::bmm(
            &TensorImpl::ones(&[3, 2, 0], DType::F32).unwrap(),
            &TensorImpl::ones(&[3, 0, 5], DType::F32).unwrap(),
        )
        .unwrap();
        assert_eq!(c.to_vec::<f32>().unwrap(), vec![0.0; 30]);
        let c = ft_kernels::addmm(
            &TensorImpl::full(&[4], 2.0, DType::F64).unwrap(),
            &TensorImpl::ones(&[3, 0], DType::F64).unwrap(),
            &TensorImpl::ones(&[0, 4], DType::F64).unwrap(),
            Scalar::Int(1),
            Scalar::Int(1),
        )
        .unwrap();
        assert_eq!(c.to_vec::<f64>().unwrap(), vec![2.0; 12]);
        // The 16-bit outputs are not zeroed first either: empty depth,
        // alone, batched, and with beta (memcheck in CI runs this test,
        // where reading an unwritten element is an error).
        for dt in [DType::BF16, DType::F16] {
            let c = ft_kernels::mm(
                &TensorImpl::ones(&[2, 0], dt).unwrap(),
                &TensorImpl::ones(&[0, 4], dt).unwrap(),
            )
            .unwrap();
            assert_eq!(c.to_vec_f64().unwrap(), vec![0.0; 8], "{dt:?}");
            let c = ft_kernels::bmm(
                &TensorImpl::ones(&[3, 2, 0], dt).unwrap(),
                &TensorImpl::ones(&[3, 0, 5], dt).unwrap(),
            )
            .unwrap();
            assert_eq!(c.to_vec_f64().unwrap(), vec![0.0; 30], "{dt:?}");
            let c = ft_kernels::addmm(
                &TensorImpl::full(&[4], 2.0, dt).unwrap(),
                &TensorImpl::ones(&[3, 0], dt).unwrap(),
                &TensorImpl::ones(&[0, 4], dt).unwrap(),
                Scalar::Float(0.5),
                Scalar::Int(1),
            )
            .unwrap();
            assert_eq!(c.to_vec_f64().unwrap(), vec![1.0; 12], "{dt:?}");
            let c = ft_kernels::mm(
                &TensorImpl::ones(&[3, 5], dt).unwrap(),
                &TensorImpl::ones(&[5, 2], dt).unwrap(),
            )
            .unwrap();
            assert_eq!(c.to_vec_f64().unwrap(), vec![5.0; 6], "{dt:?}");
        }
    });
}

#[test]
fn addmm_scales_and_broadcasts_and_ignores_input_when_beta_is_zero() {
    for_each_isa(|isa| {
        for dt in [DType::F32, DType::BF16, DType::F16] {
            for_each_path_of(dt, |path| addmm_cases(&format!("{isa} {path} {dt:?}"), dt));
        }
    });
}

/// The cases of the test above in one dtype.
fn addmm_cases(isa: &str, dt: DType) {
    let (m, n, k) = (37, 45, 129);
    let a = rand(&[m, k], dt, 9, Lay::Sliced);
    let b = rand(&[k, n], dt, 10, Lay::Contiguous);
    let bias = rand(&[n], dt, 11, Lay::Contiguous);
    let c = ft_kernels::addmm(&bias, &a, &b, Scalar::Float(0.5), Scalar::Float(-2.0)).unwrap();
    let bv = vals(&bias);
    let c0: Vec<f64> = (0..m * n).map(|i| bv[i % n]).collect();
    check_product(&c, &a, &b, Some(&c0), 0.5, -2.0, &format!("{isa} addmm"));
    // beta = 0: NaN in the input must not reach the result.
    let nan = TensorImpl::full(&[m, n], f64::NAN, dt).unwrap();
    let c = ft_kernels::addmm(&nan, &a, &b, Scalar::Int(0), Scalar::Int(1)).unwrap();
    check_product(&c, &a, &b, None, 0.0, 1.0, &format!("{isa} addmm beta=0"));
    // In place: out is the input.
    let acc = rand(&[m, n], dt, 12, Lay::Contiguous);
    let before = vals(&acc);
    ft_kernels::addmm_out(&acc, &acc, &a, &b, Scalar::Int(1), Scalar::Int(1)).unwrap();
    check_product(
        &acc,
        &a,
        &b,
        Some(&before),
        1.0,
        1.0,
        &format!("{isa} addmm_"),
    );
}

#[test]
fn bmm_and_matmul_follow_torch_shape_rules() {
    for_each_isa(|isa| {
        let a = rand(&[3, 5, 7], DType::F32, 13, Lay::Transposed);
        let b = rand(&[3, 7, 4], DType::F32, 14, Lay::Contiguous);
        let c = ft_kernels::bmm(&a, &b).unwrap();
        for i in 0..3 {
            let s = |t: &TensorImpl| t.select(0, i).unwrap();
            check_product(
                &s(&c),
                &s(&a),
                &s(&b),
                None,
                0.0,
                1.0,
                &format!("{isa} bmm {i}"),
            );
        }
        let f = |x: &[usize], y: &[usize]| {
            let a = rand(x, DType::F64, 15, Lay::Contiguous);
            let b = rand(y, DType::F64, 16, Lay::Contiguous);
            ft_kernels::matmul(&a, &b).map(|t| t.shape().to_vec())
        };
        assert_eq!(f(&[3], &[3]).unwrap(), Vec::<usize>::new());
        assert_eq!(f(&[2, 3], &[3]).unwrap(), vec![2]);
        assert_eq!(f(&[3], &[3, 4]).unwrap(), vec![4]);
        assert_eq!(f(&[5, 2, 3], &[3, 4]).unwrap(), vec![5, 2, 4]);
        assert_eq!(f(&[5, 2, 3], &[3]).unwrap(), vec![5, 2]);
        assert_eq!(f(&[3], &[4, 3, 2]).unwrap(), vec![4, 2]);
        assert_eq!(f(&[2, 1, 2, 3], &[4, 3, 5]).unwrap(), vec![2, 4, 2, 5]);
        // Values of a broadcast batched product.
        let a = rand(&[2, 1, 4, 3], DType::F64, 17, Lay::Contiguous);
        let b = rand(&[3, 3, 5], DType::F64, 18, Lay::Transposed);
        let c = ft_kernels::matmul(&a, &b).unwrap();
        for i in 0..2 {
            for j in 0..3 {
                let ai = a.select(0, i).unwrap().select(0, 0).unwrap();
                let bj = b.select(0, j).unwrap();
                let cij = c.select(0, i).unwrap().select(0, j).unwrap();
                check_product(
                    &cij,
                    &ai,
                    &bj,
                    None,
                    0.0,
                    1.0,
                    &format!("{isa} matmul [{i},{j}]"),
                );
            }
        }
        // dot and mv against the reference.
        let v = rand(&[7], DType::F64, 19, Lay::Sliced);
        let w = rand(&[7], DType::F64, 20, Lay::Contiguous);
        let d = ft_kernels::dot(&v, &w).unwrap();
        let want: f64 = vals(&v).iter().zip(vals(&w)).map(|(x, y)| x * y).sum();
        assert!((vals(&d)[0] - want).abs() < 1e-12);
        let m = rand(&[4, 7], DType::F64, 21, Lay::Transposed);
        let r = ft_kernels::mv(&m, &v).unwrap();
        check_product(
            &r.unsqueeze(1).unwrap(),
            &m,
            &v.unsqueeze(1).unwrap(),
            None,
            0.0,
            1.0,
            "mv",
        );
    });
}

#[test]
fn linear_is_x_times_w_transposed_plus_bias() {
    for_each_isa(|isa| {
        let x = rand(&[6, 5, 9], DType::F32, 22, Lay::Contiguous);
        let w = rand(&[4, 9], DType::F32, 23, Lay::Contiguous);
        let bias = rand(&[4], DType::F32, 24, Lay::Contiguous);
        let y = ft_kernels::linear(&x, &w, Some(&bias)).unwrap();
        assert_eq!(y.shape(), &[6, 5, 4]);
        let bv = vals(&bias);
        let x2 = x.reshape(&[30, 9]).unwrap();
        let c0: Vec<f64> = (0..30 * 4).map(|i| bv[i % 4]).collect();
        check_product(
            &y.reshape(&[30, 4]).unwrap(),
            &x2,
            &w.t().unwrap(),
            Some(&c0),
            1.0,
            1.0,
            &format!("{isa} linear"),
        );
        let y2 = ft_kernels::linear(&x2, &w, None).unwrap();
        check_product(
            &y2,
            &x2,
            &w.t().unwrap(),
            None,
            0.0,
            1.0,
            &format!("{isa} linear no bias"),
        );
    });
}

#[test]
fn products_are_bitwise_identical_across_thread_counts() {
    // bf16 too: pairs packed by threads, f32 accumulators rounded after.
    for dt in [DType::F32, DType::BF16] {
        let a = rand(&[300, 700], dt, 25, Lay::Contiguous);
        let b = rand(&[700, 200], dt, 26, Lay::Transposed);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| ft_kernels::mm(&a, &b).unwrap().to_vec_f64().unwrap())
        };
        // Under the ISA lock: another test switching the ISA between the
        // runs would change the results legitimately.
        for_each_isa(|isa| {
            for_each_bf16_path(|path| {
                let one = run(1);
                for t in [2, 3] {
                    let other = run(t);
                    assert!(
                        one.iter()
                            .zip(&other)
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{isa} {path} {dt:?}: {t} threads differ from 1"
                    );
                }
            })
        });
    }
}

#[test]
fn errors_are_pytorchs() {
    let f32s = |s: &[usize]| TensorImpl::ones(s, DType::F32).unwrap();
    let err = |r: ft_core::Result<TensorImpl>| r.unwrap_err().to_string();
    assert!(
        err(ft_kernels::mm(&f32s(&[2, 3]), &f32s(&[4, 5])))
            .contains("mm: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")
    );
    assert!(
        err(ft_kernels::mm(&f32s(&[3]), &f32s(&[3, 2])))
            .contains("mm: self must be a matrix, got 1-D tensor")
    );
    assert!(
        err(ft_kernels::mm(&f32s(&[2, 3]), &f32s(&[3])))
            .contains("mm: mat2 must be a matrix, got 1-D tensor")
    );
    let d = TensorImpl::ones(&[3, 2], DType::F64).unwrap();
    assert!(
        err(ft_kernels::mm(&f32s(&[2, 3]), &d))
            .contains("expected m1 and m2 to have the same dtype, but got: float != double")
    );
    let b = TensorImpl::ones(&[3, 2], DType::Bool).unwrap();
    assert!(
        err(ft_kernels::mm(
            &TensorImpl::ones(&[2, 3], DType::Bool).unwrap(),
            &b
        ))
        .contains("\"addmm_impl_cpu_\" not implemented for 'Bool'")
    );
    assert!(
        err(ft_kernels::bmm(&f32s(&[2, 2, 3]), &f32s(&[3, 3, 4]))).contains(
            "Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [3, 3]."
        )
    );
    assert!(
        err(ft_kernels::bmm(&f32s(&[2, 3]), &f32s(&[2, 3, 4])))
            .contains("batch1 must be a 3D tensor")
    );
    assert!(
        err(ft_kernels::matmul(&f32s(&[]), &f32s(&[4])))
            .contains("both arguments to matmul need to be at least 1D, but they are 0D and 1D")
    );
    assert!(err(ft_kernels::matmul(&f32s(&[3]), &f32s(&[4]))).contains(
        "inconsistent tensor size, expected tensor [3] and src [4] to have the same number of elements, but got 3 and 4 elements respectively"
    ));
    assert!(
        err(ft_kernels::matmul(&f32s(&[2, 3]), &f32s(&[4])))
            .contains("size mismatch, got input (2), mat (2x3), vec (4)")
    );
    assert!(err(ft_kernels::matmul(&f32s(&[5, 2, 3]), &f32s(&[4, 3, 4])))
        .contains("The size of tensor a (5) must match the size of tensor b (4) at non-singleton dimension 0"));
    assert!(err(ft_kernels::addmm(&f32s(&[3]), &f32s(&[2, 3]), &f32s(&[3, 4]), Scalar::Int(1), Scalar::Int(1)))
        .contains("The expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 1"));
    assert!(
        err(ft_kernels::linear(&f32s(&[2, 3]), &f32s(&[2, 4, 3]), None))
            .contains("t() expects a tensor with <= 2 dimensions, but self is 3D")
    );
    let out = TensorImpl::empty(&[2, 2], DType::F64).unwrap();
    assert!(
        ft_kernels::mm_out(&out, &f32s(&[2, 3]), &f32s(&[3, 2]))
            .unwrap_err()
            .to_string()
            .contains("Expected out tensor to have dtype float, but got double instead")
    );
}
