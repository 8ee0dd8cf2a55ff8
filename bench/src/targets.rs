//! The speed targets of bench/TARGETS.md (copied from the project brief):
//! at 2 threads a fixed figure per id; at 1 thread at least PyTorch's own
//! 1-thread figure measured in the same run.

use crate::suite::Figure;

/// (id, comparison ">=" or "<=", value) parsed from the markdown table.
pub type Target = (String, String, f64);

pub fn load() -> Vec<Target> {
    parse(include_str!("../TARGETS.md"))
}

pub fn parse(md: &str) -> Vec<Target> {
    md.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| id") && !l.starts_with("|---"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | id | PyTorch 1T | PyTorch 2T | best Rust 2T | target 2T | unit |
            let id = cells.get(1)?.to_string();
            let t = cells.get(5)?;
            let (op, v) = if let Some(v) = t.strip_prefix(">=") {
                (">=", v)
            } else if let Some(v) = t.strip_prefix("<=") {
                ("<=", v)
            } else {
                return None;
            };
            Some((id, op.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The target text and a status for one measurement. At one thread the
/// bar is PyTorch: judged by `paired`, the median of the per-round ratios
/// (ours over PyTorch's, higher is better, each round's two measurements
/// taken back to back) when the run has rounds, else by the two medians.
/// The paired ratio is the fairer test on a machine whose speed drifts: a
/// row whose median figures straddle PyTorch's by luck of the phases no
/// longer reads "ok" beside a ratio under 1. Which way is faster comes from
/// the id's `figure` at one thread and from its target's comparison at two;
/// the two agree for every id (test `targets_compare_the_way_figures_improve`).
pub fn judge(
    targets: &[Target],
    id: &str,
    figure: Figure,
    threads: usize,
    ours: f64,
    torch: Option<f64>,
    paired: Option<f64>,
) -> (String, String) {
    if threads == 1 {
        let share = match (paired, torch) {
            (Some(r), _) => r,
            (None, Some(t)) if figure.lower_is_better() => t / ours,
            (None, Some(t)) => ours / t,
            (None, None) => return ("≥ PyTorch 1T".into(), "no PyTorch figure".into()),
        };
        return (
            "≥ PyTorch 1T".into(),
            if share >= 1.0 {
                "ok".into()
            } else {
                format!("MISS ({:.0}%)", 100.0 * share)
            },
        );
    }
    match targets.iter().find(|t| t.0 == id) {
        Some((_, op, v)) => {
            let ok = if op == ">=" { ours >= *v } else { ours <= *v };
            let pct = if op == ">=" { ours / v } else { v / ours };
            (
                format!("{op} {v}"),
                if ok {
                    "ok".into()
                } else {
                    format!("MISS ({:.0}%)", 100.0 * pct)
                },
            )
        }
        None => ("-".into(), "-".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_has_a_target() {
        let t = load();
        for w in crate::suite::all() {
            assert!(t.iter().any(|x| x.0 == w.id), "{} has no target", w.id);
        }
        assert!(
            t.iter()
                .any(|x| x.0 == "small_add_latency" && x.1 == "<=" && x.2 == 50.0)
        );
    }

    /// A target reads `<=` exactly where its workload's figure improves
    /// downwards, so the 1T and 2T verdicts agree on which way is faster.
    #[test]
    fn targets_compare_the_way_figures_improve() {
        let t = load();
        for w in crate::suite::all() {
            let op = &t.iter().find(|x| x.0 == w.id).expect("a target").1;
            assert_eq!(
                op == "<=",
                w.figure.lower_is_better(),
                "{}: target {op} but figure {}",
                w.id,
                w.figure.unit()
            );
        }
    }

    /// The status `judge` gives.
    fn status(
        id: &str,
        figure: Figure,
        threads: usize,
        ours: f64,
        torch: f64,
        paired: Option<f64>,
    ) -> String {
        judge(&load(), id, figure, threads, ours, Some(torch), paired).1
    }

    #[test]
    fn judge_marks_misses() {
        assert_eq!(
            status("add_f32_16m", Figure::GBps, 2, 31.0, 7.7, None),
            "ok"
        );
        assert!(status("add_f32_16m", Figure::GBps, 2, 15.0, 7.7, None).starts_with("MISS"));
        assert!(status("add_f32_16m", Figure::GBps, 1, 4.0, 5.3, None).starts_with("MISS"));
        // Lower is better for latencies: 60 ns against PyTorch's 1000 is ok.
        let latency = status("small_add_latency", Figure::NsPerOp, 1, 60.0, 1000.0, None);
        assert_eq!(latency, "ok");
    }

    /// At one thread the paired per-round ratio decides, not the medians.
    #[test]
    fn judge_takes_the_paired_ratio_at_one_thread() {
        // Medians say ahead (25.8 vs 24.9), the rounds say behind.
        let behind = status("sum_f32_16m", Figure::GBps, 1, 25.8, 24.9, Some(0.90));
        assert_eq!(behind, "MISS (90%)");
        // Medians say behind, the rounds say ahead.
        let ahead = status("sum_f32_16m", Figure::GBps, 1, 24.0, 24.9, Some(1.02));
        assert_eq!(ahead, "ok");
        // The 2T verdict is the absolute target's either way.
        let two = status("sum_f32_16m", Figure::GBps, 2, 50.0, 60.0, Some(0.8));
        assert_eq!(two, "ok");
    }
}
