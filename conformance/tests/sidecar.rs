//! The RaptorQ sidecar: a report rebuilds exactly after losing up to the
//! repair share of its symbols, fails cleanly past it, and a damaged or
//! foreign sidecar is an error, never a panic.

use ft_conformance::sidecar::{encode, prove, repair};

fn report(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("{{\"scenario_id\": \"case-{i}\", \"outcome\": \"pass\"}}\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn proof_rebuilds_the_report_after_dropping_a_fifth_of_its_symbols() {
    let r = report(4_000);
    let car = encode(&r, 0.25).unwrap();
    for seed in 0..3 {
        let p = prove(&r, &car, 0.2, seed).unwrap();
        assert!(p.matched);
        assert_eq!(p.report_sha256, p.rebuilt_sha256);
        assert_eq!(
            p.dropped_symbols.len(),
            (p.source_symbols as f64 * 0.2).round() as usize
        );
        assert!(p.repair_symbols >= p.dropped_symbols.len());
    }
    // Dropping more than the sidecar can repair is an error.
    assert!(prove(&r, &car, 0.5, 1).is_err());
}

#[test]
fn a_damaged_or_truncated_report_is_repaired() {
    let r = report(5_000);
    let car = encode(&r, 0.3).unwrap();
    let mut d = r.clone();
    let n = d.len();
    d[n / 3..n / 3 + n / 10].fill(b'#');
    assert_eq!(repair(&d, &car).unwrap(), r);
    assert_eq!(repair(&r[..n - n / 5], &car).unwrap(), r);
    assert!(repair(&[], &car).is_err());
}

#[test]
fn tiny_and_empty_reports() {
    for r in [Vec::new(), b"x".to_vec(), report(1)] {
        let car = encode(&r, 0.25).unwrap();
        assert!(prove(&r, &car, 0.0, 3).unwrap().matched);
        assert_eq!(repair(&r, &car).unwrap(), r);
    }
}

#[test]
fn corrupt_sidecars_are_errors() {
    let r = report(500);
    let car = encode(&r, 0.25).unwrap();
    for cut in [0, 3, 5, 17, 30, 60, car.len() - 1] {
        assert!(repair(&r, &car[..cut]).is_err(), "cut at {cut}");
    }
    let mut magic = car.clone();
    magic[0] ^= 1;
    assert!(repair(&r, &magic).is_err());
    let mut trailing = car.clone();
    trailing.push(0);
    assert!(repair(&r, &trailing).is_err());
    // A flipped bit in the recorded hash: the rebuilt report fails it.
    let mut hash = car.clone();
    hash[5 + 12 + 8] ^= 1;
    assert!(repair(&r, &hash).is_err());
    assert!(encode(&r, -1.0).is_err());
    assert!(prove(&r, &car, 1.5, 0).is_err());
}

#[test]
fn any_flipped_byte_of_the_sidecar_is_an_error_or_a_correct_rebuild() {
    let r = report(300);
    let car = encode(&r, 0.25).unwrap();
    let mut damaged_report = r.clone();
    damaged_report[100..400].fill(0);
    for i in (0..car.len()).step_by(7) {
        let mut c = car.clone();
        c[i] ^= 0x5a;
        // Never a panic, never a wrong report.
        if let Ok(back) = repair(&damaged_report, &c) {
            assert_eq!(back, r, "byte {i}");
        }
    }
}
