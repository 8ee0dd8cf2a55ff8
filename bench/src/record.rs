//! `record` writes a run with its machine fingerprint; `compare` reads two
//! and says whether the faster one computes the same thing.

use crate::measure::Measurement;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fingerprint {
    pub cpu: String,
    /// Vendor, family and model from CPUID (`ft_kernels::cpu`): "AMD EPYC"
    /// names both Zen 4 and Zen 5. Absent in records made before it was
    /// kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cpu_id: String,
    /// How far ahead f32 sums prefetched, in elements (0: not at all;
    /// `ft_kernels::ops::reduce::sum_prefetch`); absent in records made
    /// before it was kept (those from 2026-11-20 on, `kernels-v10`, used
    /// 1024 then 2048 on every processor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_prefetch: Option<usize>,
    /// The ISA f32 row sums ran on (`ft_kernels::ops::reduce::sum_isa`:
    /// AVX2 on an AVX-512 Zen 4 from `kernels-v16`); absent in records made
    /// before it was kept (their sums ran on `isa`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sum_isa: String,
    /// Whether the transposed walk prefetched its gathered operand, with
    /// the small tile (`ft_kernels::iter::gather_prefetch`); absent in
    /// records made before it was kept (those prefetched on every
    /// processor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather_prefetch: Option<bool>,
    pub isa: String,
    /// How bf16 products ran (`Amx`, `Dot`, `Widen`); absent in records
    /// made before it was kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bf16_path: String,
    pub threads_available: usize,
    pub commit: String,
    pub unix_time: u64,
    pub command: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub label: String,
    pub fingerprint: Fingerprint,
    pub results: Vec<Measurement>,
    /// Whole-process timings by hyperfine of `ft-bench run --filter ID`
    /// (present when hyperfine is installed).
    #[serde(default)]
    pub hyperfine: Vec<serde_json::Value>,
}

pub fn runs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../perf-artifacts/runs")
}

/// The processor's model name from /proc/cpuinfo (else the architecture).
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// What the tables' headers say of the machine and the paths taken, e.g.
/// "AMD EPYC (AuthenticAMD family 0x19 model 0x11; avx512 ISA, bf16
/// products: Dot, sums on avx2, sum prefetch: 0, gather prefetch: true)": the
/// fingerprint's machine fields, without its git calls.
pub fn machine() -> String {
    format!(
        "{} ({}; {} ISA, bf16 products: {:?}, sums on {}, sum prefetch: {}, gather prefetch: {})",
        cpu_name(),
        ft_kernels::cpu::cpu(),
        ft_kernels::isa(),
        ft_kernels::gemm::bf16_path(),
        ft_kernels::ops::reduce::sum_isa(),
        ft_kernels::ops::reduce::sum_prefetch(),
        ft_kernels::iter::gather_prefetch()
    )
}

