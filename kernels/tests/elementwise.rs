//! Every binary and unary op against a reference computed here (f64 for
//! floats, i128 for integers), on every ISA, on contiguous, transposed,
//! sliced, broadcast and empty inputs, for every dtype the op accepts.

mod common;
use common::*;
use ft_core::{DType, TensorImpl};
use ft_kernels::ops::binary::binary_types;
use ft_kernels::{BinaryOp, UnaryOp, binary, unary};

/// Wraps an integer to `dtype`'s width, as C++ casts do.
fn wrap_int(v: i128, dtype: DType) -> i128 {
    match dtype {
        DType::U8 => (v as u8) as i128,
        DType::I32 => (v as i32) as i128,
        DType::I64 => (v as i64) as i128,
        DType::Bool => (v != 0) as i128,
        _ => unreachable!(),
    }
}

fn wrap(v: i128, dtype: DType) -> f64 {
    wrap_int(v, dtype) as f64
}

fn ipow(a: i128, b: i128, dtype: DType) -> f64 {
    if b < 0 {
        return match a {
            1 => 1.0,
            -1 => {
                if b % 2 == 0 {
                    1.0
                } else {
                    wrap(-1, dtype)
                }
            }
            _ => 0.0,
        };
    }
    let mut r: i128 = 1;
    for _ in 0..b {
        r = wrap_int(r.wrapping_mul(a), dtype);
    }
    wrap(r, dtype)
}

/// The reference of `op(a, b)` computed in `compute`, as f64.
fn reference(op: BinaryOp, a: f64, b: f64, compute: DType) -> f64 {
    use BinaryOp::*;
    let bool_ = |v: bool| v as u8 as f64;
    match op {
        Eq => return bool_(a == b),
        Ne => return bool_(a != b),
        Lt => return bool_(a < b),
        Le => return bool_(a <= b),
        Gt => return bool_(a > b),
        Ge => return bool_(a >= b),
        LogicalAnd => return bool_(a != 0.0 && b != 0.0),
        LogicalOr => return bool_(a != 0.0 || b != 0.0),
        LogicalXor => return bool_((a != 0.0) != (b != 0.0)),
        _ => {}
    }
    if compute.is_floating_point() {
        let r = match op {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            Remainder => {
                let m = a % b;
                if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
                    m + b
                } else {
                    m
                }
            }
            Pow => a.powf(b),
            Maximum => {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.max(b)
                }
            }
            Minimum => {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.min(b)
                }
            }
            _ => unreachable!(),
        };
        return stored(r, compute);
    }
    if compute == DType::Bool {
        return match op {
            Add | Maximum => bool_(a != 0.0 || b != 0.0),
            Mul | Minimum => bool_(a != 0.0 && b != 0.0),
            _ => unreachable!("{op:?} on bool"),
        };
    }
    let (x, y) = (a as i128, b as i128);
    match op {
        Add => wrap(x + y, compute),
        Sub => wrap(x - y, compute),
        Mul => wrap(x * y, compute),
        Remainder => {
            let m = x % y;
            wrap(
                if m != 0 && ((m < 0) != (y < 0)) {
                    m + y
                } else {
                    m
                },
                compute,
            )
        }
        Pow => ipow(x, y, compute),
        Maximum => wrap(x.max(y), compute),
        Minimum => wrap(x.min(y), compute),
        _ => unreachable!(),
    }
}

const PAIRS: [(DType, DType); 12] = [
    (DType::F32, DType::F32),
    (DType::F64, DType::F64),
    (DType::I64, DType::I64),
    (DType::I32, DType::I32),
    (DType::U8, DType::U8),
    (DType::Bool, DType::Bool),
    (DType::F16, DType::F16),
    (DType::BF16, DType::BF16),
    (DType::F32, DType::I64),
    (DType::I32, DType::F64),
    (DType::U8, DType::I32),
    (DType::Bool, DType::F32),
];

const LAY_PAIRS: [(Lay, Lay); 7] = [
    (Lay::Contiguous, Lay::Contiguous),
    (Lay::Transposed, Lay::Contiguous),
    (Lay::Contiguous, Lay::Transposed),
    (Lay::Sliced, Lay::Contiguous),
    (Lay::Broadcast, Lay::Contiguous),
    (Lay::Contiguous, Lay::Broadcast),
    (Lay::Sliced, Lay::Transposed),
];

fn check_binary(
    op: BinaryOp,
    da: DType,
    db: DType,
    shape: &[usize],
    la: Lay,
    lb: Lay,
    isa: ft_kernels::Isa,
) {
    let n: usize = shape.iter().product();
    let va = values(n, da, 1);
    let mut vb = values(n, db, 2);
    let ty = match binary_types(
        op,
        ft_core::Operand::Tensor(da),
        ft_core::Operand::Tensor(db),
    ) {
        Ok(t) => t,
        Err(_) => {
            // The op refuses the dtypes: the tensor call must refuse too.
            let a = make(shape, &va, da, la);
            let b = make(shape, &vb, db, lb);
            assert!(binary(op, &a, &b).is_err(), "{op:?} {da} {db}");
            return;
        }
    };
    if op == BinaryOp::Remainder && !ty.compute.is_floating_point() {
        for v in vb.iter_mut() {
            if *v == 0.0 {
                *v = 3.0;
            }
        }
    }
    let a = make(shape, &va, da, la);
    let b = make(shape, &vb, db, lb);
    let ea = effective(shape, &va, la);
    let eb = effective(shape, &vb, lb);
    let out = binary(op, &a, &b).unwrap_or_else(|e| panic!("{op:?} {da} {db}: {e}"));
    assert_eq!(out.shape(), shape);
    assert_eq!(out.dtype(), ty.result, "{op:?} {da} {db}");
    let got = out.to_vec_f64().unwrap();
    for i in 0..n {
        let (x, y) = (stored(ea[i], da), stored(eb[i], db));
        let want = stored(
            reference(op, stored(x, ty.compute), stored(y, ty.compute), ty.compute),
            ty.result,
        );
        let tol = if op == BinaryOp::Pow && ty.compute.is_floating_point() {
            2.0
        } else {
            0.0
        };
        let e = if ty.result.is_floating_point() {
            ulps(got[i], want, ty.result)
        } else if got[i] == want {
            0.0
        } else {
            f64::INFINITY
        };
        assert!(
            e <= tol,
            "{op:?}({x}, {y}) [{da}, {db}, {la:?}/{lb:?}, {shape:?}, {isa}] = {}, want {want}",
            got[i]
        );
    }
}

