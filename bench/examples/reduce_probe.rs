//! Ops outside the suite's workloads, by sets. `reduce` (the default),
//! over a `[4096, 4096]` input: `max(dim=0)` and `max(dim=1)` of f32
//! (values and indices), `sum(dim=0)` and `sum(dim=1)` of bf16 and f16.
//! `half`, f16 and bf16 elementwise over `[1024, 4096]`: `a + b`,
//! `exp(a)`, and the casts to and from f32. `softmax`, f32, f16 and
//! bf16 `softmax` and `log_softmax` over the last dim of `[1024, 4096]`.
//! `stats`, over `[4096, 4096]`: `var` (correction 1) along dim 1 and 0,
//! the 2-norm and `logsumexp` along dim 1, and `max(dim=1)` values, of f32
//! and bf16 (f16 for `var`).
//! Each round times every case in turn (best of 5 calls); GB/s of bytes
//! read and written, median and all rounds, and a checksum of each output
//! (so two builds can be compared: same input, same numbers).
//!
//! ```text
//! cargo run --release -p ft-bench --example reduce_probe -- THREADS ROUNDS [reduce|half|softmax|stats] [NAME FILTER]
//! ```
use ft_core::{DType, TensorImpl};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A case: its name, its inputs' dtypes, and the op.
type Case = (
    &'static str,
    &'static [DType],
    fn(&[TensorImpl]) -> TensorImpl,
);

const REDUCE: [Case; 6] = [
    ("max(dim=0) f32", &[DType::F32], |t| {
        ft_kernels::max_dim(&t[0], 0, false).expect("max").1
    }),
    ("max(dim=1) f32", &[DType::F32], |t| {
        ft_kernels::max_dim(&t[0], 1, false).expect("max").1
    }),
    ("sum(dim=0) bf16", &[DType::BF16], |t| {
        ft_kernels::sum(&t[0], Some(&[0]), false, None).expect("sum")
    }),
    ("sum(dim=1) bf16", &[DType::BF16], |t| {
        ft_kernels::sum(&t[0], Some(&[1]), false, None).expect("sum")
    }),
    ("sum(dim=0) f16", &[DType::F16], |t| {
        ft_kernels::sum(&t[0], Some(&[0]), false, None).expect("sum")
    }),
    ("sum(dim=1) f16", &[DType::F16], |t| {
        ft_kernels::sum(&t[0], Some(&[1]), false, None).expect("sum")
    }),
];

const HALF: [Case; 8] = [
    ("a + b bf16", &[DType::BF16, DType::BF16], add),
    ("a + b f16", &[DType::F16, DType::F16], add),
    ("exp bf16", &[DType::BF16], exp),
    ("exp f16", &[DType::F16], exp),
    ("f32 to bf16", &[DType::F32], |t| to(t, DType::BF16)),
    ("f32 to f16", &[DType::F32], |t| to(t, DType::F16)),
    ("bf16 to f32", &[DType::BF16], |t| to(t, DType::F32)),
    ("f16 to f32", &[DType::F16], |t| to(t, DType::F32)),
];

const SOFTMAX: [Case; 6] = [
    ("softmax f32", &[DType::F32], softmax),
    ("log_softmax f32", &[DType::F32], log_softmax),
    ("softmax bf16", &[DType::BF16], softmax),
    ("softmax f16", &[DType::F16], softmax),
    ("log_softmax bf16", &[DType::BF16], log_softmax),
    ("log_softmax f16", &[DType::F16], log_softmax),
];

const STATS: [Case; 10] = [
    ("var(dim=1) f32", &[DType::F32], |t| var(t, 1)),
    ("var(dim=0) f32", &[DType::F32], |t| var(t, 0)),
    ("var(dim=1) bf16", &[DType::BF16], |t| var(t, 1)),
    ("var(dim=1) f16", &[DType::F16], |t| var(t, 1)),
    ("norm(dim=1) f32", &[DType::F32], norm),
    ("norm(dim=1) bf16", &[DType::BF16], norm),
    ("lse(dim=1) f32", &[DType::F32], logsumexp),
    ("lse(dim=1) bf16", &[DType::BF16], logsumexp),
    ("max(dim=1) f32 v", &[DType::F32], max_values),
    ("max(dim=1) bf16 v", &[DType::BF16], max_values),
];

fn var(t: &[TensorImpl], dim: isize) -> TensorImpl {
    ft_kernels::var(&t[0], Some(&[dim]), 1.0, false).expect("var")
}

