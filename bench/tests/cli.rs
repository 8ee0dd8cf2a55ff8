//! The `ft-bench` binary's command line: bad input is a clear error with
//! exit code 2, never a panic; the gate's counted kernels run.

use std::process::Command;

fn ft_bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ft-bench"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("run ft-bench")
}

#[test]
fn list_names_every_workload() {
    let o = ft_bench(&["list"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for w in ft_bench::suite::SUITE {
        assert!(text.contains(w.id), "{} missing from `list`", w.id);
    }
}

#[test]
fn bad_input_exits_2_with_a_message() {
    for args in [
        &["frobnicate"][..],
        &["run", "--threads"],
        &["run", "--threads", "many"],
        &["gate", "--max-regress", "lots"],
        &["compare", "only-one"],
        &["count", "no_such_kernel"],
    ] {
        let o = ft_bench(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!o.stderr.is_empty(), "{args:?}: no message");
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("panicked"),
            "{args:?} panicked"
        );
    }
}

#[test]
fn a_record_is_never_overwritten() {
    let committed = ft_bench::record::runs_dir().join("kernels-v1.json");
    let before = std::fs::read(&committed).expect("runs/kernels-v1.json is committed");
    for args in [
        &[
            "record",
            "--label",
            "kernels-v1",
            "--filter",
            "add_out_latency",
        ][..],
        &[
            "torch",
            "--filter",
            "add_out_latency",
            "--record",
            "kernels-v1",
        ],
    ] {
        let o = ft_bench(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("exists"), "{args:?}: {err}");
    }
    let after = std::fs::read(&committed).expect("still there");
    assert!(before == after, "runs/kernels-v1.json was changed");
}

#[test]
fn counted_kernels_run_from_the_command_line() {
    for c in ft_bench::counts::COUNTED {
        let o = ft_bench(&["count", c.id]);
        assert!(o.status.success(), "count {}", c.id);
    }
}

#[test]
fn gate_without_a_baseline_says_how_to_make_one() {
    let missing = std::env::temp_dir().join("ft-bench-no-such-baseline.json");
    let o = ft_bench(&[
        "gate",
        "--filter",
        "sum_f32_64k",
        "--baseline",
        missing.to_str().expect("utf-8 path"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    // Without valgrind the gate says how to install it; with it, the
    // missing baseline is the error.
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("gate --update") || err.contains("setup.sh"),
        "{err}"
    );
}