#[test]
fn binary_ops_match_reference_on_every_isa_dtype_and_layout() {
    for_each_isa(|isa| {
        for op in BinaryOp::ALL {
            for (da, db) in PAIRS {
                for (la, lb) in LAY_PAIRS {
                    for shape in [&[3usize, 5][..], &[0, 4], &[1, 17], &[2, 3, 4]] {
                        check_binary(op, da, db, shape, la, lb, isa);
                    }
                }
            }
        }
    });
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "release only (20 s unoptimised): .ci/run runs it on every ISA path in release"
)]
fn binary_f32_large_and_odd_shapes_run_in_parallel_correctly() {
    // Above PAR_GRAIN, with odd sizes, so chunks split rows mid-way.
    for_each_isa(|isa| {
        for op in [
            BinaryOp::Add,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Maximum,
            BinaryOp::Lt,
        ] {
            for (la, lb) in LAY_PAIRS {
                check_binary(op, DType::F32, DType::F32, &[257, 131], la, lb, isa);
            }
        }
    });
}

#[test]
fn broadcasting_across_ranks_matches_pytorch() {
    for_each_isa(|_| {
        let a = TensorImpl::from_fn(&[4, 1, 5], DType::F32, |i| i as f64).unwrap();
        let b = TensorImpl::from_fn(&[3, 1], DType::F32, |i| 100.0 * i as f64).unwrap();
        let c = binary(BinaryOp::Add, &a, &b).unwrap();
        assert_eq!(c.shape(), &[4, 3, 5]);
        let got = c.to_vec::<f32>().unwrap();
        for i in 0..4 {
            for j in 0..3 {
                for k in 0..5 {
                    assert_eq!(
                        got[(i * 3 + j) * 5 + k],
                        (i * 5 + k) as f32 + 100.0 * j as f32
                    );
                }
            }
        }
        let e = binary(
            BinaryOp::Add,
            &a,
            &TensorImpl::zeros(&[2, 4], DType::F32).unwrap(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("must match the size of tensor b"),
            "{e}"
        );
    });
}

#[test]
fn transposed_add_keeps_pytorchs_output_layout() {
    let a = TensorImpl::from_fn(&[64, 48], DType::F32, |i| i as f64).unwrap();
    let b = TensorImpl::from_fn(&[48, 64], DType::F32, |i| (i * 7 % 13) as f64).unwrap();
    let c = binary(BinaryOp::Add, &a.t().unwrap(), &b).unwrap();
    // PyTorch: (a.t() + b).stride() == (1, 48)
    assert_eq!(c.strides(), &[1, 48]);
    let at = a
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let bv = b.to_vec::<f32>().unwrap();
    let got = c.to_vec::<f32>().unwrap();
    for i in 0..at.len() {
        assert_eq!(got[i], at[i] + bv[i]);
    }
}

/// `a.t() + b` where the transposed operand goes through the tiled walk:
/// every ISA's block transpose (4-byte types) and the scalar gather (the
/// others), on shapes that leave partial blocks and partial tiles on every
/// side, several tiles in both directions, a 3-D permuted view and a
/// transposed slice whose rows are not `n` apart. The reference adds the
/// stored values in f64 and rounds once to the output dtype (exact for
/// these dtypes: the sum of two stored values fits f64).
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "release only (10 s unoptimised): .ci/run runs it on every ISA path in release"
)]
fn transposed_operands_through_the_tiled_walk_match_reference() {
    // [256, 2100]: several tiles of the large plan along the output's rows
    // (2048 f32 or f64, 512 u8). Above `PAR_GRAIN` elements a call is cut
    // into parts across its 256 columns (4 parts a thread, 8 at 2 threads:
    // 32 columns each, one whole tile of the large f32 plan); a part with
    // fewer than 8 columns is not tiled at all, so the shapes above that
    // have more than 32,768 elements take the tiled walk only on one
    // thread.
    let shapes: [&[usize]; 8] = [
        &[9, 8],
        &[8, 9],
        &[1037, 45],
        &[45, 1037],
        &[520, 17],
        &[2, 600, 23],
        &[3, 33, 70],
        &[256, 2100],
    ];
    // Both plans of the walk (the small prefetched tile and the large one)
    // on every ISA; which one a call takes changes no result, so the other
    // tests running meanwhile are not disturbed.
    for_each_isa(|isa| {
        for prefetch in [true, false] {
            ft_kernels::iter::set_gather_prefetch(Some(prefetch));
            for dtype in [DType::F32, DType::I32, DType::F64, DType::F16, DType::U8] {
                for (k, shape) in shapes.iter().enumerate() {
                    let n: usize = shape.iter().product();
                    let av: Vec<f64> = values(n, dtype, 11 + k as u64)
                        .iter()
                        .map(|&v| stored(v, dtype))
                        .collect();
                    let bv: Vec<f64> = values(n, dtype, 97 + k as u64)
                        .iter()
                        .map(|&v| stored(v, dtype))
                        .collect();
                    let a = make(shape, &av, dtype, Lay::Transposed);
                    let b = make(shape, &bv, dtype, Lay::Contiguous);
                    // Both orders: the gathered operand first and second.
                    for (x, y, xv, yv) in [(&a, &b, &av, &bv), (&b, &a, &bv, &av)] {
                        let got = binary(BinaryOp::Add, x, y).unwrap();
                        let got = got.contiguous().unwrap().to_vec_f64().unwrap();
                        for i in 0..n {
                            let want = match dtype {
                                DType::U8 => wrap((xv[i] + yv[i]) as i128, dtype),
                                _ => stored(xv[i] + yv[i], dtype),
                            };
                            assert_eq!(
                                got[i].to_bits(),
                                want.to_bits(),
                                "{isa:?} prefetch {prefetch} {dtype:?} {shape:?} element {i}: {} + {}",
                                xv[i],
                                yv[i]
                            );
                        }
                    }
                }
                // A transposed slice: columns 3..1040 of a [45, 1100] tensor,
                // seen as [1037, 45] with rows 1100 elements apart.
                let big = values(45 * 1100, dtype, 5)
                    .iter()
                    .map(|&v| stored(v, dtype))
                    .collect::<Vec<_>>();
                let base = TensorImpl::from_fn(&[45, 1100], dtype, |i| big[i]).unwrap();
                let a = base.as_strided(&[1037, 45], &[1, 1100], 3).unwrap();
                let bv: Vec<f64> = values(1037 * 45, dtype, 6)
                    .iter()
                    .map(|&v| stored(v, dtype))
                    .collect();
                let b = make(&[1037, 45], &bv, dtype, Lay::Contiguous);
                let got = binary(BinaryOp::Add, &a, &b).unwrap();
                let got = got.contiguous().unwrap().to_vec_f64().unwrap();
                for r in 0..1037 {
                    for c in 0..45 {
                        let x = big[c * 1100 + 3 + r];
                        let i = r * 45 + c;
                        let want = match dtype {
                            DType::U8 => wrap((x + bv[i]) as i128, dtype),
                            _ => stored(x + bv[i], dtype),
                        };
                        assert_eq!(
                            got[i].to_bits(),
                            want.to_bits(),
                            "{isa:?} prefetch {prefetch} {dtype:?} slice ({r}, {c})"
                        );
                    }
                }
            }
        }
    });
    ft_kernels::iter::set_gather_prefetch(None);
}

