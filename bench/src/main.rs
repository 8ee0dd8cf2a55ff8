//! `ft-bench`: the benchmark suite report (see bench/WORKLOADS.md).
//!
//! Usage: `ft-bench run [--filter SUBSTRING]`, `ft-bench list`.

mod suite;

use std::process::ExitCode;
use suite::SUITE;

fn usage() -> ExitCode {
    eprintln!("usage: ft-bench run [--filter SUBSTRING] | ft-bench list");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = match args.iter().position(|a| a == "--filter") {
        Some(i) => match args.get(i + 1) {
            Some(f) => Some(f.as_str()),
            None => return usage(),
        },
        None => None,
    };
    match args.first().map(String::as_str) {
        Some("run") | Some("list") | None => {
            print_suite(filter);
            ExitCode::SUCCESS
        }
        Some(_) => usage(),
    }
}

fn print_suite(filter: Option<&str>) {
    println!("FrankenTorch benchmark suite v1 (bench/WORKLOADS.md)\n");
    println!("| id | op | shapes | figure | status |");
    println!("|---|---|---|---|---|");
    let mut measured = 0;
    for w in SUITE
        .iter()
        .filter(|w| filter.is_none_or(|f| w.id.contains(f)))
    {
        let status = match w.needs {
            Some(issue) => format!("not implemented yet: needs {issue}"),
            None => {
                measured += 1;
                "implemented".to_string()
            }
        };
        println!(
            "| {} | {} | {} | {} | {status} |",
            w.id,
            w.op,
            w.shapes,
            w.figure.unit()
        );
    }
    println!("\n{measured} workload(s) can be measured in this build.");
}
