//! Every differentiable op's backward formula against central finite
//! differences in f64 (`ft_autograd::gradcheck`), on contiguous inputs and
//! on non-contiguous views of the same values (transposed 2-D, strided
//! 1-D), with broadcasting where the op broadcasts. A coverage test checks
//! that every op of the schema that autograd records has a case here.

use ft_autograd::gradcheck::{Tolerance, gradcheck};
use ft_core::{DType, Generator, Result, Scalar};
use ft_dispatch::{Op, Tensor, route::schema_of};
use std::collections::BTreeSet;

#[derive(Clone, Copy)]
enum Domain {
    /// Uniform in [-2, 2].
    Any,
    /// Uniform in [0.5, 2].
    Pos,
    /// |x| in [0.2, 2], either sign (away from kinks at 0).
    NonZero,
    /// Uniform in [0.2, 0.8].
    Unit,
}

fn values(n: usize, d: Domain, rng: &mut Generator) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u = rng.uniform_f64();
            match d {
                Domain::Any => 4.0 * u - 2.0,
                Domain::Pos => 0.5 + 1.5 * u,
                Domain::NonZero => {
                    let m = 0.2 + 1.8 * u;
                    if rng.uniform_f64() < 0.5 { -m } else { m }
                }
                Domain::Unit => 0.2 + 0.6 * u,
            }
        })
        .collect()
}

/// A tensor of `shape` with these values; `strided`: as a non-contiguous
/// view (2-D and up: the transpose of a contiguous tensor of the reversed
/// last two dims; 1-D: every second element of a longer tensor).
fn make(shape: &[usize], vals: &[f64], strided: bool) -> Result<Tensor> {
    let dense = Tensor::from_slice(vals, shape)?;
    if !strided || shape.is_empty() {
        return Ok(dense);
    }
    let nd = shape.len();
    if nd == 1 {
        let n = shape[0];
        let mut wide = vec![0.0; 2 * n];
        for (i, v) in vals.iter().enumerate() {
            wide[2 * i] = *v;
        }
        return Tensor::from_slice(&wide, &[n, 2])?.select(1, 0);
    }
    let swapped = dense
        .transpose(nd as isize - 2, nd as isize - 1)?
        .contiguous()?;
    let v = swapped.transpose(nd as isize - 2, nd as isize - 1)?;
    assert!(!v.is_contiguous() || shape[nd - 1] == 1 || shape[nd - 2] == 1);
    Ok(v)
}

type Fun = fn(&[Tensor]) -> Result<Tensor>;

struct Case {
    op: &'static str,
    shapes: &'static [&'static [usize]],
    domain: Domain,
    f: Fun,
    tol: Option<Tolerance>,
}

const fn case(
    op: &'static str,
    shapes: &'static [&'static [usize]],
    domain: Domain,
    f: Fun,
) -> Case {
    Case {
        op,
        shapes,
        domain,
        f,
        tol: None,
    }
}

const M23: &[usize] = &[2, 3];
const V3: &[usize] = &[3];
const V4: &[usize] = &[4];

