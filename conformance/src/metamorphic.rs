//! Packet 009: metamorphic relations. No oracle output: each case states a
//! relation between two computations that must hold whatever the values
//! (bitwise where the math and our kernels guarantee it, within a stated
//! tolerance where the summation order may differ), over inputs made from
//! the case's seed. They catch what a fixture cannot: an op that agrees
//! with PyTorch on the fixture's layout and drifts on another.

use crate::{Case, Outcome};
use ft_core::{DType, Generator, Result, TensorImpl};
use ft_dispatch::Tensor;
use serde_json::json;

/// The relations: name, what it states.
pub const RELATIONS: &[(&str, &str)] = &[
    ("add_commutes", "a + b == b + a, bitwise, with broadcasting"),
    ("mul_commutes", "a * b == b * a, bitwise, with broadcasting"),
    (
        "sum_permuted_view",
        "sum(x.permute(..)) == sum(x) within the dtype's reduction tolerance",
    ),
    (
        "matmul_transpose",
        "matmul(a, b).t() == matmul(b.t(), a.t()) within tolerance",
    ),
    (
        "contiguous_roundtrip",
        "x.t().contiguous().t() == x, bitwise, and is a copy",
    ),
    (
        "softmax_shift",
        "softmax(x + c) == softmax(x) within tolerance (shift invariance)",
    ),
    ("mean_times_n", "mean(x) * n == sum(x) within tolerance"),
    ("neg_involution", "-(-x) == x, bitwise"),
    ("max_is_neg_min_neg", "max(x) == -min(-x), bitwise"),
    (
        "noncontig_elementwise",
        "exp(x) on a transposed view == exp(x.contiguous()) transposed, bitwise",
    ),
];

const SHAPES: &[&[usize]] = &[&[7], &[3, 5], &[4, 1, 6], &[33, 17], &[2, 64, 3]];
const DTYPES: &[DType] = &[DType::F32, DType::F64];

/// Every case of the packet: each relation over each dtype and shape.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (r, (name, _)) in RELATIONS.iter().enumerate() {
        for (d, dt) in DTYPES.iter().enumerate() {
            for (s, shape) in SHAPES.iter().enumerate() {
                let seed = 9000 + 100 * r as u64 + 10 * d as u64 + s as u64;
                out.push(Case {
                    packet_id: "009".into(),
                    scenario_id: format!("009/{name}/{}/{}", dt.name(), dims(shape)),
                    op: (*name).into(),
                    kind: "metamorphic".into(),
                    seed,
                    args: vec![json!({"dtype": dt.name(), "shape": shape})],
                    expect: json!({"relation": name}),
                    family: "metamorphic".into(),
                    raw: serde_json::Value::Null,
                });
            }
        }
    }
    out
}

fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn random(shape: &[usize], dt: DType, g: &mut Generator) -> Result<Tensor> {
    Ok(Tensor::from(TensorImpl::from_fn(shape, dt, |_| {
        g.uniform_f64() * 4.0 - 2.0
    })?))
}

/// Bitwise equality of values (NaN never appears here: inputs are finite).
fn bitwise(a: &Tensor, b: &Tensor) -> Result<std::result::Result<(), String>> {
    if a.shape() != b.shape() || a.dtype() != b.dtype() {
        return Ok(Err(format!(
            "{:?} {} vs {:?} {}",
            a.shape(),
            a.dtype(),
            b.shape(),
            b.dtype()
        )));
    }
    let (x, y) = (a.to_vec_f64()?, b.to_vec_f64()?);
    Ok(
        match x
            .iter()
            .zip(&y)
            .position(|(p, q)| p.to_bits() != q.to_bits())
        {
            None => Ok(()),
            Some(i) => Err(format!("element {i}: {} vs {}", x[i], y[i])),
        },
    )
}

fn close(a: &Tensor, b: &Tensor, rtol: f64) -> Result<std::result::Result<(), String>> {
    if a.shape() != b.shape() {
        return Ok(Err(format!("shape {:?} vs {:?}", a.shape(), b.shape())));
    }
    let (x, y) = (a.to_vec_f64()?, b.to_vec_f64()?);
    Ok(
        match x
            .iter()
            .zip(&y)
            .position(|(p, q)| (p - q).abs() > rtol * (1.0 + q.abs()))
        {
            None => Ok(()),
            Some(i) => Err(format!("element {i}: {} vs {} (rtol {rtol})", x[i], y[i])),
        },
    )
}

