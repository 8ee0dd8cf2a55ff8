//! `ft-bench`: the FrankenTorch benchmark suite (bench/WORKLOADS.md).
//!
//! ```text
//! ft-bench run [--threads N] [--filter SUBSTR]   the suite table
//! ft-bench ceilings                              measure and cache the machine's ceilings
//! ft-bench record --label L [--filter SUBSTR] [--no-hyperfine]
//! ft-bench compare A B                           before/after table + output verdict
//! ft-bench torch [--filter SUBSTR] [--rounds N] [--record L]
//!                                                side by side with PyTorch, alternating
//! ft-bench gate [--baseline FILE] [--max-regress PCT] [--update]
//!                                                instruction counts against the baseline
//! ft-bench list                                  the suite and what is implemented
//! ```

use ft_bench::measure::Measurement;
use ft_bench::suite::{self, Figure, Workload};
use ft_bench::{ceilings, counts, measure, record, targets};
use std::io::Write as _;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    cmd: String,
    positional: Vec<String>,
    threads: Option<usize>,
    filter: Option<String>,
    label: Option<String>,
    record: Option<String>,
    /// `record` adds hyperfine's whole-process timings when hyperfine is
    /// installed, unless `--no-hyperfine`.
    hyperfine: bool,
    baseline: Option<String>,
    max_regress: f64,
    update: bool,
    /// `torch`: ours-then-PyTorch pairs per workload and thread count.
    rounds: usize,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        cmd: it.next().unwrap_or_else(|| "run".into()),
        positional: vec![],
        threads: None,
        filter: None,
        label: None,
        record: None,
        hyperfine: true,
        baseline: None,
        max_regress: 2.0,
        update: false,
        rounds: 3,
    };
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match x.as_str() {
            "--threads" => {
                a.threads = Some(
                    val("--threads")?
                        .parse()
                        .map_err(|_| "--threads takes a number")?,
                )
            }
            "--filter" => a.filter = Some(val("--filter")?),
            "--label" => a.label = Some(val("--label")?),
            "--record" => a.record = Some(val("--record")?),
            "--no-hyperfine" => a.hyperfine = false,
            "--baseline" => a.baseline = Some(val("--baseline")?),
            "--max-regress" => {
                a.max_regress = val("--max-regress")?
                    .trim_end_matches('%')
                    .parse()
                    .map_err(|_| "--max-regress takes a percentage, e.g. 2")?
            }
            "--update" => a.update = true,
            "--rounds" => {
                a.rounds = val("--rounds")?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--rounds takes a number of rounds, at least 1")?
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => a.positional.push(x),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ft-bench: {e}");
            return usage();
        }
    };
    match args.cmd.as_str() {
        "run" => {
            let results = run_suite(&args);
            print_table(&results);
            ExitCode::SUCCESS
        }
        "list" => {
            list();
            ExitCode::SUCCESS
        }
        "ceilings" => {
            let c = ceilings::measure_and_cache(max_threads());
            println!("{}", serde_json::to_string_pretty(&c).expect("json"));
            ExitCode::SUCCESS
        }
        "record" => match &args.label {
            Some(l) => record(&args, l),
            None => {
                eprintln!("ft-bench record: --label L is required");
                usage()
            }
        },
        "compare" => match &args.positional[..] {
            [a, b] => compare(a, b),
            _ => usage(),
        },
        "torch" => torch(&args),
        "gate" => gate(&args),
        // Internal: what `gate` runs under callgrind.
        "count" => match &args.positional[..] {
            [id] if counts::run_counted(id) => ExitCode::SUCCESS,
            _ => {
                eprintln!("ft-bench count: unknown kernel; `ft-bench gate` lists them");
                ExitCode::from(2)
            }
        },
        "-h" | "--help" | "help" => {
            let _ = usage();
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("ft-bench: unknown command {other}");
            usage()
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: ft-bench run [--threads N] [--filter S] | ceilings | record --label L [--filter S] \
         [--no-hyperfine] | compare A B | torch [--filter S] [--rounds N] [--record L] \
         | gate [--baseline FILE] [--max-regress PCT] [--update] [--filter S] | list"
    );
    ExitCode::from(2)
}

