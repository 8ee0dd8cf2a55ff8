//! Routing rules, each test named after the behaviour it proves.

use ft_core::{DType, ErrorKind, Scalar, TensorImpl};
use ft_dispatch::ledger::{self, Fallback, Reason};
use ft_dispatch::{
    Arg, DispatchKey, DispatchKeySet, Frame, Functionality, Mode, Op, Outputs, Tensor, keyset_of,
    lookup, register, route, with_mode,
};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The ledger is process-wide: the tests of this file take turns, so that
/// one test's ledger sees only its own calls.
static LEDGER: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LEDGER.lock().unwrap_or_else(|e| e.into_inner())
}

/// erf in f64 by Simpson's rule on 2/sqrt(pi) exp(-s^2) (to ~1e-15 here;
/// closed-form approximations are too coarse for a reference).
fn erf_ref(z: f64) -> f64 {
    let n = 20_000;
    let h = z / n as f64;
    let f = |s: f64| (-s * s).exp();
    let mut acc = f(0.0) + f(z);
    for i in 1..n {
        acc += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    acc * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
}

fn t(v: &[f32]) -> Tensor {
    Tensor::from_slice(v, &[v.len()]).unwrap()
}

#[test]
fn every_schema_entry_has_a_kernel_and_every_kernel_a_schema() {
    let _g = serial();
    let schemas = route::schemas().expect("the schema file is valid");
    assert_eq!(schemas.len(), Op::COUNT);
    for (op, s) in Op::ALL.iter().zip(schemas) {
        assert_eq!(
            s.full_name(),
            op.name(),
            "schema order follows the op table"
        );
        assert!(
            lookup(*op, DispatchKey::CPU).is_some(),
            "{} has no CPU kernel",
            op.name()
        );
    }
    let parsed = ft_dispatch::schema::parse_file(route::SCHEMA_TEXT).unwrap();
    let names: BTreeSet<String> = parsed.iter().map(|s| s.full_name()).collect();
    let ops: BTreeSet<String> = Op::ALL.iter().map(|o| o.name().to_string()).collect();
    assert_eq!(names, ops);
}

#[test]
fn dtype_mismatch_fail_closed() {
    let _g = serial();
    // PyTorch: `torch.ones(2, dtype=torch.long).add_(torch.ones(2))`.
    let a = Tensor::from_slice(&[1i64, 2], &[2]).unwrap();
    let e = a.add_(&t(&[0.5, 0.5])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DType);
    assert_eq!(
        e.message(),
        "result type Float can't be cast to the desired output type Long"
    );
    assert_eq!(
        a.to_vec::<i64>().unwrap(),
        vec![1, 2],
        "nothing was written"
    );
    // `torch.add(a, b, out=bool_tensor)`.
    let out = Tensor::zeros(&[2], DType::Bool).unwrap();
    let e = t(&[1.0, 2.0]).add_out(&t(&[1.0, 2.0]), &out).unwrap_err();
    assert_eq!(
        e.message(),
        "result type Float can't be cast to the desired output type Bool"
    );
}

#[test]
fn device_mismatch_fail_closed() {
    let _g = serial();
    let cpu = t(&[1.0, 2.0]);
    let meta = Tensor::from(TensorImpl::empty_meta(&[2], DType::F32).unwrap());
    ledger::enable(8);
    // PyTorch 2.15 prints exactly these for `cpu + meta` and `meta + cpu`.
    let e = cpu.add(&meta).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Device);
    assert_eq!(
        e.message(),
        "Tensor on device meta is not on the expected device cpu!"
    );
    let e = meta.add(&cpu).unwrap_err();
    assert_eq!(
        e.message(),
        "Tensor on device cpu is not on the expected device meta!"
    );
    let entries = ledger::entries();
    ledger::disable();
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .all(|e| e.reason == Reason::DeviceMismatch && e.selected.is_none())
    );
}

#[test]
fn non_cpu_device_fails_closed() {
    let _g = serial();
    let meta = Tensor::from(TensorImpl::empty_meta(&[2], DType::F32).unwrap());
    let e = meta.add(&meta).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Device);
    assert!(
        e.message()
            .starts_with("Could not run 'aten::add.Tensor' with arguments from the 'Meta' backend"),
        "{}",
        e.message()
    );
    assert!(meta.exp().is_err() && meta.sum().is_err());
}