/// Checks one relation.
fn check(
    name: &str,
    dt: DType,
    shape: &[usize],
    seed: u64,
) -> Result<std::result::Result<(), String>> {
    let mut g = Generator::new(seed);
    let x = random(shape, dt, &mut g)?;
    let rtol = if dt == DType::F32 { 1e-5 } else { 1e-12 };
    let last = *shape.last().unwrap_or(&1);
    let matrix = |x: &Tensor| x.reshape(&[-1, last as isize]);
    match name {
        "add_commutes" | "mul_commutes" => {
            let row = random(&[last], dt, &mut g)?;
            let (p, q) = if name == "add_commutes" {
                (x.add(&row)?, row.add(&x)?)
            } else {
                (x.mul(&row)?, row.mul(&x)?)
            };
            bitwise(&p, &q)
        }
        "sum_permuted_view" => {
            let rev: Vec<isize> = (0..shape.len() as isize).rev().collect();
            close(&x.permute(&rev)?.sum()?, &x.sum()?, rtol * 10.0)
        }
        "matmul_transpose" => {
            let a = matrix(&x)?;
            let b = random(&[last, 5], dt, &mut g)?;
            close(
                &a.matmul(&b)?.t()?.contiguous()?,
                &b.t()?.matmul(&a.t()?)?,
                rtol * 10.0,
            )
        }
        "contiguous_roundtrip" => {
            let m = matrix(&x)?;
            let c = m.t()?.contiguous()?;
            if m.shape()[0] > 1 && m.shape()[1] > 1 && c.is_contiguous() == m.t()?.is_contiguous() {
                return Ok(Err(
                    "contiguous() of a transposed matrix did not copy".into()
                ));
            }
            bitwise(&c.t()?, &m)
        }
        "softmax_shift" => {
            let c = Tensor::from(TensorImpl::from_fn(&[], dt, |_| 3.5)?);
            close(&x.add(&c)?.softmax(-1)?, &x.softmax(-1)?, rtol * 10.0)
        }
        "mean_times_n" => {
            let n = Tensor::from(TensorImpl::from_fn(&[], dt, |_| x.numel() as f64)?);
            close(&x.mean()?.mul(&n)?, &x.sum()?, rtol * 10.0)
        }
        "neg_involution" => bitwise(&x.neg()?.neg()?, &x),
        "max_is_neg_min_neg" => bitwise(&x.max()?, &x.neg()?.min()?.neg()?),
        "noncontig_elementwise" => {
            let m = matrix(&x)?;
            let view = m.t()?;
            bitwise(&view.exp()?, &view.contiguous()?.exp()?)
        }
        other => Ok(Err(format!("unknown relation {other}"))),
    }
}

/// Runs one metamorphic case.
pub fn run(case: &Case) -> Outcome {
    let spec = &case.args[0];
    let dt = spec["dtype"].as_str().and_then(DType::parse);
    let shape: Option<Vec<usize>> = spec["shape"].as_array().map(|a| {
        a.iter()
            .filter_map(|d| d.as_u64().map(|d| d as usize))
            .collect()
    });
    let (Some(dt), Some(shape)) = (dt, shape) else {
        return Outcome::failed(format!("bad metamorphic case {spec}"));
    };
    let (pass, detail) = match check(&case.op, dt, &shape, case.seed) {
        Ok(Ok(())) => (true, "relation holds".to_string()),
        Ok(Err(d)) => (false, format!("relation broken: {d}")),
        Err(e) => (false, format!("error: {}", e.message())),
    };
    Outcome {
        pass,
        allowlisted: None,
        detail,
        decision: None,
        actual: serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comparisons_can_fail() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
        let b =
            Tensor::from_slice(&[1.0f32, 2.0, f32::from_bits(3.0f32.to_bits() + 1)], &[3]).unwrap();
        assert!(bitwise(&a, &a).unwrap().is_ok());
        assert!(bitwise(&a, &b).unwrap().is_err());
        assert!(close(&a, &b, 1e-5).unwrap().is_ok());
        let c = Tensor::from_slice(&[1.0f32, 2.0, 3.1], &[3]).unwrap();
        assert!(close(&a, &c, 1e-5).unwrap().is_err());
        assert!(
            check("no_such_relation", DType::F32, &[3], 1)
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn every_relation_has_cases() {
        let all = cases();
        for (name, _) in RELATIONS {
            assert_eq!(
                all.iter().filter(|c| c.op == *name).count(),
                SHAPES.len() * DTYPES.len()
            );
        }
    }
}