fn max_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn selected(args: &Args) -> Vec<&'static Workload> {
    suite::all()
        .filter(|w| args.filter.as_deref().is_none_or(|f| w.id.contains(f)))
        .collect()
}

fn thread_counts(args: &Args) -> Vec<usize> {
    match args.threads {
        Some(t) => vec![t.max(1)],
        None if max_threads() > 1 => vec![1, max_threads()],
        None => vec![1],
    }
}

/// Measures every implemented selected workload at each thread count.
fn run_suite(args: &Args) -> Vec<(&'static Workload, Measurement)> {
    let work: Vec<_> = selected(args)
        .into_iter()
        .filter(|w| w.setup.is_some())
        .collect();
    let threads = thread_counts(args);
    let total = work.len() * threads.len();
    let mut out = Vec::new();
    let mut done = 0;
    for w in work {
        let setup = w.setup.expect("filtered");
        for &t in &threads {
            progress(done, total, w.id, t);
            out.push((w, measure::measure(w, setup, t)));
            done += 1;
        }
    }
    progress_clear(total);
    out
}

fn progress(done: usize, total: usize, id: &str, t: usize) {
    let width = 24;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    eprint!(
        "\r[{}{}] {done}/{total} {id} ({t}T)            ",
        "#".repeat(filled),
        ".".repeat(width - filled)
    );
    let _ = std::io::stderr().flush();
}

fn progress_clear(total: usize) {
    progress(total, total, "done", 0);
    eprintln!();
}

fn share(w: &Workload, m: &Measurement, c: &Option<ceilings::Ceilings>) -> String {
    let ceil = c.as_ref().and_then(|c| match w.figure {
        Figure::GBps => c.bandwidth(m.threads),
        Figure::GFlops => c.flops(m.threads),
        _ => None,
    });
    match ceil {
        Some(x) => format!("{:.0}%", 100.0 * m.value / x),
        None => "-".into(),
    }
}

fn ensure_ceilings() -> Option<ceilings::Ceilings> {
    if let Some(c) = ceilings::load() {
        return Some(c);
    }
    eprintln!("ft-bench: no cached ceilings; measuring them first (ft-bench ceilings)");
    Some(ceilings::measure_and_cache(max_threads()))
}