/// ulp bound of each unary op in f32 (math.rs table; exact ops 0; the
/// composite ones one rounding more).
fn unary_bound(op: UnaryOp) -> f64 {
    use UnaryOp::*;
    match op {
        Neg | Abs | Sign | Relu | Floor | Ceil | Round | Sqrt | Reciprocal => 0.0,
        Rsqrt | Log => 1.0,
        Exp | Expm1 | Log1p | Tanh | Erf => 1.5,
        Sin | Cos => 2.0,
        Sigmoid | Gelu => 2.5,
        Silu => 3.5,
        GeluTanh => 4.0,
    }
}

fn unary_reference(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Neg => -x,
        Abs => x.abs(),
        Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        Exp => x.exp(),
        Expm1 => x.exp_m1(),
        Log => x.ln(),
        Log1p => x.ln_1p(),
        Sqrt => x.sqrt(),
        Rsqrt => 1.0 / x.sqrt(),
        Reciprocal => 1.0 / x,
        Sin => x.sin(),
        Cos => x.cos(),
        Tanh => x.tanh(),
        Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        GeluTanh => {
            0.5 * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
        }
        Silu => x / (1.0 + (-x).exp()),
        Erf => libm::erf(x),
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => x.round_ties_even(),
    }
}

#[test]
fn unary_ops_match_reference_on_every_isa_dtype_and_layout() {
    for_each_isa(|isa| {
        for op in UnaryOp::ALL {
            for dt in ft_core::DType::ALL {
                for lay in LAYS {
                    for shape in [&[3usize, 5][..], &[0, 3], &[2, 1, 9], &[]] {
                        check_unary(op, dt, shape, lay, isa);
                    }
                }
            }
        }
    });
}

/// `op` of a `dt` tensor of `shape` laid out as `lay`, on `isa`, against
/// the f64 reference rounded to the result dtype.
fn check_unary(op: UnaryOp, dt: DType, shape: &[usize], lay: Lay, isa: ft_kernels::Isa) {
    let n: usize = shape.iter().product();
    let mut v = values(n, dt, 9);
    if matches!(op, UnaryOp::Gelu | UnaryOp::GeluTanh) && dt.is_floating_point() {
        // Keep to the bound's domain (x >= -1).
        v.iter_mut().for_each(|x| *x = x.abs() - 1.0);
    }
    let x = make(shape, &v, dt, lay);
    let ev = effective(shape, &v, lay);
    let r = match op.result_dtype(dt) {
        Ok(r) => r,
        Err(_) => {
            assert!(unary(op, &x).is_err());
            return;
        }
    };
    let out = unary(op, &x).unwrap();
    assert_eq!(out.dtype(), r);
    assert_eq!(out.shape(), shape);
    let got = out.to_vec_f64().unwrap();
    for i in 0..n {
        let xi = stored(ev[i], dt);
        let want = if !r.is_floating_point() {
            match op {
                UnaryOp::Neg => wrap(-(xi as i128), r),
                UnaryOp::Abs => wrap((xi as i128).abs(), r),
                UnaryOp::Sign => wrap((xi as i128).signum(), r),
                _ => stored(unary_reference(op, xi), r),
            }
        } else {
            stored(unary_reference(op, xi), r)
        };
        let bound = match r {
            DType::F32 => unary_bound(op),
            DType::F64 => 2.0,
            DType::F16 | DType::BF16 => 1.0,
            _ => 0.0,
        };
        let e = if r.is_floating_point() {
            ulps(got[i], want, r)
        } else if got[i] == want {
            0.0
        } else {
            f64::INFINITY
        };
        assert!(
            e <= bound,
            "{op:?}({xi}) [{dt}, {lay:?}, {isa}] = {}, want {want} ({e} ulp)",
            got[i]
        );
    }
}

