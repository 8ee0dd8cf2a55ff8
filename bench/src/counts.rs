//! Instruction counts: the CI gate's measure (`ft-bench gate`).
//!
//! Wall-clock time on a shared 2-core machine moves by up to 2x from run to
//! run; the number of instructions a kernel executes does not. Each entry of
//! [`COUNTED`] is a key kernel at a fixed size, run once on one thread under
//! `valgrind --tool=callgrind`, which counts only what runs inside
//! [`ft_bench_measured`] (`--toggle-collect`): input set-up, thread-pool start and
//! the first call (lazy ISA detection) are outside the count.
//!
//! Valgrind hides AVX-512 from the program, so these are the counts of the
//! AVX2 path (or of whatever lower path `FT_ISA` forces: a forced scalar
//! path is the gate's deliberate-slowdown check, see `scripts/gate.sh`).
//!
//! The committed baseline is `bench/baseline/instructions.json`; it changes
//! only through `ft-bench gate --update`, in a commit that says why.

use crate::suite::{Call, add_call, input, softmax_call, sum_call, unary_call};
use ft_kernels::{BinaryOp, UnaryOp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One kernel at a fixed size whose instruction count the gate tracks.
pub struct Counted {
    pub id: &'static str,
    pub what: &'static str,
    pub setup: fn() -> Call,
}

/// The tracked kernels: the suite's elementwise, reduction and softmax ops,
/// GEMM, and the dispatch path, at sizes callgrind runs in well under a
/// second.
pub const COUNTED: &[Counted] = &[
    Counted {
        id: "add_f32_64k",
        what: "[65536] + [65536]",
        setup: || add_call(&[65_536], &[65_536], false),
    },
    Counted {
        id: "add_f32_bcast_256",
        what: "[256, 256] + [256]",
        setup: || add_call(&[256, 256], &[256], false),
    },
    Counted {
        id: "add_f32_transposed_256",
        what: "[256, 256]ᵀ + [256, 256]",
        setup: || add_call(&[256, 256], &[256, 256], true),
    },
    Counted {
        id: "mul_i32_scalar_64k",
        what: "[65536] i32 * 3",
        setup: || {
            let a = ft_kernels::cast(&input(&[65_536], 1), ft_core::DType::I32).expect("cast");
            Box::new(move || {
                ft_kernels::binary_scalar(BinaryOp::Mul, &a, ft_core::Scalar::Int(3)).expect("mul")
            })
        },
    },
    Counted {
        id: "cast_f32_bf16_64k",
        what: "[65536] f32 -> bf16",
        setup: || {
            let a = input(&[65_536], 1);
            Box::new(move || ft_kernels::cast(&a, ft_core::DType::BF16).expect("cast"))
        },
    },
    Counted {
        id: "exp_f32_64k",
        what: "exp([65536])",
        setup: || unary_call(UnaryOp::Exp, 65_536),
    },
    Counted {
        id: "tanh_f32_64k",
        what: "tanh([65536])",
        setup: || unary_call(UnaryOp::Tanh, 65_536),
    },
    Counted {
        id: "gelu_f32_64k",
        what: "gelu([65536]) (erf)",
        setup: || unary_call(UnaryOp::Gelu, 65_536),
    },
    Counted {
        id: "sum_f32_64k",
        what: "[65536].sum()",
        setup: || sum_call(&[65_536], None),
    },
    Counted {
        id: "sum_dim1_f32_256",
        what: "[256, 256].sum(dim=1)",
        setup: || sum_call(&[256, 256], Some(&[1])),
    },
    Counted {
        id: "sum_dim0_f32_256",
        what: "[256, 256].sum(dim=0)",
        setup: || sum_call(&[256, 256], Some(&[0])),
    },
    Counted {
        id: "max_dim1_f32_256",
        what: "[256, 256].max(dim=1), values and indices",
        setup: || {
            let a = input(&[256, 256], 1);
            Box::new(move || ft_kernels::max_dim(&a, 1, false).expect("max").1)
        },
    },
    Counted {
        id: "max_dim0_f32_256",
        what: "[256, 256].max(dim=0), values and indices",
        setup: || {
            let a = input(&[256, 256], 1);
            Box::new(move || ft_kernels::max_dim(&a, 0, false).expect("max").1)
        },
    },
    Counted {
        id: "sum_dim0_bf16_256",
        what: "[256, 256] bf16 .sum(dim=0) (f32 accumulators)",
        setup: || {
            let a = ft_kernels::cast(&input(&[256, 256], 1), ft_core::DType::BF16).expect("cast");
            Box::new(move || ft_kernels::sum(&a, Some(&[0]), false, None).expect("sum"))
        },
    },
    Counted {
        id: "softmax_f32_64x1024",
        what: "softmax([64, 1024], -1)",
        setup: || softmax_call(&[64, 1024]),
    },
    Counted {
        id: "mm_f32_64",
        what: "[64, 64] @ [64, 64] (GEMM, packed)",
        setup: || {
            let (a, b) = (input(&[64, 64], 1), input(&[64, 64], 2));
            Box::new(move || ft_kernels::mm(&a, &b).expect("mm"))
        },
    },
    Counted {
        id: "mm_f32_96_bt",
        what: "[96, 200] @ [96, 200]ᵀ (GEMM, transposed B, edge tiles)",
        setup: || {
            let (a, b) = (input(&[96, 200], 1), input(&[96, 200], 2));
            Box::new(move || ft_kernels::mm(&a, &b.t().expect("2-D")).expect("mm"))
        },
    },
    Counted {
        id: "mm_bf16_128",
        what: "[128, 128] @ [128, 128] bf16 (widened while packing; under valgrind, as on every processor without AVX-512 BF16)",
        setup: || {
            let bf =
                |t: ft_core::TensorImpl| ft_kernels::cast(&t, ft_core::DType::BF16).expect("cast");
            let (a, b) = (bf(input(&[128, 128], 1)), bf(input(&[128, 128], 2)));
            Box::new(move || ft_kernels::mm(&a, &b).expect("mm"))
        },
    },
    Counted {
        id: "bmm_f32_16x32",
        what: "[16, 32, 32] @ [16, 32, 32]",
        setup: || {
            let (a, b) = (input(&[16, 32, 32], 1), input(&[16, 32, 32], 2));
            Box::new(move || ft_kernels::bmm(&a, &b).expect("bmm"))
        },
    },
    Counted {
        id: "dispatch_add_16",
        what: "1000 x Tensor::add on [16] (dispatch + allocation)",
        setup: crate::suite::small_add_call,
    },
    Counted {
        id: "dispatch_add_out_16",
        what: "1000 x Tensor::add_out on [16] (dispatch, no allocation)",
        setup: crate::suite::add_out_call,
    },
    Counted {
        id: "autograd_chain_16",
        what: "100 x (x * 1.0001 + 0.001) on [16] with grad, then backward",
        setup: crate::suite::autograd_chain_call,
    },
];

/// The region callgrind counts (`--toggle-collect=ft_bench_measured`). Not
/// inlined and not mangled, so the name is stable across builds.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "Rust" fn ft_bench_measured(call: &mut Call) -> ft_core::TensorImpl {
    call()
}