#[test]
fn strict_mode_rejects_composite_fallback() {
    let _g = serial();
    let x = Tensor::from_slice(&[1i64, 2], &[2]).unwrap();
    ledger::enable(8);
    let e = with_mode(Mode::Strict, || x.gelu("none")).unwrap_err();
    let e2 = with_mode(Mode::Strict, || x.softmax(0)).unwrap_err();
    let entries = ledger::entries();
    ledger::disable();
    // PyTorch's errors for `F.gelu(long)` and `torch.softmax(long, 0)`.
    assert_eq!(e.message(), "\"GeluKernelImpl\" not implemented for 'Long'");
    assert_eq!(
        e2.message(),
        "\"softmax_lastdim_kernel_impl\" not implemented for 'Long'"
    );
    assert_eq!(entries.len(), 2);
    for en in entries {
        assert_eq!(
            (en.fallback, en.reason),
            (Fallback::None, Reason::DtypeRejected)
        );
        assert_eq!(en.selected, Some(DispatchKey::CPU));
    }
}

#[test]
fn hardened_mode_allows_composite_fallback() {
    let _g = serial();
    let x = Tensor::from_slice(&[-2i64, 0, 1, 3], &[4]).unwrap();
    ledger::enable(8);
    let y = with_mode(Mode::Hardened, || x.gelu("none")).unwrap();
    let entries = ledger::entries();
    ledger::disable();
    assert_eq!(y.dtype(), DType::F32);
    // Against an f64 reference: gelu(x) = x/2 (1 + erf(x/sqrt 2)).
    let want =
        [-2.0f64, 0.0, 1.0, 3.0].map(|v| v / 2.0 * (1.0 + erf_ref(v / std::f64::consts::SQRT_2)));
    for (got, want) in y.to_vec::<f32>().unwrap().iter().zip(want) {
        assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    }
    // The composite ran, recorded as such: the gelu call, then the cast and
    // the float gelu it is made of.
    let first = entries[0];
    assert_eq!(first.op, Op::Gelu);
    assert_eq!(first.selected, Some(DispatchKey::CompositeImplicitAutograd));
    assert_eq!(
        (first.fallback, first.reason),
        (Fallback::Composite, Reason::DtypeFallback)
    );
    let ops: Vec<Op> = entries.iter().map(|e| e.op).collect();
    assert_eq!(ops, vec![Op::Gelu, Op::ToDtype, Op::Gelu]);
    assert_eq!(entries[2].reason, Reason::Direct);
}

#[test]
fn hardened_mode_refuses_absurd_allocations() {
    let _g = serial();
    // [2^20, 1] + [1, 2^20] would be a 4 TiB output.
    let n = 1usize << 20;
    let a = Tensor::zeros(&[n, 1], DType::F32).unwrap();
    let b = Tensor::zeros(&[1, n], DType::F32).unwrap();
    let e = with_mode(Mode::Hardened, || a.add(&b)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Alloc);
    assert!(
        e.message().contains("Hardened mode refused 'add.Tensor'"),
        "{}",
        e.message()
    );
    // A normal call is unaffected.
    let y = with_mode(Mode::Hardened, || t(&[1.0]).add(&t(&[2.0]))).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0]);
}

#[test]
fn requires_grad_adds_autograd_key() {
    let _g = serial();
    let x = t(&[1.0, 2.0]).set_requires_grad(true).unwrap();
    let y = t(&[3.0, 4.0]);
    let args = [Arg::Tensor(&x), Arg::Tensor(&y)];
    let f = Frame::new(&args).unwrap();
    let ks = keyset_of(&f).unwrap();
    assert!(ks.has_functionality(Functionality::Autograd));
    assert_eq!(ks.highest_priority_key(), Ok(DispatchKey::AUTOGRAD_CPU));
    let args = [Arg::Tensor(&y), Arg::Tensor(&y)];
    let f = Frame::new(&args).unwrap();
    assert_eq!(
        keyset_of(&f).unwrap().highest_priority_key(),
        Ok(DispatchKey::CPU)
    );
    let e = Tensor::from_slice(&[1i64], &[1])
        .unwrap()
        .set_requires_grad(true)
        .unwrap_err();
    assert_eq!(
        e.message(),
        "only Tensors of floating point dtype can require gradients"
    );
}

#[test]
fn autograd_key_without_kernel_fails_closed_but_comparisons_fall_through() {
    let _g = serial();
    let x = t(&[1.0, 2.0]).set_requires_grad(true).unwrap();
    let e = x.mul(&x).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.message().contains("no AutogradCPU kernel"),
        "{}",
        e.message()
    );
    // Bool results are not differentiable: they run on the CPU kernel.
    assert_eq!(
        x.gt_scalar(1.5).unwrap().to_vec::<bool>().unwrap(),
        vec![false, true]
    );
}