/// f16 and bf16 rows longer than the engine's 256-element buffer, with
/// odd tails, in every layout: the slice conversions (F16C, AVX2 or
/// portable) on every piece of a row, the output buffer reused across
/// pieces.
#[test]
fn half_rows_longer_than_a_buffer_match_reference() {
    for_each_isa(|isa| {
        for dt in [DType::F16, DType::BF16] {
            for op in [BinaryOp::Add, BinaryOp::Mul, BinaryOp::Div] {
                for (la, lb) in LAY_PAIRS {
                    check_binary(op, dt, dt, &[3, 601], la, lb, isa);
                }
            }
            for op in [UnaryOp::Exp, UnaryOp::Tanh, UnaryOp::Neg] {
                for lay in LAYS {
                    check_unary(op, dt, &[3, 601], lay, isa);
                }
            }
        }
    });
}

#[test]
fn float_edges_follow_pytorch() {
    for_each_isa(|_| {
        let x = TensorImpl::from_slice(&[0.5f32, 1.5, 2.5, -0.5, -0.0, f32::NAN], &[6]).unwrap();
        let r = unary(UnaryOp::Round, &x).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(&r[..4], &[0.0, 2.0, 2.0, -0.0]);
        assert!(r[3].is_sign_negative() && r[5].is_nan());
        let s = unary(UnaryOp::Sign, &x).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(s[4].to_bits(), 0.0f32.to_bits(), "sign(-0.0) is +0.0");
        assert_eq!(s[5], 0.0, "sign(NaN) is 0");
        let r = unary(UnaryOp::Relu, &x).unwrap().to_vec::<f32>().unwrap();
        assert!(
            r[4].is_sign_negative() && r[5].is_nan(),
            "relu keeps -0.0 and NaN"
        );
        let m = binary(
            BinaryOp::Maximum,
            &x,
            &TensorImpl::zeros(&[6], DType::F32).unwrap(),
        )
        .unwrap();
        assert!(
            m.to_vec::<f32>().unwrap()[5].is_nan(),
            "maximum propagates NaN"
        );
    });
}

#[test]
fn scalar_forms_promote_as_wrapped_numbers() {
    use ft_core::Scalar;
    use ft_kernels::{binary_scalar, scalar_binary};
    let i32t = TensorImpl::from_slice(&[3i32, -2], &[2]).unwrap();
    let r = binary_scalar(BinaryOp::Add, &i32t, Scalar::Float(2.5)).unwrap();
    assert_eq!(r.dtype(), DType::F32);
    assert_eq!(r.to_vec::<f32>().unwrap(), vec![5.5, 0.5]);
    let u = TensorImpl::from_slice(&[3u8, 200], &[2]).unwrap();
    let r = binary_scalar(BinaryOp::Sub, &u, Scalar::Int(300)).unwrap();
    assert_eq!(
        r.to_vec::<u8>().unwrap(),
        vec![215, 156],
        "PyTorch: U - 300"
    );
    let r = scalar_binary(
        BinaryOp::Pow,
        Scalar::Int(2),
        &TensorImpl::from_slice(&[3i64, -1], &[2]).unwrap(),
    )
    .unwrap();
    assert_eq!(r.to_vec::<i64>().unwrap(), vec![8, 0]);
}

#[test]
fn in_place_and_out_forms_write_where_asked() {
    use ft_core::Scalar;
    for_each_isa(|_| {
        let a = TensorImpl::from_fn(&[4, 3], DType::F32, |i| i as f64).unwrap();
        let b = TensorImpl::full(&[3], 10.0, DType::F32).unwrap();
        let v0 = a.version();
        ft_kernels::add_(&a, &b, Scalar::Float(2.0)).unwrap();
        assert!(a.version() > v0);
        assert_eq!(a.to_vec::<f32>().unwrap()[..3], [20.0, 21.0, 22.0]);
        // In place through a transposed view of the same storage.
        let at = a.t().unwrap();
        ft_kernels::unary_(UnaryOp::Neg, &at).unwrap();
        assert_eq!(a.to_vec::<f32>().unwrap()[..3], [-20.0, -21.0, -22.0]);
        // Out of the wrong shape or a dtype the result cannot cast to.
        let out = TensorImpl::zeros(&[4, 3], DType::I64).unwrap();
        assert!(ft_kernels::binary_out(BinaryOp::Add, &a, &b, &out).is_err());
        let out = TensorImpl::zeros(&[3, 4], DType::F32).unwrap();
        assert!(ft_kernels::binary_out(BinaryOp::Add, &a, &b, &out).is_err());
        // Partial overlap is PyTorch's error; an expanded output too.
        let x = TensorImpl::zeros(&[8], DType::F32).unwrap();
        let (lo, hi) = (x.narrow(0, 0, 6).unwrap(), x.narrow(0, 2, 6).unwrap());
        assert!(
            ft_kernels::binary_out(BinaryOp::Add, &lo, &lo, &hi)
                .unwrap_err()
                .to_string()
                .contains("single memory location")
        );
        let e = TensorImpl::zeros(&[1], DType::F32)
            .unwrap()
            .expand(&[4])
            .unwrap();
        assert!(
            ft_kernels::unary_out(
                UnaryOp::Neg,
                &TensorImpl::zeros(&[4], DType::F32).unwrap(),
                &e
            )
            .is_err()
        );
        // Disjoint halves of one storage: fine.
        let y = TensorImpl::from_fn(&[8], DType::F32, |i| i as f64).unwrap();
        let (l, r) = (y.narrow(0, 0, 4).unwrap(), y.narrow(0, 4, 4).unwrap());
        ft_kernels::binary_out(BinaryOp::Add, &r, &r, &l).unwrap();
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![8., 10., 12., 14., 4., 5., 6., 7.]
        );
    });
}