fn print_table(results: &[(&Workload, Measurement)]) {
    let c = ensure_ceilings();
    println!("FrankenTorch suite v1 on {}\n", record::machine());
    if let Some(c) = &c {
        let bw: Vec<String> = c
            .triad_gbps
            .iter()
            .map(|(t, v)| format!("{v:.1} GB/s at {t}T"))
            .collect();
        let fl: Vec<String> = c
            .fma_gflops
            .iter()
            .map(|(t, v)| format!("{v:.0} GFLOP/s at {t}T"))
            .collect();
        println!(
            "ceilings: triad {}; peak FMA {}\n",
            bw.join(", "),
            fl.join(", ")
        );
    }
    println!("| id | threads | median | figure | share of ceiling |");
    println!("|---|---|---|---|---|");
    for (w, m) in results {
        println!(
            "| {} | {} | {} | {:.2} {} | {} |",
            w.id,
            m.threads,
            fmt_ns(m.median_ns),
            m.value,
            m.unit,
            share(w, m, &c)
        );
    }
    let missing: Vec<String> = suite::all()
        .filter_map(|w| w.needs.map(|n| format!("{} ({n})", w.id)))
        .collect();
    if !missing.is_empty() {
        println!("\nnot implemented yet: {}", missing.join(", "));
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn list() {
    println!("| id | op | shapes | figure | status |");
    println!("|---|---|---|---|---|");
    for w in suite::all() {
        let status = match w.needs {
            Some(n) => format!("needs {n}"),
            None => "implemented".into(),
        };
        println!(
            "| {} | {} | {} | {} | {status} |",
            w.id,
            w.op,
            w.shapes,
            w.figure.unit()
        );
    }
}

fn record(args: &Args, label: &str) -> ExitCode {
    let path = match new_record_path("record", label) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let results: Vec<Measurement> = run_suite(args).into_iter().map(|(_, m)| m).collect();
    let mut rec = record::Record {
        label: label.to_string(),
        fingerprint: record::fingerprint(),
        results,
        hyperfine: vec![],
    };
    if args.hyperfine {
        rec.hyperfine = hyperfine(args);
    }
    write_json("record", &path, &rec, "wrote")
}

/// `runs/LABEL.json` if no record has that label yet. Records are evidence
/// that artifacts cite: a second `record` (or a `torch --record`) under a
/// label in use would replace one silently, so it fails here, before
/// anything is measured.
fn new_record_path(cmd: &str, label: &str) -> Result<std::path::PathBuf, ExitCode> {
    let path = record::runs_dir().join(format!("{label}.json"));
    if path.exists() {
        eprintln!(
            "ft-bench {cmd}: {} exists; records are not overwritten: choose another label \
             (PyTorch comparisons are usually `torch-LABEL`) or delete the file",
            path.display()
        );
        return Err(ExitCode::from(2));
    }
    Ok(path)
}

/// Writes `value` as pretty JSON with a final newline to `path`, making its
/// directory first; prints `verb path`, or the error (and fails).
fn write_json(
    cmd: &str,
    path: &std::path::Path,
    value: &impl serde::Serialize,
    verb: &str,
) -> ExitCode {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(value).expect("json") + "\n";
    match std::fs::write(path, text) {
        Ok(()) => {
            println!("{verb} {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ft-bench {cmd}: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Whole-process timings of `ft-bench run --filter ID` by hyperfine.
fn hyperfine(args: &Args) -> Vec<serde_json::Value> {
    if std::process::Command::new("hyperfine")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("ft-bench: hyperfine not installed (scripts/setup.sh installs it); skipping");
        return vec![];
    }
    let exe = std::env::current_exe().expect("exe");
    let mut out = vec![];
    for w in selected(args).into_iter().filter(|w| w.setup.is_some()) {
        let tmp = std::env::temp_dir().join(format!("ft-hyperfine-{}.json", w.id));
        let cmd = format!(
            "{} run --threads {} --filter {}",
            exe.display(),
            max_threads(),
            w.id
        );
        let st = std::process::Command::new("hyperfine")
            .args([
                "--runs",
                "5",
                "--warmup",
                "1",
                "--style",
                "none",
                "--export-json",
            ])
            .arg(&tmp)
            .arg(&cmd)
            .status();
        if st.map(|s| s.success()).unwrap_or(false)
            && let Ok(text) = std::fs::read_to_string(&tmp)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            out.push(serde_json::json!({"id": w.id, "command": cmd, "hyperfine": v["results"]}));
        }
    }
    out
}

fn compare(a: &str, b: &str) -> ExitCode {
    let (ra, rb) = match (
        record::load(&record::resolve(a)),
        record::load(&record::resolve(b)),
    ) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("ft-bench compare: {e}");
            return ExitCode::from(2);
        }
    };
    let (md, ok, ratios) = record::compare(&ra, &rb);
    println!("{md}");
    let svg_path = record::runs_dir().join(format!("{}_vs_{}.svg", ra.label, rb.label));
    let title = format!("{} -> {}: speed ratio (after / before)", ra.label, rb.label);
    if std::fs::write(&svg_path, record::svg(&ratios, &title)).is_ok() {
        println!("chart: {}", svg_path.display());
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn python() -> String {
    std::env::var("FT_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn torch(args: &Args) -> ExitCode {
    let path = match args.record.as_deref().map(|l| new_record_path("torch", l)) {
        Some(Err(code)) => return code,
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let py = python();
    let has_torch = std::process::Command::new(&py)
        .args(["-c", "import torch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_torch {
        println!(
            "PyTorch is not importable with `{py}`. Install it in a venv and point FT_PYTHON at it:\n\
             \n    python3 -m venv .venv && .venv/bin/pip install torch numpy\
             \n    FT_PYTHON=.venv/bin/python cargo run --release -p ft-bench -- torch\n"
        );
        return ExitCode::SUCCESS;
    }
    let (ours, tv, rounds) = match alternate(args, &py) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ft-bench torch: {e}");
            return ExitCode::FAILURE;
        }
    };
    let targets = targets::load();
    let c = ensure_ceilings();
    println!(
        "FrankenTorch vs PyTorch {} on {}, measured in one run: {} round(s) per row, \
         ours then PyTorch's in each; medians of the rounds; the ratio column is \
         the median of the per-round ratios (each round's ratios after it)\n",
        tv["torch_version"].as_str().unwrap_or("?"),
        record::machine(),
        args.rounds
    );
    println!(
        "| id | threads | ours | PyTorch | unit | ours/PyTorch (rounds) | share of ceiling | target | status |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let empty = vec![];
    let theirs = tv["results"].as_array().unwrap_or(&empty);
    let mut misses = 0;
    // The run's fastest reference loop: the VM's fast phase.
    let fastest = rounds
        .iter()
        .flat_map(|r| r.reference_us.iter().copied())
        .fold(f64::MAX, f64::min);
    let slow = |r: &Rounds| -> Vec<bool> {
        r.reference_us
            .iter()
            .map(|&x| x > SLOW_PHASE * fastest)
            .collect()
    };
    let mut phase_notes = vec![];
    for (w, m) in &ours {
        let t = theirs
            .iter()
            .find(|r| r["id"] == w.id && r["threads"].as_u64() == Some(m.threads as u64));
        let tval = t.and_then(|r| r["value"].as_f64());
        let row = rounds
            .iter()
            .find(|r| r.id == w.id && r.threads == m.threads);
        let per_round: Vec<f64> = row.map(|r| r.ratios(w.figure)).unwrap_or_default();
        let slow_rounds = row.map(slow).unwrap_or_default();
        let ratio = (!per_round.is_empty()).then(|| median(&per_round));
        let (target, status) =
            targets::judge(&targets, w.id, w.figure, m.threads, m.value, tval, ratio);
        if status.starts_with("MISS") {
            misses += 1;
        }
        // Only where the phase may have decided the verdict: a miss, or
        // slower than PyTorch.
        if let Some(r) = row
            && slow_rounds.iter().any(|&s| s)
            && (status.starts_with("MISS") || ratio.is_some_and(|x| x < 1.0))
        {
            let fast: Vec<f64> = r
                .ours
                .iter()
                .zip(&slow_rounds)
                .filter(|(_, s)| !**s)
                .map(|(&v, _)| v)
                .collect();
            phase_notes.push(format!(
                "- {} {}T: {} of {} rounds in a slow phase; ours in the others: {}",
                w.id,
                m.threads,
                slow_rounds.iter().filter(|&&s| s).count(),
                slow_rounds.len(),
                if fast.is_empty() {
                    "none".to_string()
                } else {
                    format!("median {:.2} {}", median(&fast), m.unit)
                }
            ));
        }
        println!(
            "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            w.id,
            m.threads,
            m.value,
            tval.map(|v| format!("{v:.2}")).unwrap_or("-".into()),
            m.unit,
            ratio
                .map(|r| format!(
                    "{r:.2}x ({})",
                    per_round
                        .iter()
                        .zip(slow_rounds.iter().chain(std::iter::repeat(&false)))
                        .map(|(x, &s)| format!("{x:.2}{}", if s { "*" } else { "" }))
                        .collect::<Vec<_>>()
                        .join(" ")
                ))
                .unwrap_or("-".into()),
            share(w, m, &c),
            target,
            status
        );
    }
    println!("\n{misses} miss(es) against bench/TARGETS.md");
    if !phase_notes.is_empty() {
        println!(
            "\n`*`: a round in the VM's slow phase (a fixed integer loop, timed on the \
             measuring thread before and after each round of ours, ran over {SLOW_PHASE}x its fastest time in \
             this run, {fastest:.0} µs). Such a phase slows code that runs at a high \
             instruction rate, as ours does, more than PyTorch's: both the figure and \
             the ratio of such a round read low. The detector is coarse (a phase can \
             turn within a round). For the rows that miss or trail PyTorch, ours over \
             the other rounds:"
        );
        for n in &phase_notes {
            println!("{n}");
        }
    }
    if let (Some(label), Some(path)) = (&args.record, path) {
        let rec = serde_json::json!({
            "label": label,
            "fingerprint": record::fingerprint(),
            "ours": ours.iter().map(|(_, m)| m).collect::<Vec<_>>(),
            "torch": tv,
            "rounds": rounds,
            "ceilings": c,
        });
        return write_json("torch", &path, &rec, "wrote");
    }
    ExitCode::SUCCESS
}

/// One workload at one thread count in `ft-bench torch`: each round's
/// figure, ours then PyTorch's (None where PyTorch gave none), and the
/// reference loop's time around ours, on the thread that measured
/// (`Measurement::reference_us`): which phase of the VM the round fell
/// in.
#[derive(serde::Serialize)]
struct Rounds {
    id: &'static str,
    threads: usize,
    ours: Vec<f64>,
    torch: Vec<Option<f64>>,
    reference_us: Vec<f64>,
}

/// A round whose reference loop ran this much slower than the run's
/// fastest fell in the VM's slow phase. The loop itself slows less than
/// our code there: in `torch-latency-v13` its fast-phase times spread
/// 189-205 µs (to 1.085x) and the rounds where ours read ~1.9x slower
/// had 215-273 (1.13x and up).
const SLOW_PHASE: f64 = 1.12;

impl Rounds {
    /// Ours over PyTorch's per round, > 1 when ours is faster.
    fn ratios(&self, figure: Figure) -> Vec<f64> {
        let lower_better = figure.lower_is_better();
        self.ours
            .iter()
            .zip(&self.torch)
            .filter_map(|(&o, t)| t.map(|t| if lower_better { t / o } else { o / t }))
            .collect()
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// Measures every selected workload at each thread count `args.rounds`
/// times, ours and then PyTorch's (`suite.py --serve`, kept running, its
/// inputs made once) in each round, never both at once: the VM's drift,
/// which moves figures by up to 2x over tens of seconds, then falls on
/// both sides of each pair alike. Returns our median round per row (its
/// measurement), PyTorch's results as `suite.py` prints them with
/// `value` the median of the rounds, and the rounds.
#[allow(clippy::type_complexity)]
fn alternate(
    args: &Args,
    py: &str,
) -> Result<
    (
        Vec<(&'static Workload, Measurement)>,
        serde_json::Value,
        Vec<Rounds>,
    ),
    String,
> {
    use std::io::BufRead as _;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/torch/suite.py");
    let mut child = std::process::Command::new(py)
        .arg(script)
        .arg("--serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {py} {script}: {e}"))?;
    let mut to_py = child.stdin.take().expect("piped");
    let mut from_py = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut read = || -> Result<serde_json::Value, String> {
        let mut line = String::new();
        match from_py.read_line(&mut line) {
            Ok(n) if n > 0 => serde_json::from_str(&line)
                .map_err(|e| format!("bad output from suite.py: {e}: {line}")),
            _ => Err("suite.py ended early (its error is above)".into()),
        }
    };
    let version = read()?["torch_version"].clone();
    let work: Vec<_> = selected(args)
        .into_iter()
        .filter(|w| w.setup.is_some())
        .collect();
    let threads = thread_counts(args);
    let total = work.len() * threads.len() * args.rounds;
    let (mut ours, mut theirs, mut rounds, mut done) = (vec![], vec![], vec![], 0);
    for w in work {
        let setup = w.setup.expect("filtered");
        for &t in &threads {
            let mut mine: Vec<Measurement> = vec![];
            let mut torch: Vec<serde_json::Value> = vec![];
            for _ in 0..args.rounds {
                progress(done, total, w.id, t);
                mine.push(measure::measure(w, setup, t));
                // Let our pool's workers stop spinning before PyTorch's turn.
                std::thread::sleep(std::time::Duration::from_millis(20));
                writeln!(to_py, "{} {t}", w.id).map_err(|e| format!("suite.py: {e}"))?;
                let r = read()?;
                if let Some(e) = r.get("error") {
                    return Err(format!("suite.py: {e}"));
                }
                torch.push(r);
                done += 1;
            }
            let row = Rounds {
                id: w.id,
                threads: t,
                ours: mine.iter().map(|m| m.value).collect(),
                torch: torch.iter().map(|r| r["value"].as_f64()).collect(),
                reference_us: mine.iter().map(|m| m.reference_us).collect(),
            };
            mine.sort_by(|a, b| a.value.total_cmp(&b.value));
            ours.push((w, mine.swap_remove(mine.len() / 2)));
            let tvals: Vec<f64> = row.torch.iter().flatten().copied().collect();
            if let Some(mut r) = torch.pop().filter(|_| !tvals.is_empty()) {
                r["value"] = median(&tvals).into();
                r["values"] = tvals.into();
                theirs.push(r);
            }
            rounds.push(row);
        }
    }
    progress_clear(total);
    drop(to_py);
    let _ = child.wait();
    let tv = serde_json::json!({"torch_version": version, "results": theirs});
    Ok((ours, tv, rounds))
}

/// Counts every tracked kernel under callgrind and compares with the
/// baseline; `--update` rewrites the baseline instead of judging.
fn gate(args: &Args) -> ExitCode {
    let path = args
        .baseline
        .as_ref()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(counts::default_baseline);
    let exe = std::env::current_exe().expect("exe");
    let work: Vec<_> = counts::COUNTED
        .iter()
        .filter(|c| args.filter.as_deref().is_none_or(|f| c.id.contains(f)))
        .collect();
    let mut now = std::collections::BTreeMap::new();
    for (i, c) in work.iter().enumerate() {
        progress(i, work.len(), c.id, 1);
        match counts::count(&exe, c.id) {
            Ok(n) => {
                now.insert(c.id.to_string(), n);
            }
            Err(e) => {
                progress_clear(work.len());
                eprintln!("ft-bench gate: {e}");
                return ExitCode::from(2);
            }
        }
    }
    progress_clear(work.len());
    let isa = std::env::var("FT_ISA").unwrap_or_else(|_| "auto (avx2 under valgrind)".into());
    if args.update {
        let mut base = counts::Baseline::default();
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(old) = serde_json::from_str::<counts::Baseline>(&text)
        {
            base = old;
        }
        base.made_with = format!(
            "{}; FT_ISA={isa}; {}",
            tool_version("valgrind"),
            tool_version("rustc")
        );
        base.counts.extend(now);
        return write_json("gate", &path, &base, "updated");
    }
    let base: counts::Baseline = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "ft-bench gate: cannot read baseline {}: {e}\n(make one with `ft-bench gate --update`)",
                path.display()
            );
            return ExitCode::from(2);
        }
    };
    let verdicts = counts::judge(&base, &now, args.max_regress);
    println!("instruction counts (callgrind Ir, one thread, FT_ISA={isa})");
    println!("baseline {} made with {}\n", path.display(), base.made_with);
    print!("{}", counts::verdict_table(&verdicts, args.max_regress));
    let bad = verdicts.iter().filter(|v| v.regressed).count();
    if bad > 0 {
        println!("\ngate: FAIL, {bad} kernel(s) over +{}%", args.max_regress);
        ExitCode::FAILURE
    } else {
        println!("\ngate: pass");
        ExitCode::SUCCESS
    }
}

fn tool_version(tool: &str) -> String {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| format!("{tool} ?"))
}