fn cases() -> Vec<Case> {
    use Domain::*;
    let mut v = vec![
        case("add.Tensor", &[M23, V3], Any, |x| {
            x[0].add_alpha(&x[1], 2.5)
        }),
        case("add.Scalar", &[M23], Any, |x| x[0].add_scalar(1.5)),
        case("sub.Tensor", &[M23, &[2, 1]], Any, |x| {
            x[0].sub_alpha(&x[1], 0.5)
        }),
        case("sub.Scalar", &[M23], Any, |x| x[0].sub_scalar(1.5)),
        case("mul.Tensor", &[&[2, 1], &[1, 3]], Any, |x| x[0].mul(&x[1])),
        case("mul.Scalar", &[M23], Any, |x| x[0].mul_scalar(-3.0)),
        case("div.Tensor", &[M23, V3], Pos, |x| x[0].div(&x[1])),
        case("div.Scalar", &[M23], Any, |x| x[0].div_scalar(4.0)),
        case("remainder.Tensor", &[M23, M23], Unit, |x| {
            x[0].remainder(&x[1].add_scalar(2.0)?)
        }),
        case("remainder.Scalar", &[M23], Unit, |x| {
            x[0].remainder_scalar(3.0)
        }),
        case("pow.Tensor_Tensor", &[M23, V3], Pos, |x| x[0].pow(&x[1])),
        case("pow.Tensor_Scalar", &[M23], Pos, |x| x[0].pow_scalar(2.5)),
        case("maximum", &[M23, M23], Any, |x| x[0].maximum(&x[1])),
        case("minimum", &[M23, V3], Any, |x| x[0].minimum(&x[1])),
        case("where.self", &[M23, V3], Any, |x| {
            Tensor::where_(&x[0].gt_scalar(0.0)?, &x[0], &x[1])
        }),
        case("neg", &[M23], Any, |x| x[0].neg()),
        case("abs", &[M23], NonZero, |x| x[0].abs()),
        case("sign", &[M23], NonZero, |x| x[0].sign()),
        case("exp", &[M23], Any, |x| x[0].exp()),
        case("expm1", &[M23], Any, |x| x[0].expm1()),
        case("log", &[M23], Pos, |x| x[0].log()),
        case("log1p", &[M23], Pos, |x| x[0].log1p()),
        case("sqrt", &[M23], Pos, |x| x[0].sqrt()),
        case("rsqrt", &[M23], Pos, |x| x[0].rsqrt()),
        case("reciprocal", &[M23], NonZero, |x| x[0].reciprocal()),
        case("sin", &[M23], Any, |x| x[0].sin()),
        case("cos", &[M23], Any, |x| x[0].cos()),
        case("tanh", &[M23], Any, |x| x[0].tanh()),
        case("sigmoid", &[M23], Any, |x| x[0].sigmoid()),
        case("relu", &[M23], NonZero, |x| x[0].relu()),
        case("silu", &[M23], Any, |x| x[0].silu()),
        case("erf", &[M23], Any, |x| x[0].erf()),
        case("floor", &[M23], Unit, |x| x[0].floor()),
        case("ceil", &[M23], Unit, |x| x[0].ceil()),
        case("round", &[M23], Unit, |x| x[0].add_scalar(0.1)?.round()),
        case("gelu", &[M23], Any, |x| {
            x[0].gelu("none")?.add(&x[0].gelu("tanh")?)
        }),
        case("clamp", &[M23], Any, |x| {
            x[0].clamp(Some(Scalar::Float(-0.5)), Some(Scalar::Float(1.0)))
        }),
        case("sum", &[M23], Any, |x| x[0].sum()),
        case("sum.dim_IntList", &[&[2, 3, 2]], Any, |x| {
            x[0].sum_dim(&[0, -1], false)?
                .add(&x[0].sum_dim(&[1], true)?.sum_dim(&[0, 2], false)?)
        }),
        case("mean", &[M23], Any, |x| x[0].mean()),
        case("mean.dim", &[&[2, 3, 2]], Any, |x| {
            x[0].mean_dim(&[1], false)
        }),
        case("prod", &[M23], Any, |x| x[0].prod()),
        case("prod.dim_int", &[M23], Any, |x| x[0].prod_dim(1, true)),
        case("max", &[M23], Any, |x| x[0].max()),
        case("min", &[M23], Any, |x| x[0].min()),
        case("max.dim", &[&[3, 4]], Any, |x| {
            Ok(x[0].max_dim(1, false)?.0)
        }),
        case("min.dim", &[&[3, 4]], Any, |x| Ok(x[0].min_dim(0, true)?.0)),
        case("var.correction", &[&[3, 4]], Any, |x| {
            x[0].var(Some(&[1]), 1.0, false)?
                .sum()?
                .add(&x[0].var(None, 0.0, false)?)
        }),
        case("std.correction", &[&[3, 4]], Any, |x| {
            x[0].std(Some(&[0]), 1.0, true)
        }),
        case("logsumexp", &[&[3, 4]], Any, |x| {
            x[0].logsumexp(&[1], false)
        }),
        case("norm.Scalar", &[M23], NonZero, |x| {
            x[0].norm(2.0)?
                .add(&x[0].norm(1.0)?)?
                .add(&x[0].norm(f64::INFINITY)?)
        }),
        case("norm.ScalarOpt_dim", &[&[3, 4]], NonZero, |x| {
            x[0].norm_dim(2.0, &[1], false)?
                .add(&x[0].norm_dim(f64::INFINITY, &[1], false)?)
        }),
        case("softmax.int", &[&[3, 4]], Any, |x| x[0].softmax(1)),
        case("log_softmax.int", &[&[3, 4]], Any, |x| x[0].log_softmax(0)),
        case("mm", &[&[3, 4], &[4, 2]], Any, |x| x[0].mm(&x[1])),
        case("bmm", &[&[2, 3, 4], &[2, 4, 2]], Any, |x| x[0].bmm(&x[1])),
        case("matmul", &[&[3, 4], &[4, 2]], Any, |x| x[0].matmul(&x[1])),
        case("addmm", &[&[2], &[3, 4], &[4, 2]], Any, |x| {
            x[0].addmm(&x[1], &x[2], Scalar::Float(0.5), Scalar::Float(2.0))
        }),
        case("linear", &[&[3, 4], &[2, 4], &[2]], Any, |x| {
            x[0].linear(&x[1], Some(&x[2]))
        }),
        case("dot", &[V4, V4], Any, |x| x[0].dot(&x[1])),
        case("mv", &[&[3, 4], V4], Any, |x| x[0].mv(&x[1])),
        case("view", &[&[2, 6]], Any, |x| {
            x[0].contiguous()?.view(&[3, 4])
        }),
        case("reshape", &[&[2, 6]], Any, |x| x[0].reshape(&[4, -1])),
        case("t", &[M23], Any, |x| x[0].t()),
        case("transpose.int", &[&[2, 3, 2]], Any, |x| {
            x[0].transpose(0, 2)
        }),
        case("permute", &[&[2, 3, 2]], Any, |x| x[0].permute(&[1, 2, 0])),
        case("narrow", &[&[4, 3]], Any, |x| x[0].narrow(0, 1, 2)),
        case("select.int", &[&[4, 3]], Any, |x| x[0].select(1, -1)),
        case("expand", &[&[3, 1]], Any, |x| x[0].expand(&[2, 3, 4])),
        case("squeeze", &[&[3, 1]], Any, |x| x[0].squeeze()),
        case("squeeze.dim", &[&[3, 1]], Any, |x| x[0].squeeze_dim(1)),
        case("unsqueeze", &[M23], Any, |x| x[0].unsqueeze(1)),
        case("flatten.using_ints", &[&[2, 3, 2]], Any, |x| {
            x[0].flatten(0, 1)
        }),
        case("contiguous", &[M23], Any, |x| {
            x[0].contiguous()?.mul_scalar(2.0)
        }),
    ];
    v.push(Case {
        op: "to.dtype",
        shapes: &[M23],
        domain: Domain::Any,
        f: |x| x[0].to_dtype(DType::F32)?.mul_scalar(3.0),
        tol: Some(Tolerance {
            eps: 1e-2,
            atol: 1e-4,
            rtol: 1e-3,
        }),
    });
    v
}