#[test]
fn where_clamp_and_cast_follow_pytorch() {
    use ft_core::Scalar;
    let c = TensorImpl::from_slice(&[true, false, true], &[3]).unwrap();
    let a = TensorImpl::from_slice(&[1i64, 2, 3], &[3]).unwrap();
    let b = TensorImpl::from_slice(&[0.5f32], &[1]).unwrap();
    let w = ft_kernels::where_(&c, &a, &b).unwrap();
    assert_eq!(w.dtype(), DType::F32);
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![1.0, 0.5, 3.0]);
    assert!(ft_kernels::where_(&a, &a, &a).is_err());
    let x = TensorImpl::from_slice(&[f32::NAN, -3.0, 0.2, 9.0], &[4]).unwrap();
    let y = ft_kernels::clamp(&x, Some(Scalar::Float(0.0)), Some(Scalar::Float(1.0))).unwrap();
    let yv = y.to_vec::<f32>().unwrap();
    assert!(yv[0].is_nan());
    assert_eq!(&yv[1..], &[0.0, 0.2, 1.0]);
    let y = ft_kernels::clamp(&x, Some(Scalar::Int(1)), Some(Scalar::Int(0))).unwrap();
    assert_eq!(
        &y.to_vec::<f32>().unwrap()[1..],
        &[0.0, 0.0, 0.0],
        "min > max gives max"
    );
    let i = TensorImpl::from_slice(&[1i64, 2, 3], &[3]).unwrap();
    assert_eq!(
        ft_kernels::clamp(&i, Some(Scalar::Float(1.5)), None)
            .unwrap()
            .dtype(),
        DType::F32
    );
    assert!(ft_kernels::clamp(&i, None, None).is_err());
    // Casts: float to int truncates, to bool is != 0, NaN to bool is true.
    let f = TensorImpl::from_slice(&[-2.7f32, 0.0, f32::NAN, 300.0], &[4]).unwrap();
    assert_eq!(
        ft_kernels::cast(&f, DType::Bool)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        vec![true, false, true, true]
    );
    assert_eq!(
        ft_kernels::cast(&f.narrow(0, 0, 2).unwrap(), DType::I32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![-2, 0]
    );
    for from in DType::ALL {
        for to in DType::ALL {
            let v = values(7, from, 5);
            let t = make(&[7], &v, from, Lay::Sliced);
            let c = ft_kernels::cast(&t, to).unwrap();
            let want: Vec<f64> = v.iter().map(|&x| stored(stored(x, from), to)).collect();
            assert_eq!(c.to_vec_f64().unwrap(), want, "{from} -> {to}");
        }
    }
}

/// `dst.copy_(src)` broadcasts `src` to `dst`'s shape and converts the
/// dtype, as PyTorch's `copy_` (an f64 reference for the values).
#[test]
fn copy_broadcasts_and_converts() {
    let dst = TensorImpl::zeros(&[3, 2], DType::F32).unwrap();
    let src = TensorImpl::from_slice(&[1.5f64, -2.25], &[2]).unwrap();
    ft_kernels::copy_(&dst, &src).unwrap();
    assert_eq!(
        dst.to_vec_f64().unwrap(),
        vec![1.5, -2.25, 1.5, -2.25, 1.5, -2.25]
    );
    let ints = TensorImpl::zeros(&[2, 2], DType::I64).unwrap();
    let col = TensorImpl::from_slice(&[7.9f32, -3.2], &[2, 1]).unwrap();
    ft_kernels::copy_(&ints, &col).unwrap();
    assert_eq!(ints.to_vec::<i64>().unwrap(), vec![7, 7, -3, -3]);
    let bad = TensorImpl::zeros(&[3], DType::F32).unwrap();
    let e = ft_kernels::copy_(&dst, &bad).unwrap_err();
    assert_eq!(e.kind(), ft_core::ErrorKind::Shape);
}

/// The dense path with a 0-dim operand (what `a * 2.0` builds): every ISA,
/// sizes around the vector width and the parallel grain, against an f64
/// reference; and a 0-dim view of one element of the output itself, which
/// must not take the dense path (it would read a value it already wrote).
#[test]
fn scalar_operands_on_the_dense_path_match_reference_and_respect_overlap() {
    use ft_core::Scalar;
    use ft_kernels::binary_scalar;
    for_each_isa(|isa| {
        for n in [1usize, 7, 16, 33, 1000, 40_000] {
            let v = values(n, DType::F32, 11);
            let a = TensorImpl::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), &[n])
                .unwrap();
            let r = binary_scalar(BinaryOp::Mul, &a, Scalar::Float(1.0001)).unwrap();
            let got = r.to_vec::<f32>().unwrap();
            for (i, (&g, &x)) in got.iter().zip(&v).enumerate() {
                let want = ((x as f32) as f64 * (1.0001f32 as f64)) as f32;
                assert_eq!(g, want, "{isa:?} n={n} i={i}");
            }
            let s = TensorImpl::full(&[], 3.0, DType::F32).unwrap();
            let r = binary(BinaryOp::Sub, &s, &a).unwrap();
            assert_eq!(r.shape(), &[n]);
            assert_eq!(
                r.to_vec::<f32>().unwrap()[n - 1],
                3.0 - v[n - 1] as f32,
                "{isa:?}"
            );
        }
        // out = out + out[0]: the 0-dim view overlaps out's first element
        // partially; as in PyTorch, refused, and nothing is written.
        let o = TensorImpl::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
        let first = o.select(0, 0).unwrap();
        let e = ft_kernels::add_out(&o, &first, Scalar::Int(1), &o).unwrap_err();
        assert!(
            e.message()
                .starts_with("unsupported operation: some elements of the input tensor")
        );
        assert_eq!(o.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0], "{isa:?}");
    });
}