pub fn fingerprint() -> Fingerprint {
    let cpu = cpu_name();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    Fingerprint {
        cpu,
        cpu_id: ft_kernels::cpu::cpu().to_string(),
        sum_prefetch: Some(ft_kernels::ops::reduce::sum_prefetch()),
        sum_isa: ft_kernels::ops::reduce::sum_isa().name().to_string(),
        gather_prefetch: Some(ft_kernels::iter::gather_prefetch()),
        isa: ft_kernels::isa().name().to_string(),
        bf16_path: format!("{:?}", ft_kernels::gemm::bf16_path()),
        threads_available: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        commit: if dirty {
            format!("{commit}+dirty")
        } else {
            commit
        },
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

pub fn load(path: &Path) -> Result<Record, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A label or a path: labels resolve to `perf-artifacts/runs/LABEL.json`.
pub fn resolve(arg: &str) -> PathBuf {
    let p = PathBuf::from(arg);
    if p.extension().is_some() || p.exists() {
        p
    } else {
        runs_dir().join(format!("{arg}.json"))
    }
}

/// Whether two outputs are the same: identical bytes, or (for ops with a
/// stated tolerance) sums within it. Exact ops (add, sum of the same
/// order) must match bytewise.
pub fn same_output(id: &str, a: &Measurement, b: &Measurement) -> (bool, &'static str) {
    if a.checksum == b.checksum {
        return (true, "identical");
    }
    if a.out_numel != b.out_numel || a.out_dtype != b.out_dtype {
        return (false, "DIFFERENT SHAPE/DTYPE");
    }
    // Transcendentals are bounded in ulp (kernels/src/math.rs), reductions
    // may reassociate across ISAs: allow a relative 1e-5 of the abs sum.
    let tol_ok = !id.starts_with("add_");
    let scale = a.out_abs_sum.max(b.out_abs_sum).max(1e-30);
    if tol_ok && (a.out_sum - b.out_sum).abs() <= 1e-5 * scale {
        return (true, "within tolerance");
    }
    (false, "OUTPUT CHANGED")
}

/// The before/after table, and whether every output is the same.
pub fn compare(a: &Record, b: &Record) -> (String, bool, Vec<(String, f64)>) {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "before: `{}` ({}), after: `{}` ({})\n",
        a.label, a.fingerprint.commit, b.label, b.fingerprint.commit
    );
    let _ = writeln!(
        md,
        "| id | threads | before | after | unit | ratio | output |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let mut ok = true;
    let mut ratios = Vec::new();
    for mb in &b.results {
        let Some(ma) = a
            .results
            .iter()
            .find(|m| m.id == mb.id && m.threads == mb.threads)
        else {
            continue;
        };
        // Higher is better except for latencies.
        let lower_better = mb.unit.contains("ns") || mb.unit.contains("µs");
        let ratio = if lower_better {
            ma.value / mb.value
        } else {
            mb.value / ma.value
        };
        let (same, verdict) = same_output(&mb.id, ma, mb);
        ok &= same;
        ratios.push((format!("{} {}T", mb.id, mb.threads), ratio));
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | {} | {:.2}x | {} |",
            mb.id, mb.threads, ma.value, mb.value, mb.unit, ratio, verdict
        );
    }
    let _ = writeln!(
        md,
        "\nverdict: {}",
        if ok {
            "same outputs"
        } else {
            "FAILURE: an output changed"
        }
    );
    (md, ok, ratios)
}

/// A horizontal bar chart of speed ratios (1.0 marked).
pub fn svg(ratios: &[(String, f64)], title: &str) -> String {
    let row = 22.0;
    let left = 230.0;
    let width = 420.0;
    let max = ratios.iter().map(|r| r.1).fold(2.0f64, f64::max).min(50.0);
    let h = 40.0 + row * ratios.len() as f64;
    let x = |v: f64| left + width * v.min(max) / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" font-family=\"monospace\" font-size=\"12\">\n<text x=\"10\" y=\"18\">{}</text>\n",
        left + width + 80.0,
        xml(title)
    );
    for (i, (name, r)) in ratios.iter().enumerate() {
        let y = 30.0 + row * i as f64;
        let color = if *r >= 1.0 { "#3a7" } else { "#c44" };
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{}\">{}</text><rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"16\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{}\">{r:.2}x</text>",
            y + 12.0,
            xml(name),
            x(*r) - left,
            x(*r) + 4.0,
            y + 12.0
        );
    }
    let one = x(1.0);
    let _ = writeln!(
        s,
        "<line x1=\"{one}\" y1=\"26\" x2=\"{one}\" y2=\"{h}\" stroke=\"#000\" stroke-dasharray=\"3\"/>\n</svg>"
    );
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, checksum: &str, sum: f64) -> Measurement {
        Measurement {
            id: id.into(),
            threads: 1,
            runs: 20,
            median_ns: 1e6,
            min_ns: 1e6,
            value: 10.0,
            unit: "GB/s".into(),
            checksum: checksum.into(),
            out_sum: sum,
            out_abs_sum: 100.0,
            out_numel: 4,
            out_dtype: "float32".into(),
            reference_us: 190.0,
        }
    }

    fn rec(label: &str, ms: Vec<Measurement>) -> Record {
        Record {
            label: label.into(),
            fingerprint: fingerprint(),
            results: ms,
            hyperfine: vec![],
        }
    }

    #[test]
    fn compare_detects_a_changed_output() {
        let a = rec("a", vec![m("add_f32_256k", "00ff", 1.0)]);
        let b = rec("b", vec![m("add_f32_256k", "0f0f", 1.0)]);
        let (md, ok, _) = compare(&a, &b);
        assert!(!ok, "{md}");
        assert!(md.contains("OUTPUT CHANGED"));
    }

    #[test]
    fn compare_accepts_identical_and_tolerated_outputs() {
        let a = rec(
            "a",
            vec![m("add_f32_256k", "00ff", 1.0), m("exp_f32_4m", "aa", 50.0)],
        );
        let b = rec(
            "b",
            vec![
                m("add_f32_256k", "00ff", 1.0),
                m("exp_f32_4m", "bb", 50.0 + 1e-6),
            ],
        );
        let (md, ok, ratios) = compare(&a, &b);
        assert!(ok, "{md}");
        assert_eq!(ratios.len(), 2);
        // Beyond the tolerance it fails.
        let c = rec("c", vec![m("exp_f32_4m", "cc", 51.0)]);
        assert!(!compare(&a, &c).1);
    }

    #[test]
    fn svg_is_well_formed() {
        let s = svg(&[("x 1T".into(), 2.0), ("y <2T>".into(), 0.5)], "t");
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("&lt;2T&gt;"));
    }
}