/// Counted kernel `id`, set up and called once (the first call pays for
/// lazy ISA detection and thread-pool start), ready to be counted; `None`
/// for an unknown id. Also the set-up of the gungraun bench
/// (`benches/instructions.rs`).
pub fn prepared(id: &str) -> Option<Call> {
    let c = COUNTED.iter().find(|c| c.id == id)?;
    let mut call = (c.setup)();
    drop(std::hint::black_box(call()));
    Some(call)
}

/// Runs counted kernel `id` once inside the counted region; `false` for an
/// unknown id. Runs in the calling thread: the caller sets
/// `RAYON_NUM_THREADS=1` so no kernel splits its work.
pub fn run_counted(id: &str) -> bool {
    let Some(mut call) = prepared(id) else {
        return false;
    };
    drop(std::hint::black_box(ft_bench_measured(&mut call)));
    true
}

/// Counted instructions per kernel id, with where they were counted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Baseline {
    /// How the counts were made (valgrind version, ISA, rustc), for a reader
    /// wondering why a count moved.
    pub made_with: String,
    pub counts: BTreeMap<String, u64>,
}

/// `bench/baseline/instructions.json`, the committed baseline.
pub fn default_baseline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("baseline/instructions.json")
}

/// The instruction count (`Ir`) in a callgrind output file: its `totals:`
/// (or, in older valgrinds, `summary:`) line.
pub fn parse_callgrind(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Counts kernel `id` by running `exe count ID` under callgrind.
pub fn count(exe: &Path, id: &str) -> Result<u64, String> {
    let out = std::env::temp_dir().join(format!("ft-callgrind-{}-{id}.out", std::process::id()));
    let o = std::process::Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=ft_bench_measured",
            "--dump-instr=no",
            "--compress-strings=no",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["count", id])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("cannot run valgrind ({e}); scripts/setup.sh installs it"))?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    if !o.status.success() {
        return Err(format!(
            "valgrind failed on `count {id}`:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    match parse_callgrind(&text) {
        Some(0) | None => Err(format!(
            "callgrind counted nothing for {id}: is ft_bench_measured in the binary?"
        )),
        Some(n) => Ok(n),
    }
}

/// One line of the gate's verdict.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    pub id: String,
    pub base: Option<u64>,
    pub now: u64,
    /// Change in percent (positive: more instructions).
    pub change_pct: Option<f64>,
    pub regressed: bool,
}