/// `where` on each layout its kernel specialises (three rows; a 0-dim
/// value on either side) and `threshold_backward` (NaN keeps the
/// gradient), on every ISA against a per-element reference.
#[test]
fn where_and_threshold_backward_match_reference_on_every_layout() {
    for_each_isa(|isa| {
        for n in [1usize, 15, 1000, 40_000] {
            let cv: Vec<bool> = values(n, DType::F32, 3).iter().map(|&x| x > 0.0).collect();
            let av: Vec<f32> = values(n, DType::F32, 4).iter().map(|&x| x as f32).collect();
            let bv: Vec<f32> = values(n, DType::F32, 5).iter().map(|&x| x as f32).collect();
            let c = TensorImpl::from_slice(&cv, &[n]).unwrap();
            let a = TensorImpl::from_slice(&av, &[n]).unwrap();
            let b = TensorImpl::from_slice(&bv, &[n]).unwrap();
            let s = TensorImpl::full(&[], 7.0, DType::F32).unwrap();
            let rows = ft_kernels::where_(&c, &a, &b)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            let left = ft_kernels::where_(&c, &s, &b)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            let right = ft_kernels::where_(&c, &a, &s)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            for i in 0..n {
                let (want, want_l, want_r) = if cv[i] {
                    (av[i], 7.0, av[i])
                } else {
                    (bv[i], bv[i], 7.0)
                };
                assert_eq!(
                    (rows[i], left[i], right[i]),
                    (want, want_l, want_r),
                    "{isa:?} n={n} i={i}"
                );
            }
            let mut yv = bv.clone();
            yv[0] = f32::NAN;
            let y = TensorImpl::from_slice(&yv, &[n]).unwrap();
            let t = ft_kernels::threshold_backward(&a, &y, 0.0)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            for i in 0..n {
                let want = if yv[i] <= 0.0 { 0.0 } else { av[i] };
                assert_eq!(t[i], want, "{isa:?} n={n} i={i}");
            }
        }
    });
}

/// The ops whose f32 kernel is SIMD, which the small paths (a tensor and a
/// number, two tensors) take.
const SMALL_PATH_OPS: [BinaryOp; 6] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Maximum,
    BinaryOp::Minimum,
];

