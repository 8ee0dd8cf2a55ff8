//! `ft-conformance`: runs the PyTorch fixtures through FrankenTorch.
//!
//! ```text
//! ft-conformance run [--mode strict|hardened|both] [--packet P] [--out FILE]
//! ft-conformance replay SCENARIO_ID [--mode strict|hardened]
//! ft-conformance repair REPORT [--out FILE]
//! ```
//! `run` also writes the report's RaptorQ repair sidecar (`REPORT.raptorq`,
//! repair symbols worth 25% of the report) and a decode proof
//! (`REPORT.decode_proof.json`: 20% of the source symbols dropped, the
//! report rebuilt from the rest and the sidecar, both SHA-256s). `repair`
//! rebuilds a damaged report from its sidecar.
//! `run` writes one JSON line per case (to FILE, default
//! `target/conformance/results.jsonl`), prints a summary per packet and
//! mode, and exits non-zero when a case fails in Strict mode (strict drift
//! must be 0). `replay` re-runs one case and prints its inputs, PyTorch's
//! result, ours and the ledger entry.

use ft_conformance::{cases, excluded, json_line, run_case, sidecar};
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

/// The share of repair symbols the sidecar carries, and the share of
/// source symbols the decode proof drops (with its seed).
const REPAIR_SHARE: f64 = 0.25;
const PROOF_DROP: f64 = 0.2;
const PROOF_SEED: u64 = 0x5eed;

/// Writes `REPORT.raptorq` and `REPORT.decode_proof.json`; the summary
/// line, or why not.
fn write_sidecar(report: &str) -> Result<String, String> {
    let data = std::fs::read(report).map_err(|e| format!("cannot read {report}: {e}"))?;
    let car = sidecar::encode(&data, REPAIR_SHARE).map_err(|e| e.to_string())?;
    let car_path = format!("{report}.raptorq");
    std::fs::write(&car_path, &car).map_err(|e| format!("cannot write {car_path}: {e}"))?;
    let proof = sidecar::prove(&data, &car, PROOF_DROP, PROOF_SEED).map_err(|e| e.to_string())?;
    let mut j = proof.to_json();
    j["report"] = report.into();
    j["sidecar"] = car_path.clone().into();
    let proof_path =
        report.strip_suffix(".jsonl").unwrap_or(report).to_string() + ".decode_proof.json";
    std::fs::write(&proof_path, format!("{j:#}\n"))
        .map_err(|e| format!("cannot write {proof_path}: {e}"))?;
    if !proof.matched {
        return Err(format!("decode proof failed: see {proof_path}"));
    }
    Ok(format!(
        "sidecar {car_path}: {} repair symbols for {}; decode proof {proof_path}: {} of {} source symbols dropped, rebuilt sha256 {} matches",
        proof.repair_symbols,
        proof.source_symbols,
        proof.dropped_symbols.len(),
        proof.source_symbols,
        &proof.rebuilt_sha256[..16]
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let usage = "usage: ft-conformance run [--mode strict|hardened|both] [--packet P] [--out FILE]\n       ft-conformance replay SCENARIO_ID [--mode strict|hardened]\n       ft-conformance repair REPORT [--out FILE]";
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
                        (false, None) => s.fail.push(format!(
                            "{}: {}\n      replay: cargo run -q -p ft-conformance -- replay {} --mode {name}",
                            c.scenario_id, o.detail, c.scenario_id
                        )),
                    }
                }
            }
            let _ = file.flush();
            drop(file);
            match write_sidecar(&out) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("ft-conformance: sidecar: {e}");
                    return ExitCode::FAILURE;
                }
            }
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
                for (id, why) in excluded(packet) {
                    println!("  excluded by the generator: {id}: {why}");
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
        Some("repair") => {
            let Some(report) = args.get(1) else {
                eprintln!("{usage}");
                return ExitCode::from(2);
            };
            let to = get("--out").unwrap_or_else(|| report.clone());
            let r = std::fs::read(format!("{report}.raptorq"))
                .map_err(|e| e.to_string())
                .and_then(|car| {
                    let damaged = std::fs::read(report).unwrap_or_default();
                    sidecar::repair(&damaged, &car).map_err(|e| e.to_string())
                })
                .and_then(|data| std::fs::write(&to, data).map_err(|e| e.to_string()));
            match r {
                Ok(()) => {
                    println!("rebuilt {report} from {report}.raptorq into {to}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ft-conformance: repair: {e}");
                    ExitCode::FAILURE
                }
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