/// Compares counts with the baseline: a count more than `max_regress_pct`
/// percent above its baseline regresses, and so does a count the baseline
/// lacks (it must be added deliberately, with `--update`).
pub fn judge(base: &Baseline, now: &BTreeMap<String, u64>, max_regress_pct: f64) -> Vec<Verdict> {
    now.iter()
        .map(|(id, &n)| {
            let b = base.counts.get(id).copied();
            let change_pct = b.map(|b| 100.0 * (n as f64 - b as f64) / b.max(1) as f64);
            Verdict {
                id: id.clone(),
                base: b,
                now: n,
                change_pct,
                regressed: change_pct.is_none_or(|c| c > max_regress_pct),
            }
        })
        .collect()
}

/// The verdict as a markdown table.
pub fn verdict_table(v: &[Verdict], max_regress_pct: f64) -> String {
    let mut s = format!(
        "| kernel | baseline Ir | now Ir | change | verdict (max +{max_regress_pct}%) |\n|---|---|---|---|---|\n"
    );
    for x in v {
        s += &format!(
            "| {} | {} | {} | {} | {} |\n",
            x.id,
            x.base.map(|b| b.to_string()).unwrap_or("-".into()),
            x.now,
            x.change_pct
                .map(|c| format!("{c:+.2}%"))
                .unwrap_or("-".into()),
            match (x.regressed, x.base) {
                (true, None) => "NOT IN BASELINE",
                (true, _) => "REGRESSED",
                (false, _) => "ok",
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_callgrind_totals() {
        let t = "version: 1\ncmd: x\nevents: Ir\nfl=a\nfn=b\n3 7\ntotals: 123456\n";
        assert_eq!(parse_callgrind(t), Some(123_456));
        assert_eq!(parse_callgrind("summary: 99 1 2\n"), Some(99));
        assert_eq!(parse_callgrind("events: Ir\n"), None);
    }

    #[test]
    fn judge_flags_regressions_and_unknown_ids() {
        let base = Baseline {
            made_with: String::new(),
            counts: [("a".to_string(), 1000), ("b".to_string(), 1000)].into(),
        };
        let now: BTreeMap<String, u64> = [
            ("a".to_string(), 1019),
            ("b".to_string(), 1021),
            ("c".to_string(), 5),
        ]
        .into();
        let v = judge(&base, &now, 2.0);
        let flags: Vec<(&str, bool)> = v.iter().map(|x| (x.id.as_str(), x.regressed)).collect();
        assert_eq!(flags, [("a", false), ("b", true), ("c", true)]);
        let table = verdict_table(&v, 2.0);
        assert!(table.contains("REGRESSED") && table.contains("NOT IN BASELINE"));
    }

    #[test]
    fn every_counted_kernel_runs() {
        let ids: std::collections::BTreeSet<_> = COUNTED.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), COUNTED.len(), "duplicate id");
        for c in COUNTED {
            assert!(run_counted(c.id), "{}", c.id);
        }
        assert!(!run_counted("no_such_kernel"));
    }
}