/// Tensor-number ops on small contiguous f32 tensors take the number path
/// (the number splat into the kernel, no 0-dim tensor); larger or strided
/// ones the general path. Both, on every ISA and with the number on either
/// side, against the f64 reference: one rounding of the exact result (or
/// NaN from maximum/minimum), with the number converted as PyTorch does
/// (an int to f32, a float rounded to f32).
#[test]
fn number_operands_on_the_small_path_match_reference() {
    use ft_core::Scalar;
    use ft_kernels::{binary_scalar, scalar_binary};
    let ops = SMALL_PATH_OPS;
    let numbers = [
        Scalar::Float(1.0001),
        Scalar::Int(-3),
        Scalar::Float(f64::NAN),
    ];
    for_each_isa(|isa| {
        for n in [1usize, 7, 16, 33, 32_767, 32_768] {
            let mut v = values(n, DType::F32, 5);
            v[0] = f64::NAN;
            let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            let a = TensorImpl::from_slice(&data, &[n]).unwrap();
            // The same values as a strided view: the general path.
            let wide = TensorImpl::from_slice(
                &data.iter().flat_map(|&x| [x, 9.0]).collect::<Vec<_>>(),
                &[n, 2],
            )
            .unwrap();
            let strided = wide.select(1, 0).unwrap();
            assert_eq!(strided.is_contiguous(), n == 1);
            // Both sides of the parallel grain need only the contiguous
            // tensor (the number path) and one number; the rest is covered
            // at the small sizes (this keeps the test quick under valgrind
            // and qemu, where it runs once per ISA).
            let large = n >= 32_767;
            for op in ops {
                for s in if large { &numbers[..1] } else { &numbers[..] } {
                    let s = *s;
                    let sv = match s {
                        Scalar::Int(i) => i as f32 as f64,
                        _ => s.to_f64() as f32 as f64,
                    };
                    let kinds = [(&a, "contiguous"), (&strided, "strided")];
                    for &(t, what) in if large { &kinds[..1] } else { &kinds[..] } {
                        for left in [false, true] {
                            let r = if left {
                                scalar_binary(op, s, t)
                            } else {
                                binary_scalar(op, t, s)
                            }
                            .unwrap();
                            assert_eq!(r.dtype(), DType::F32);
                            assert_eq!(r.shape(), &[n]);
                            let got = r.to_vec::<f32>().unwrap();
                            for (i, (&g, &x)) in got.iter().zip(&data).enumerate() {
                                let (p, q) = if left { (sv, x as f64) } else { (x as f64, sv) };
                                let want = reference(op, p, q, DType::F32) as f32;
                                assert!(
                                    g == want || g.is_nan() && want.is_nan(),
                                    "{isa:?} {op:?} {s:?} left={left} {what} n={n} i={i}: \
                                     {g} != {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    });
}

/// Two small contiguous f32 tensors of one shape take the tensor-pair
/// path (one kernel call over three slices, `ops::dense_pair`) into a new
/// tensor or an `out=` tensor apart from both; views at an offset, an
/// output that is an input (in place), an output too large for the
/// parallel grain, and a strided operand go the general way. All of them,
/// on every ISA, against the f64 reference (one rounding of the exact
/// result, NaN from maximum/minimum), alpha included.
#[test]
fn tensor_pairs_on_the_small_path_match_reference() {
    use ft_core::Scalar;
    use ft_kernels::{add, add_out, binary_out, sub, sub_out};
    let ops = SMALL_PATH_OPS;
    let check = |what: &str, got: &TensorImpl, want: &[f64]| {
        assert_eq!(got.dtype(), DType::F32, "{what}");
        let got = got.to_vec::<f32>().unwrap();
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let w = w as f32;
            assert!(
                g == w || g.is_nan() && w.is_nan(),
                "{what} i={i}: {g} != {w}"
            );
        }
    };
    for_each_isa(|isa| {
        for n in [1usize, 7, 16, 33, 32_767, 32_768] {
            let mut xs: Vec<f32> = values(n + 1, DType::F32, 3)
                .iter()
                .map(|&v| v as f32)
                .collect();
            let ys: Vec<f32> = values(n, DType::F32, 4).iter().map(|&v| v as f32).collect();
            xs[1] = f32::NAN;
            let x: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
            let y: Vec<f64> = ys.iter().map(|&v| v as f64).collect();
            // `a` starts one element into its storage: a contiguous view.
            let a = TensorImpl::from_slice(&xs, &[n + 1])
                .unwrap()
                .narrow(0, 1, n as isize)
                .unwrap();
            let b = TensorImpl::from_slice(&ys, &[n]).unwrap();
            let xa = &x[1..];
            for op in ops {
                let want: Vec<f64> = xa
                    .iter()
                    .zip(&y)
                    .map(|(&p, &q)| reference(op, p, q, DType::F32))
                    .collect();
                let what = format!("{isa:?} {op:?} n={n}");
                check(&format!("{what} new"), &binary(op, &a, &b).unwrap(), &want);
                let out = TensorImpl::zeros(&[n], DType::F32).unwrap();
                binary_out(op, &a, &b, &out).unwrap();
                check(&format!("{what} out"), &out, &want);
                // In place: the output is the first input.
                let a2 = TensorImpl::from_slice(&xs[1..], &[n]).unwrap();
                binary_out(op, &a2, &b, &a2).unwrap();
                check(&format!("{what} in place"), &a2, &want);
            }
            // alpha, both signs of the op: a + 2.5 b and a - 2.5 b.
            for (sign, alpha) in [(1.0, Scalar::Float(2.5)), (-1.0, Scalar::Int(3))] {
                let al = alpha.to_f64() as f32 as f64;
                let want: Vec<f64> = xa
                    .iter()
                    .zip(&y)
                    .map(|(&p, &q)| (p + sign * al * q) as f32 as f64)
                    .collect();
                let what = format!("{isa:?} alpha={alpha:?} sign={sign} n={n}");
                let out = TensorImpl::zeros(&[n], DType::F32).unwrap();
                if sign > 0.0 {
                    check(&what, &add(&a, &b, alpha).unwrap(), &want);
                    add_out(&a, &b, alpha, &out).unwrap();
                } else {
                    check(&what, &sub(&a, &b, alpha).unwrap(), &want);
                    sub_out(&a, &b, alpha, &out).unwrap();
                }
                check(&format!("{what} out"), &out, &want);
            }
        }
    });
}

/// The 16-bit float types, for the test below.
trait Half16: ft_core::Element {
    const QUIET: u16;
    fn bits(self) -> u16;
    fn of_bits(b: u16) -> Self;
    fn widen(self) -> f32;
    fn narrow(x: f32) -> Self;
}

macro_rules! half16 {
    ($t:ty, $quiet:expr) => {
        impl Half16 for $t {
            const QUIET: u16 = $quiet;
            fn bits(self) -> u16 {
                self.to_bits()
            }
            fn of_bits(b: u16) -> Self {
                <$t>::from_bits(b)
            }
            fn widen(self) -> f32 {
                self.to_f32()
            }
            fn narrow(x: f32) -> Self {
                <$t>::from_f32(x)
            }
        }
    };
}
half16!(half::bf16, 0x0040);
half16!(half::f16, 0x0200);

/// The values of the f16/bf16 test: random ones, then the edges (signed
/// zeros, infinities, quiet and signaling NaN with a payload and a sign,
/// the smallest subnormal, the largest finite value), in `n` elements.
fn half_values<H: Half16>(n: usize, seed: u64) -> Vec<H> {
    let max = if H::QUIET == 0x0200 { 0x7bff } else { 0x7f7f };
    let nan = if H::QUIET == 0x0200 { 0x7c00 } else { 0x7f80 };
    let edges = [
        0x0000,
        0x8000,
        nan,
        nan | 0x8000,
        nan | H::QUIET | 0x5,
        nan | 0x3,
        0x8000 | nan | 0x3,
        0x0001,
        0x8001,
        max,
        0x8000 | max,
    ];
    let mut v: Vec<H> = values(n, DType::F32, seed)
        .iter()
        .map(|&x| H::narrow(x as f32))
        .collect();
    for (k, &e) in edges.iter().enumerate() {
        // Spread over the row so every tail length meets some of them.
        let i = (k * 7 + seed as usize) % n;
        v[i] = H::of_bits(e);
    }
    v
}

/// `got` against `want` (both 16-bit bits): the same value (zeros of
/// either sign equal) or both NaN, and every NaN written quiet; `exact`
/// also asks for the same bits (sign, payload).
fn check_half<H: Half16>(got: H, want: H, exact: bool, what: &dyn Fn() -> String) {
    let (g, w) = (got.widen(), want.widen());
    if g.is_nan() {
        assert!(
            got.bits() & H::QUIET != 0,
            "{}: NaN {:#06x} not quiet",
            what(),
            got.bits()
        );
    }
    let same = if exact {
        got.bits() == want.bits()
    } else {
        g == w || g.is_nan() && w.is_nan()
    };
    assert!(
        same,
        "{}: got {:#06x} ({g}), want {:#06x} ({w})",
        what(),
        got.bits(),
        want.bits()
    );
}

/// An f32 function of one and of two values (the references below).
type F1 = fn(f32) -> f32;
type F2 = fn(f32, f32) -> f32;

/// The loops that widen f16/bf16 in registers, narrow the f32 result once
/// and store it (`map::map1_half`/`map2_half`): rows of every length to 40
/// and 601 (every tail of every ISA's vector), tensor pairs, numbers on
/// either side (kept f32, as PyTorch's opmath), 0-dim tensors of another
/// dtype, and the edges (signaling NaN among them), against f32 arithmetic
/// rounded once by half.
fn check_half_loops<H: Half16>(isa: ft_kernels::Isa) {
    use ft_core::Scalar;
    use ft_kernels::{binary_scalar, scalar_binary};
    let dt = H::DTYPE;
    let f32_of = |x: H| x.widen();
    let unaries: [(UnaryOp, F1, bool); 4] = [
        (UnaryOp::Neg, |x| -x, true),
        (UnaryOp::Abs, f32::abs, true),
        (UnaryOp::Sqrt, f32::sqrt, false),
        (UnaryOp::Relu, |x| if x < 0.0 { 0.0 } else { x }, false),
    ];
    let nan_or = |x: f32, y: f32, v: f32| {
        if x.is_nan() || y.is_nan() {
            f32::NAN
        } else {
            v
        }
    };
    let binaries: [(BinaryOp, F2); 6] = [
        (BinaryOp::Add, |x, y| x + y),
        (BinaryOp::Sub, |x, y| x - y),
        (BinaryOp::Mul, |x, y| x * y),
        (BinaryOp::Div, |x, y| x / y),
        (BinaryOp::Maximum, |x, y| x.max(y)),
        (BinaryOp::Minimum, |x, y| x.min(y)),
    ];
    let number = 0.3f64;
    let v = number as f32;
    let zero_dim = TensorImpl::full(&[], Scalar::Float(number), DType::F64).unwrap();
    for n in (1..=40).chain([601]) {
        let xs = half_values::<H>(n, n as u64);
        let ys = half_values::<H>(n, n as u64 + 100);
        let x = TensorImpl::from_slice(&xs, &[n]).unwrap();
        let y = TensorImpl::from_slice(&ys, &[n]).unwrap();
        for (op, f, exact) in unaries {
            let got = unary(op, &x).unwrap().to_vec::<H>().unwrap();
            for i in 0..n {
                let want = H::narrow(f(f32_of(xs[i])));
                check_half(got[i], want, exact, &|| {
                    format!("{isa} {dt} {op:?} n={n} i={i}")
                });
            }
        }
        for (op, f) in binaries {
            let g = |a: f32, b: f32| nan_or(a, b, f(a, b));
            let pair = binary(op, &x, &y).unwrap().to_vec::<H>().unwrap();
            let right = binary_scalar(op, &x, Scalar::Float(number)).unwrap();
            let left = scalar_binary(op, Scalar::Float(number), &x).unwrap();
            let tensor = binary(op, &x, &zero_dim).unwrap();
            assert_eq!(right.dtype(), dt);
            assert_eq!(tensor.dtype(), dt);
            let right = right.to_vec::<H>().unwrap();
            let left = left.to_vec::<H>().unwrap();
            let tensor = tensor.to_vec::<H>().unwrap();
            for i in 0..n {
                let (a, b) = (f32_of(xs[i]), f32_of(ys[i]));
                let what = |k: &'static str| move || format!("{isa} {dt} {op:?} {k} n={n} i={i}");
                check_half(pair[i], H::narrow(g(a, b)), false, &what("pair"));
                check_half(right[i], H::narrow(g(a, v)), false, &what("number right"));
                check_half(left[i], H::narrow(g(v, a)), false, &what("number left"));
                check_half(tensor[i], H::narrow(g(a, v)), false, &what("0-dim f64"));
            }
        }
    }
}

#[test]
fn half_loops_match_f32_arithmetic_rounded_once() {
    for_each_isa(|isa| {
        check_half_loops::<half::bf16>(isa);
        check_half_loops::<half::f16>(isa);
    });
}

/// An f16/bf16 result written into an `out=` of another float dtype is
/// rounded to its own dtype first, then cast: PyTorch computes in the
/// common dtype and casts into `out` (`torch.exp(x_bf16, out=y_f32)` holds
/// bf16 values; checked against PyTorch 2.15 for exp, sigmoid, add, add
/// with alpha, mul, div and f16 into f64). Before, the f32 values the
/// kernel computed went into `out` unrounded.
#[test]
fn half_results_into_other_float_outs_are_rounded_to_the_half_first() {
    use ft_core::Scalar;
    for_each_isa(|isa| {
        for dt in [DType::BF16, DType::F16] {
            let shape = [67, 3];
            let x = make(&shape, &values(201, dt, 7), dt, Lay::Contiguous);
            let y = make(&shape, &values(201, dt, 8), dt, Lay::Transposed);
            type Case = (&'static str, fn(&TensorImpl, &TensorImpl, &TensorImpl));
            let cases: [Case; 5] = [
                ("exp", |x, _, o| {
                    ft_kernels::unary_out(UnaryOp::Exp, x, o).unwrap()
                }),
                ("sigmoid", |x, _, o| {
                    ft_kernels::unary_out(UnaryOp::Sigmoid, x, o).unwrap()
                }),
                ("mul", |x, y, o| {
                    ft_kernels::binary_out(BinaryOp::Mul, x, y, o).unwrap()
                }),
                ("div", |x, y, o| {
                    ft_kernels::binary_out(BinaryOp::Div, x, y, o).unwrap()
                }),
                ("add alpha 0.3", |x, y, o| {
                    ft_kernels::add_out(x, y, Scalar::Float(0.3), o).unwrap()
                }),
            ];
            for (name, f) in cases {
                // The op in its own dtype: where `out` has it.
                let own = TensorImpl::zeros(&shape, dt).unwrap();
                f(&x, &y, &own);
                let own = own.to_vec_f64().unwrap();
                let others = [DType::F32, DType::F64, DType::F16, DType::BF16];
                for out_dt in others.into_iter().filter(|&d| d != dt) {
                    // Contiguous and transposed: `out`'s own layout.
                    for lay in [Lay::Contiguous, Lay::Transposed] {
                        let o = make(&shape, &[0.0; 201], out_dt, lay);
                        f(&x, &y, &o);
                        let got = o.to_vec_f64().unwrap();
                        for (i, (&g, &w)) in got.iter().zip(&own).enumerate() {
                            // `w` cast to `out_dt` (exact into f32/f64).
                            let want = stored(w, out_dt);
                            assert!(
                                g.to_bits() == want.to_bits() || g.is_nan() && want.is_nan(),
                                "{isa} {name} {dt:?} into {out_dt:?} [{i}]: {g} vs {want}"
                            );
                        }
                    }
                }
            }
            // The errors stay TensorIterator's.
            let wrong = TensorImpl::zeros(&[3, 67], DType::F32).unwrap();
            let e = ft_kernels::unary_out(UnaryOp::Exp, &x, &wrong).unwrap_err();
            assert!(
                e.to_string().contains("doesn't match the broadcast shape"),
                "{e}"
            );
            let int = TensorImpl::zeros(&shape, DType::I64).unwrap();
            let e = ft_kernels::binary_out(BinaryOp::Mul, &x, &y, &int).unwrap_err();
            assert!(e.to_string().contains("can't be cast"), "{e}");
        }
    });
}
