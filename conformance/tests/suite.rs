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
        // Every op: empty operands, size-1 dims, non-contiguous views, 0-stride
        // expanded operands; every op over a float tensor: NaN, inf, -0.0.
        for edge in [
            "edge_empty",
            "edge_size1",
            "edge_noncontig",
            "edge_expanded",
        ] {
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

#[test]
fn every_packet_is_present_and_covers_its_rules() {
    let all = cases(None).unwrap();
    let count = |prefix: &str| {
        all.iter()
            .filter(|c| c.scenario_id.starts_with(prefix))
            .count()
    };
    for (packet, min) in [
        ("001/", 600),
        ("002/", 400),
        ("003/", 160),
        ("004/", 70),
        ("005/", 1000),
        ("006/", 12),
        ("007/", 15),
        ("008/", 15),
        ("009/", 100),
    ] {
        assert!(
            count(packet) >= min,
            "packet {packet}: {} cases",
            count(packet)
        );
    }
    // Type promotion: every ordered pair of the 8 dtypes, through add.
    for a in [
        "bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64",
    ] {
        for b in [
            "bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64",
        ] {
            let id = format!("001/promote/add.Tensor/{a}_{b}");
            assert!(all.iter().any(|c| c.scenario_id == id), "no case {id}");
        }
    }
    // Every schema op's PyTorch schema is checked (003), and the engine
    // packets have their adversarial side.
    for op in Op::ALL {
        let id = format!("003/{}/pytorch_schema", op.name());
        assert!(all.iter().any(|c| c.scenario_id == id), "no case {id}");
    }
    for prefix in [
        "001/view/",
        "002/keyset/",
        "003/malformed/",
        "006/",
        "007/",
        "008/",
    ] {
        assert!(
            all.iter()
                .any(|c| c.scenario_id.starts_with(prefix) && c.expect.get("error").is_some()),
            "no error case under {prefix}"
        );
    }
}
