//! `promote_types` and `result_type` against a table taken from PyTorch
//! (`conformance/oracle/type_promotion.py` wrote `data/type_promotion.json`).

use ft_core::{DType, Operand, Scalar, promote_types, result_type};
use serde_json::Value;

fn dtype(name: &str) -> DType {
    DType::parse(name).unwrap_or_else(|| panic!("unknown dtype {name} in fixture"))
}

fn scalar(kind: &str) -> Scalar {
    match kind {
        "bool" => Scalar::Bool(true),
        "int" => Scalar::Int(2),
        "float" => Scalar::Float(2.5),
        other => panic!("unknown scalar kind {other}"),
    }
}

#[test]
fn result_type_matches_pytorch_table() {
    let text = include_str!("data/type_promotion.json");
    let root: Value = serde_json::from_str(text).expect("fixture is JSON");
    let cases = root["cases"].as_array().expect("cases");
    assert_eq!(
        cases.len(),
        304,
        "fixture covers every pair and scalar kind"
    );
    let mut failures = Vec::new();
    for c in cases {
        let (kind, a, b) = (
            c["kind"].as_str().unwrap(),
            c["a"].as_str().unwrap(),
            c["b"].as_str().unwrap(),
        );
        let expected = dtype(c["result"].as_str().unwrap());
        let got = match kind {
            "promote_types" => promote_types(dtype(a), dtype(b)),
            "tensor_tensor" => {
                result_type(&[Operand::Tensor(dtype(a)), Operand::Tensor(dtype(b))]).unwrap()
            }
            "tensor_zerodim" => {
                result_type(&[Operand::Tensor(dtype(a)), Operand::ZeroDim(dtype(b))]).unwrap()
            }
            "zerodim_zerodim" => {
                result_type(&[Operand::ZeroDim(dtype(a)), Operand::ZeroDim(dtype(b))]).unwrap()
            }
            "tensor_scalar" => {
                result_type(&[Operand::Tensor(dtype(a)), Operand::Scalar(scalar(b))]).unwrap()
            }
            "zerodim_scalar" => {
                result_type(&[Operand::ZeroDim(dtype(a)), Operand::Scalar(scalar(b))]).unwrap()
            }
            other => panic!("unknown case kind {other}"),
        };
        if got != expected {
            failures.push(format!("{kind}({a}, {b}): expected {expected}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn result_type_of_nothing_is_none() {
    assert_eq!(result_type(&[]), None);
}
