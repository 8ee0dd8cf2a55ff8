//! `ft-conformance`: runs the PyTorch fixtures through FrankenTorch.
//!
//! ```text
//! ft-conformance run [--mode strict|hardened|both] [--packet P] [--out FILE]
//! ft-conformance replay SCENARIO_ID [--mode strict|hardened]
//! ```
//! `run` writes one JSON line per case (to FILE, default
//! `target/conformance/results.jsonl`), prints a summary per packet and
//! mode, and exits non-zero when a case fails in Strict mode (strict drift
//! must be 0). `replay` re-runs one case and prints its inputs, PyTorch's
//! result, ours and the ledger entry.

use ft_conformance::{cases, json_line, run_case};
use ft_dispatch::{Mode, ledger};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

fn modes(s: &str) -> Option<Vec<Mode>> {
    match s {
        "strict" => Some(vec![Mode::Strict]),
        "hardened" => Some(vec![Mode::Hardened]),
        "both" => Some(vec![Mode::Strict, Mode::Hardened]),
        _ => None,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let usage = "usage: ft-conformance run [--mode strict|hardened|both] [--packet P] [--out FILE]\n       ft-conformance replay SCENARIO_ID [--mode strict|hardened]";
    ledger::enable(64);
    match args.first().map(String::as_str) {
        Some("run") => {
            let Some(ms) = modes(&get("--mode").unwrap_or_else(|| "both".into())) else {
                eprintln!("{usage}");
                return ExitCode::from(2);
            };
            let packet = get("--packet");
            let all = match cases(packet.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("ft-conformance: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let out = get("--out").unwrap_or_else(|| "target/conformance/results.jsonl".into());
            if let Some(dir) = std::path::Path::new(&out).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let mut file = match std::fs::File::create(&out) {
                Ok(f) => std::io::BufWriter::new(f),
                Err(e) => {
                    eprintln!("ft-conformance: cannot write {out}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            #[derive(Default)]
            struct Tally {
                pass: usize,
                fail: Vec<String>,
                allowlisted: Vec<String>,
            }
            let mut summary: BTreeMap<(String, &str), Tally> = BTreeMap::new();
            for &m in &ms {
                let name = if m == Mode::Strict {
                    "strict"
                } else {
                    "hardened"
                };
                for c in &all {
                    let o = run_case(c, m);
                    let line = json_line(c, m, &o);
                    let _ = writeln!(file, "{line}");
                    let s = summary.entry((c.packet_id.clone(), name)).or_default();
                    match (o.pass, o.allowlisted) {
                        (true, _) => s.pass += 1,
                        (false, Some(code)) => s
                            .allowlisted
                            .push(format!("{} [{code}]: {}", c.scenario_id, o.detail)),
                        (false, None) => s.fail.push(format!("{}: {}", c.scenario_id, o.detail)),
                    }
                }
            }
            let _ = file.flush();
            let (mut strict_drift, mut hardened_fail) = (0, 0);
            for ((packet, mode), t) in &summary {
                println!(
                    "packet {packet} {mode}: {} pass, {} fail, {} allowlisted drift",
                    t.pass,
                    t.fail.len(),
                    t.allowlisted.len()
                );
                for f in t.fail.iter().take(20) {
                    println!("  FAIL {f}");
                }
                for a in &t.allowlisted {
                    println!("  allowlisted {a}");
                }
                if *mode == "strict" {
                    strict_drift += t.fail.len();
                } else {
                    hardened_fail += t.fail.len();
                }
            }
            println!(
                "strict drift: {strict_drift}; hardened failures outside the allowlist: {hardened_fail}; results in {out}"
            );
            if strict_drift == 0 && hardened_fail == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some("replay") => {
            let Some(id) = args.get(1) else {
                eprintln!("{usage}");
                return ExitCode::from(2);
            };
            let m = modes(&get("--mode").unwrap_or_else(|| "strict".into()))
                .and_then(|v| v.first().copied())
                .unwrap_or(Mode::Strict);
            let all = cases(None).unwrap_or_default();
            let Some(c) = all.iter().find(|c| &c.scenario_id == id) else {
                eprintln!("ft-conformance: no scenario {id}");
                return ExitCode::FAILURE;
            };
            let o = run_case(c, m);
            println!(
                "scenario {id} ({} case of {}, seed {})",
                c.kind, c.op, c.seed
            );
            println!("inputs:   {}", serde_json::Value::Array(c.args.clone()));
            println!("expected: {}", c.expect);
            println!("actual:   {}", o.actual);
            println!(
                "ledger:   {}",
                o.decision.map_or("none".to_string(), |d| d.to_json())
            );
            println!("outcome:  {} {}", o.verdict(), o.detail);
            if o.pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("{usage}");
            ExitCode::from(2)
        }
    }
}