/// An autograd kernel as ft-autograd will register them: runs the op below
/// the autograd key, then marks the output.
fn exp_autograd(f: &Frame<'_>, out: &mut Outputs) -> ft_core::Result<()> {
    let x = f.tensor(0)?;
    let below = ft_dispatch::keyset_of(f)?.without(Functionality::Autograd);
    let mut inner = Outputs::default();
    ft_dispatch::redispatch(Op::Exp, below, f, &mut inner)?;
    out.set(inner.one()?.set_requires_grad(x.requires_grad())?);
    Ok(())
}

#[test]
fn registered_autograd_kernel_runs_above_cpu() {
    let _g = serial();
    register(Op::Exp, DispatchKey::AUTOGRAD_CPU, exp_autograd).unwrap();
    let again = register(Op::Exp, DispatchKey::AUTOGRAD_CPU, exp_autograd).unwrap_err();
    assert!(again.message().contains("already registered"));
    let x = t(&[0.0, 1.0]).set_requires_grad(true).unwrap();
    let y = x.exp().unwrap();
    assert!(y.requires_grad());
    assert_eq!(y.to_vec::<f32>().unwrap()[0], 1.0);
    // Without requires_grad the CPU kernel runs directly.
    assert!(!t(&[0.0]).exp().unwrap().requires_grad());
}

#[test]
fn invalid_keysets_fail_closed_in_redispatch() {
    let _g = serial();
    let x = t(&[1.0]);
    let args = [
        Arg::Tensor(&x),
        Arg::Tensor(&x),
        Arg::Scalar(Scalar::Int(1)),
    ];
    let f = Frame::new(&args).unwrap();
    let cpu_only = DispatchKeySet::backend(ft_dispatch::Backend::Cpu);
    let e =
        ft_dispatch::redispatch(Op::AddTensor, cpu_only, &f, &mut Outputs::default()).unwrap_err();
    assert!(
        e.message().contains("no functionality (type) key"),
        "{}",
        e.message()
    );
    assert!(
        ft_dispatch::redispatch(
            Op::AddTensor,
            DispatchKeySet::EMPTY,
            &f,
            &mut Outputs::default()
        )
        .is_err()
    );
}

/// A frame that does not match the op's schema fails closed: in debug
/// builds the schema check names the fault; in release builds (no check on
/// the hot path) the kernel's argument accessors refuse it.
#[test]
fn a_frame_that_does_not_match_the_schema_is_an_error() {
    let _g = serial();
    let x = t(&[1.0]);
    // add.Tensor takes (self, other, alpha): two arguments are too few.
    let args = [Arg::Tensor(&x), Arg::Tensor(&x)];
    let f = Frame::new(&args).unwrap();
    let e = ft_dispatch::call(Op::AddTensor, &f, &mut Outputs::default()).unwrap_err();
    let want = if cfg!(debug_assertions) {
        "takes 3 arguments"
    } else {
        "argument 2 should be a Scalar, found nothing"
    };
    assert!(e.message().contains(want), "{}", e.message());
    let args = [Arg::Tensor(&x), Arg::Int(1), Arg::Scalar(Scalar::Int(1))];
    let f = Frame::new(&args).unwrap();
    assert!(ft_dispatch::call(Op::AddTensor, &f, &mut Outputs::default()).is_err());
}

#[test]
fn operators_route_like_methods() {
    let _g = serial();
    let a = t(&[6.0, 8.0]);
    let b = t(&[2.0, 4.0]);
    assert_eq!((&a + &b).unwrap().to_vec::<f32>().unwrap(), vec![8.0, 12.0]);
    assert_eq!((&a - &b).unwrap().to_vec::<f32>().unwrap(), vec![4.0, 4.0]);
    assert_eq!(
        (&a * &b).unwrap().to_vec::<f32>().unwrap(),
        vec![12.0, 32.0]
    );
    assert_eq!((&a / &b).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 2.0]);
    assert_eq!((&a % &b).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    assert_eq!((-&a).unwrap().to_vec::<f32>().unwrap(), vec![-6.0, -8.0]);
}