fn norm(t: &[TensorImpl]) -> TensorImpl {
    ft_kernels::norm(&t[0], ft_kernels::NormP::Two, Some(&[1]), false).expect("norm")
}

fn logsumexp(t: &[TensorImpl]) -> TensorImpl {
    ft_kernels::logsumexp(&t[0], Some(&[1]), false).expect("logsumexp")
}

fn max_values(t: &[TensorImpl]) -> TensorImpl {
    ft_kernels::max_dim(&t[0], 1, false).expect("max").0
}

fn add(t: &[TensorImpl]) -> TensorImpl {
    ft_kernels::add(&t[0], &t[1], ft_core::Scalar::Int(1)).expect("add")
}

fn softmax(t: &[TensorImpl]) -> TensorImpl {
    ft_kernels::softmax(&t[0], -1).expect("softmax")
}

fn log_softmax(t: &[TensorImpl]) -> TensorImpl {
    ft_kernels::log_softmax(&t[0], -1).expect("log_softmax")
}

fn exp(t: &[TensorImpl]) -> TensorImpl {
    ft_kernels::unary(ft_kernels::UnaryOp::Exp, &t[0]).expect("exp")
}

fn to(t: &[TensorImpl], dtype: DType) -> TensorImpl {
    ft_kernels::cast(&t[0], dtype).expect("cast")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(threads), Some(rounds)) = (
        args.get(1).and_then(|v| v.parse::<usize>().ok()),
        args.get(2).and_then(|v| v.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: reduce_probe THREADS ROUNDS [reduce|half|softmax|stats] [NAME FILTER]");
        std::process::exit(2);
    };
    let (cases, rows): (&[Case], usize) = match args.get(3).map(String::as_str) {
        None | Some("reduce") => (&REDUCE, 4096),
        Some("half") => (&HALF, 1024),
        Some("softmax") => (&SOFTMAX, 1024),
        Some("stats") => (&STATS, 4096),
        Some(other) => {
            eprintln!("reduce_probe: unknown set {other:?} (reduce, half, softmax or stats)");
            std::process::exit(2);
        }
    };
    // A fourth argument keeps the cases whose name contains it (profiling).
    let keep: Vec<Case> = cases
        .iter()
        .filter(|c| args.get(4).is_none_or(|f| c.0.contains(f.as_str())))
        .copied()
        .collect();
    let cases = &keep[..];
    let n = 4096;
    let v: Vec<f32> = (0..n * rows)
        .map(|i| (i * 7919 % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let w: Vec<f32> = (0..n * rows)
        .map(|i| (i * 104_729 % 1999) as f32 / 1000.0 - 1.0)
        .collect();
    let base = [
        TensorImpl::from_slice(&v, &[rows, n]).expect("v"),
        TensorImpl::from_slice(&w, &[rows, n]).expect("w"),
    ];
    let inputs: Vec<Vec<TensorImpl>> = cases
        .iter()
        .map(|(_, dts, _)| {
            dts.iter()
                .zip(&base)
                .map(|(dt, b)| ft_kernels::cast(b, *dt).expect("cast"))
                .collect()
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let mut gbps = vec![vec![]; cases.len()];
    let mut sums = vec![0.0f64; cases.len()];
    pool.install(|| {
        for _ in 0..rounds {
            for (k, ((_, _, f), x)) in cases.iter().zip(&inputs).enumerate() {
                let mut best = f64::MAX;
                let mut last: Option<TensorImpl> = None;
                for _ in 0..5 {
                    // The previous output freed first, as in a loop of calls.
                    drop(last.take());
                    let t0 = Instant::now();
                    let y = f(x);
                    best = best.min(t0.elapsed().as_secs_f64());
                    last = Some(y);
                }
                let y = last.expect("five calls");
                sums[k] = y.to_vec_f64().expect("out").iter().sum::<f64>();
                let bytes: usize = x
                    .iter()
                    .chain([&y])
                    .map(|t| t.numel() * t.dtype().size())
                    .sum();
                gbps[k].push(bytes as f64 / best / 1e9);
            }
        }
    });
    println!(
        "threads {threads}, {rounds} rounds, [{rows}, {n}], GB/s read + written (best of 5 per round)"
    );
    for (k, (name, _, _)) in cases.iter().enumerate() {
        let mut r = gbps[k].clone();
        r.sort_by(f64::total_cmp);
        let all: Vec<String> = r.iter().map(|v| format!("{v:.2}")).collect();
        println!(
            "{name:16} median {:6.2}  [{}]  checksum {:.6}",
            r[r.len() / 2],
            all.join(" "),
            sums[k]
        );
    }
}
