//! The conformance suite as a test: every case of every packet matches
//! PyTorch in Strict mode (strict drift 0) and in Hardened mode, and the
//! fixtures cover every op of the schema.

use ft_conformance::{cases, no_failing_input, run_case};
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
            if !o.pass && o.allowlisted.is_none() {
                fails.push(format!("{:?} {}: {}", m, c.scenario_id, o.detail));
            }
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn every_op_has_nominal_edge_and_adversarial_cases() {
    let all = cases(None).unwrap();
    let scenarios: BTreeSet<&str> = all.iter().map(|c| c.scenario_id.as_str()).collect();
    let kinds = |k: &str| -> BTreeSet<String> {
        all.iter()
            .filter(|c| c.kind == k)
            .map(|c| c.op.clone())
            .collect()
    };
    let (nominal, adversarial) = (kinds("nominal"), kinds("adversarial"));
    let excused = no_failing_input("005").unwrap();
    for op in Op::ALL {
        let name = op.name();
        assert!(nominal.contains(name), "no nominal case for {name}");
        // Every op: empty operands, non-contiguous views and 0-stride
        // expanded operands; every op over a float tensor: NaN, inf, -0.0.
        for edge in ["edge_empty", "edge_noncontig", "edge_expanded"] {
            let id = format!("005/{name}/{edge}");
            assert!(scenarios.contains(id.as_str()), "no case {id}");
        }
        if !matches!(
            op,
            Op::LogicalAnd | Op::LogicalOr | Op::LogicalXor | Op::Where
        ) {
            let id = format!("005/{name}/edge_nonfinite");
            assert!(scenarios.contains(id.as_str()), "no case {id}");
        }
        // Where PyTorch can fail, an adversarial case (an error expected).
        assert!(
            adversarial.contains(name) || excused.iter().any(|e| e == name),
            "no adversarial case for {name}, and PyTorch is not recorded as never failing"
        );
    }
    assert!(excused.len() < Op::ALL.len() / 3, "{excused:?}");
    // Packet 004: the gradient of every op PyTorch differentiates here.
    let grads = all.iter().filter(|c| c.packet_id == "004").count();
    assert!(grads >= 70, "only {grads} gradient cases");
    // Adversarial cases expect an error (that is what makes them one).
    for c in all.iter().filter(|c| c.kind == "adversarial") {
        assert!(c.expect.get("error").is_some(), "{}", c.scenario_id);
    }
}