/// More shapes for the ops whose backward has cases of its own.
fn extra_cases() -> Vec<Case> {
    use Domain::*;
    vec![
        case("matmul", &[V4, V4], Any, |x| x[0].matmul(&x[1])),
        case("matmul", &[&[3, 4], V4], Any, |x| x[0].matmul(&x[1])),
        case("matmul", &[V4, &[4, 2]], Any, |x| x[0].matmul(&x[1])),
        case("matmul", &[&[2, 3, 4], &[4, 2]], Any, |x| {
            x[0].matmul(&x[1])
        }),
        case("matmul", &[&[2, 3, 4], V4], Any, |x| x[0].matmul(&x[1])),
        case("matmul", &[&[2, 1, 3, 4], &[3, 4, 2]], Any, |x| {
            x[0].matmul(&x[1])
        }),
        case("matmul", &[V4, &[2, 4, 3]], Any, |x| x[0].matmul(&x[1])),
        case("linear", &[&[2, 3, 4], &[2, 4], &[2]], Any, |x| {
            x[0].linear(&x[1], Some(&x[2]))
        }),
        case("linear", &[&[3, 4], &[2, 4]], Any, |x| {
            x[0].linear(&x[1], None)
        }),
        case("addmm", &[&[3, 2], &[3, 4], &[4, 2]], Any, |x| {
            x[0].addmm(&x[1], &x[2], Scalar::Int(1), Scalar::Int(1))
        }),
        case("sum.dim_IntList", &[M23], Any, |x| x[0].sum_dim(&[], false)),
        case("softmax.int", &[V4], Any, |x| x[0].softmax(-1)),
        case("prod", &[&[0]], Any, |x| x[0].prod()),
        case("mean.dim", &[M23], Any, |x| x[0].mean_dim(&[0, 1], true)),
        case("max.dim", &[&[3, 4]], Any, |x| Ok(x[0].max_dim(0, true)?.0)),
        case("norm.Scalar", &[M23], NonZero, |x| x[0].norm(1.0)),
        case("pow.Tensor_Scalar", &[M23], Any, |x| x[0].pow_scalar(3)),
    ]
}

