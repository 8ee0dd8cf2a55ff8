//! The conformance suite as a test: every case of every packet matches
//! PyTorch in Strict mode (strict drift 0) and in Hardened mode, and the
//! fixtures cover every op of the schema.

use ft_conformance::{cases, run_case};
use ft_dispatch::{Mode, Op};
use std::collections::BTreeSet;

#[test]
fn every_case_matches_pytorch_in_both_modes() {
    ft_dispatch::ledger::enable(64);
    let all = cases(None).unwrap();
    assert!(all.len() > 300);
    let mut fails = Vec::new();
    for m in [Mode::Strict, Mode::Hardened] {
        for c in &all {
            let o = run_case(c, m);
            if !o.pass {
                fails.push(format!("{:?} {}: {}", m, c.scenario_id, o.detail));
            }
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn every_op_has_a_nominal_case_and_float_ops_an_edge_case() {
    let all = cases(None).unwrap();
    let kinds = |k: &str| -> BTreeSet<String> {
        all.iter()
            .filter(|c| c.kind == k)
            .map(|c| c.op.clone())
            .collect()
    };
    let (nominal, edge) = (kinds("nominal"), kinds("edge"));
    let adversarial = kinds("adversarial");
    for op in Op::ALL {
        assert!(
            nominal.contains(op.name()),
            "no nominal case for {}",
            op.name()
        );
        if !matches!(
            op,
            Op::LogicalAnd | Op::LogicalOr | Op::LogicalXor | Op::Where
        ) {
            assert!(edge.contains(op.name()), "no edge case for {}", op.name());
        }
    }
    // Packet 004: the gradient of every op PyTorch differentiates here.
    let grads = all.iter().filter(|c| c.packet_id == "004").count();
    assert!(grads >= 70, "only {grads} gradient cases");
    // Every op over two tensors that must broadcast or chain has a shape
    // error case.
    for name in [
        "add.Tensor",
        "mul.Tensor",
        "maximum",
        "mm",
        "bmm",
        "matmul",
        "dot",
        "mv",
        "eq.Tensor",
    ] {
        assert!(adversarial.contains(name), "no adversarial case for {name}");
    }
}