/// Calls every method of the op surface once and checks, through the
/// ledger, that together they reach every op of the schema (and, in this
/// debug build, that each passes the arguments its schema declares).
#[test]
fn every_op_is_reachable_as_a_method() {
    let _g = serial();
    ledger::enable(1024);
    let r = exercise_surface();
    let seen: BTreeSet<&str> = ledger::entries().iter().map(|e| e.op.name()).collect();
    ledger::disable();
    r.unwrap();
    let missing: Vec<&str> = Op::ALL
        .iter()
        .map(|o| o.name())
        .filter(|n| !seen.contains(n))
        .collect();
    assert!(missing.is_empty(), "ops no method reached: {missing:?}");
}

fn exercise_surface() -> ft_core::Result<()> {
    let x = t(&[0.5, 1.5, 2.5, 3.5]);
    let y = t(&[1.0, 2.0, 3.0, 4.0]);
    let o = Tensor::zeros(&[4], DType::F32)?;
    let w = || t(&[0.5, 1.5, 2.5, 3.5]);
    let check = |got: Tensor, want: &[f32]| -> ft_core::Result<()> {
        let g = got.to_vec::<f32>()?;
        for (a, b) in g.iter().zip(want) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{g:?} vs {want:?}"
            );
        }
        Ok(())
    };
    check(x.add(&y)?, &[1.5, 3.5, 5.5, 7.5])?;
    check(x.add_alpha(&y, 2.0f32)?, &[2.5, 5.5, 8.5, 11.5])?;
    check(x.add_scalar(1.0f32)?, &[1.5, 2.5, 3.5, 4.5])?;
    x.add_out(&y, &o)?;
    check(o.clone(), &[1.5, 3.5, 5.5, 7.5])?;
    let z = w();
    z.add_(&y)?;
    check(z, &[1.5, 3.5, 5.5, 7.5])?;
    check(x.sub(&y)?, &[-0.5, -0.5, -0.5, -0.5])?;
    check(x.sub_scalar(0.5f32)?, &[0.0, 1.0, 2.0, 3.0])?;
    x.sub_out(&y, &o)?;
    let z = w();
    z.sub_(&y)?;
    check(z, &[-0.5; 4])?;
    for (f, s, i, out) in [
        (
            Tensor::mul as fn(&Tensor, &Tensor) -> _,
            0,
            Tensor::mul_ as fn(&Tensor, &Tensor) -> _,
            Tensor::mul_out as fn(&Tensor, &Tensor, &Tensor) -> _,
        ),
        (Tensor::div, 1, Tensor::div_, Tensor::div_out),
        (
            Tensor::remainder,
            2,
            Tensor::remainder_,
            Tensor::remainder_out,
        ),
        (Tensor::pow, 3, Tensor::pow_, Tensor::pow_out),
    ] {
        let want = f(&x, &y)?.to_vec::<f32>()?;
        let scalar = match s {
            0 => x.mul_scalar(2.0f32)?,
            1 => x.div_scalar(2.0f32)?,
            2 => x.remainder_scalar(2.0f32)?,
            _ => x.pow_scalar(2.0f32)?,
        };
        assert_eq!(scalar.numel(), 4);
        let z = w();
        i(&z, &y)?;
        check(z, &want)?;
        out(&x, &y, &o)?;
        check(o.clone(), &want)?;
    }
    check(x.mul(&y)?, &[0.5, 3.0, 7.5, 14.0])?;
    check(x.maximum(&y)?, &[1.0, 2.0, 3.0, 4.0])?;
    check(x.minimum(&y)?, &[0.5, 1.5, 2.5, 3.5])?;
    x.maximum_out(&y, &o)?;
    x.minimum_out(&y, &o)?;
    for c in [
        x.eq(&y)?,
        x.ne(&y)?,
        x.lt(&y)?,
        x.le(&y)?,
        x.gt(&y)?,
        x.ge(&y)?,
        x.eq_scalar(1.5)?,
        x.ne_scalar(1.5)?,
        x.lt_scalar(1.5)?,
        x.le_scalar(1.5)?,
        x.gt_scalar(1.5)?,
        x.ge_scalar(1.5)?,
        x.logical_and(&y)?,
        x.logical_or(&y)?,
        x.logical_xor(&y)?,
    ] {
        assert_eq!(c.dtype(), DType::Bool);
    }
    assert_eq!(x.lt(&y)?.to_vec::<bool>()?, vec![true; 4]);
    check(
        Tensor::where_(&x.gt_scalar(1.0)?, &x, &y)?,
        &[1.0, 1.5, 2.5, 3.5],
    )?;
    type Un = fn(&Tensor) -> ft_core::Result<Tensor>;
    type UnI = fn(&Tensor) -> ft_core::Result<()>;
    type UnO = fn(&Tensor, &Tensor) -> ft_core::Result<()>;
    type Case = (Un, UnI, UnO, fn(f64) -> f64);
    let unary: [Case; 20] = [
        (Tensor::neg, Tensor::neg_, Tensor::neg_out, |v| -v),
        (Tensor::abs, Tensor::abs_, Tensor::abs_out, f64::abs),
        (Tensor::sign, Tensor::sign_, Tensor::sign_out, f64::signum),
        (Tensor::exp, Tensor::exp_, Tensor::exp_out, f64::exp),
        (
            Tensor::expm1,
            Tensor::expm1_,
            Tensor::expm1_out,
            f64::exp_m1,
        ),
        (Tensor::log, Tensor::log_, Tensor::log_out, f64::ln),
        (Tensor::log1p, Tensor::log1p_, Tensor::log1p_out, f64::ln_1p),
        (Tensor::sqrt, Tensor::sqrt_, Tensor::sqrt_out, f64::sqrt),
        (Tensor::rsqrt, Tensor::rsqrt_, Tensor::rsqrt_out, |v| {
            1.0 / v.sqrt()
        }),
        (
            Tensor::reciprocal,
            Tensor::reciprocal_,
            Tensor::reciprocal_out,
            |v| 1.0 / v,
        ),
        (Tensor::sin, Tensor::sin_, Tensor::sin_out, f64::sin),
        (Tensor::cos, Tensor::cos_, Tensor::cos_out, f64::cos),
        (Tensor::tanh, Tensor::tanh_, Tensor::tanh_out, f64::tanh),
        (
            Tensor::sigmoid,
            Tensor::sigmoid_,
            Tensor::sigmoid_out,
            |v| 1.0 / (1.0 + (-v).exp()),
        ),
        (Tensor::relu, Tensor::relu_, Tensor::relu_out, |v| {
            v.max(0.0)
        }),
        (Tensor::silu, Tensor::silu_, Tensor::silu_out, |v| {
            v / (1.0 + (-v).exp())
        }),
        (Tensor::erf, Tensor::erf_, Tensor::erf_out, erf_ref),
        (Tensor::floor, Tensor::floor_, Tensor::floor_out, f64::floor),
        (Tensor::ceil, Tensor::ceil_, Tensor::ceil_out, f64::ceil),
        (
            Tensor::round,
            Tensor::round_,
            Tensor::round_out,
            f64::round_ties_even,
        ),
    ];
    for (f, fi, fo, reference) in unary {
        let want: Vec<f32> = [0.5f64, 1.5, 2.5, 3.5]
            .iter()
            .map(|&v| reference(v) as f32)
            .collect();
        check(f(&x)?, &want)?;
        let z = w();
        fi(&z)?;
        check(z, &want)?;
        fo(&x, &o)?;
        check(o.clone(), &want)?;
    }
    let g = x.gelu("tanh")?;
    let z = w();
    z.gelu_("none")?;
    x.gelu_out("none", &o)?;
    check(o.clone(), &z.to_vec::<f32>()?)?;
    assert_eq!(g.numel(), 4);
    let lo = Some(Scalar::Float(1.0));
    let hi = Some(Scalar::Float(3.0));
    check(x.clamp(lo, hi)?, &[1.0, 1.5, 2.5, 3.0])?;
    let z = w();
    z.clamp_(lo, None)?;
    check(z, &[1.0, 1.5, 2.5, 3.5])?;
    x.clamp_out(None, hi, &o)?;
    check(o.clone(), &[0.5, 1.5, 2.5, 3.0])?;
    assert_eq!(x.to_dtype(DType::I64)?.to_vec::<i64>()?, vec![0, 1, 2, 3]);
    o.copy_(&y)?;
    check(o.clone(), &[1.0, 2.0, 3.0, 4.0])?;
    let m = y.view(&[2, 2])?;
    check(m.sum()?, &[10.0])?;
    check(m.sum_dim(&[1], false)?, &[3.0, 7.0])?;
    check(m.mean()?, &[2.5])?;
    check(m.mean_dim(&[0], false)?, &[2.0, 3.0])?;
    check(m.prod()?, &[24.0])?;
    check(m.prod_dim(1, false)?, &[2.0, 12.0])?;
    check(m.max()?, &[4.0])?;
    check(m.min()?, &[1.0])?;
    let (v, i) = m.max_dim(1, false)?;
    check(v, &[2.0, 4.0])?;
    assert_eq!(i.to_vec::<i64>()?, vec![1, 1]);
    let (v, _) = m.min_dim(0, true)?;
    check(v, &[1.0, 2.0])?;
    assert_eq!(m.argmax(None, false)?.to_vec::<i64>()?, vec![3]);
    assert_eq!(m.argmin(Some(1), false)?.to_vec::<i64>()?, vec![0, 0]);
    check(y.var(None, 1.0, false)?, &[5.0 / 3.0])?;
    check(y.std(None, 0.0, false)?, &[1.25f32.sqrt()])?;
    check(
        y.logsumexp(&[0], false)?,
        &[(1f32.exp() + 2f32.exp() + 3f32.exp() + 4f32.exp()).ln()],
    )?;
    check(y.norm(1.0)?, &[10.0])?;
    check(m.norm_dim(f64::INFINITY, &[1], false)?, &[2.0, 4.0])?;
    assert_eq!(m.any()?.to_vec::<bool>()?, vec![true]);
    assert_eq!(m.all()?.to_vec::<bool>()?, vec![true]);
    assert_eq!(m.any_dim(&[1], false)?.numel(), 2);
    assert_eq!(m.all_dim(&[0], true)?.shape(), &[1, 2]);
    let s = m.softmax(1)?.to_vec::<f32>()?;
    assert!((s[0] + s[1] - 1.0).abs() < 1e-6);
    let l = m.log_softmax(1)?.to_vec::<f32>()?;
    assert!((l[0].exp() - s[0]).abs() < 1e-6);
    // Products: m = [[1, 2], [3, 4]], v = [1, 2].
    let v = t(&[1.0, 2.0]);
    check(m.mm(&m)?, &[7.0, 10.0, 15.0, 22.0])?;
    let o22 = Tensor::zeros(&[2, 2], DType::F32)?;
    m.mm_out(&m.t()?, &o22)?;
    check(o22.clone(), &[5.0, 11.0, 11.0, 25.0])?;
    let b3 = m.view(&[1, 2, 2])?;
    check(b3.bmm(&b3)?, &[7.0, 10.0, 15.0, 22.0])?;
    let o3 = Tensor::zeros(&[1, 2, 2], DType::F32)?;
    b3.bmm_out(&b3, &o3)?;
    check(o3, &[7.0, 10.0, 15.0, 22.0])?;
    check(m.matmul(&v)?, &[5.0, 11.0])?;
    m.matmul_out(&m, &o22)?;
    check(o22.clone(), &[7.0, 10.0, 15.0, 22.0])?;
    check(
        v.addmm(&m, &m, Scalar::Int(1), Scalar::Float(2.0))?,
        &[15.0, 22.0, 31.0, 46.0],
    )?;
    o22.addmm_(&m, &m, Scalar::Float(0.5), Scalar::Int(1))?;
    check(o22.clone(), &[10.5, 15.0, 22.5, 33.0])?;
    v.addmm_out(&m, &m, Scalar::Int(0), Scalar::Int(1), &o22)?;
    check(o22, &[7.0, 10.0, 15.0, 22.0])?;
    check(m.linear(&m, Some(&v))?, &[6.0, 13.0, 12.0, 27.0])?;
    check(v.dot(&v)?, &[5.0])?;
    // Views: m = [[1, 2], [3, 4]].
    check(m.reshape(&[4])?, &[1.0, 2.0, 3.0, 4.0])?;
    check(m.transpose(0, 1)?.contiguous()?, &[1.0, 3.0, 2.0, 4.0])?;
    check(m.permute(&[1, 0])?.reshape(&[-1])?, &[1.0, 3.0, 2.0, 4.0])?;
    check(m.narrow(1, 1, 1)?.reshape(&[2])?, &[2.0, 4.0])?;
    check(m.select(0, 1)?, &[3.0, 4.0])?;
    check(
        v.unsqueeze(0)?.expand(&[2, 2])?.flatten(0, -1)?,
        &[1.0, 2.0, 1.0, 2.0],
    )?;
    assert_eq!(m.unsqueeze(0)?.squeeze()?.shape(), &[2, 2]);
    assert_eq!(m.unsqueeze(2)?.squeeze_dim(2)?.shape(), &[2, 2]);
    check(m.mv(&v)?, &[5.0, 11.0])?;
    Ok(())
}