fn run(c: &Case, strided: bool, seed: u64) -> Result<f64> {
    let mut rng = Generator::new(seed);
    let xs: Vec<Tensor> = c
        .shapes
        .iter()
        .map(|s| {
            let n = s.iter().product();
            make(s, &values(n, c.domain, &mut rng), strided)
        })
        .collect::<Result<_>>()?;
    // Tighter than PyTorch's defaults (atol 1e-5, rtol 1e-3): in f64 the
    // central difference is good to about 1e-9 here.
    let strict = Tolerance {
        eps: 1e-6,
        atol: 1e-7,
        rtol: 1e-6,
    };
    gradcheck(c.f, &xs, c.tol.unwrap_or(strict))
}

#[test]
fn every_differentiable_op_passes_gradcheck_on_contiguous_and_strided_inputs() {
    let mut failures = Vec::new();
    for (k, c) in cases().iter().chain(extra_cases().iter()).enumerate() {
        for strided in [false, true] {
            if let Err(e) = run(c, strided, 100 + k as u64) {
                failures.push(format!("{} (strided={strided}): {e}", c.op));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_op_autograd_records_has_a_gradcheck_case() {
    let covered: BTreeSet<&str> = cases().iter().map(|c| c.op).collect();
    let mut missing = Vec::new();
    for &op in Op::ALL {
        let mutates = schema_of(op).unwrap().args.iter().any(|a| a.mutated);
        if op.autograd_fallthrough() || mutates {
            continue;
        }
        if !covered.contains(op.name()) {
            missing.push(op.name());
        }
    }
    assert!(
        missing.is_empty(),
        "ops without a gradcheck case: {missing:?}"
    );
}

#[test]
fn prod_backward_is_exact_with_zeros() {
    use ft_autograd::AutogradExt;
    let x = Tensor::from_slice(&[0.0f64, 2.0, 3.0, 0.0, 5.0, 7.0], &[2, 3])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    x.prod_dim(1, false)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(
        x.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![6.0, 0.0, 0.0, 35.0, 0.0, 0.0]
    );
    let y = Tensor::from_slice(&[0.0f64, 2.0, 0.0], &[3])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    y.prod().unwrap().backward().unwrap();
    assert_eq!(
        y.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![0.0, 0.0, 0.0]
    );
}
