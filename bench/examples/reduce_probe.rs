//! Reductions outside the suite's workloads over a `[4096, 4096]` input:
//! `max(dim=0)` and `max(dim=1)` of f32 (values and indices), `sum(dim=0)`
//! and `sum(dim=1)` of bf16 and f16. Each round times every case in turn
//! (best of 5 calls); GB/s of input read, median and all rounds, and a
//! checksum of each output (so two builds can be compared: same input,
//! same numbers).
//!
//! ```text
//! cargo run --release -p ft-bench --example reduce_probe -- THREADS ROUNDS
//! ```
use ft_core::{DType, TensorImpl};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Case = (&'static str, DType, fn(&TensorImpl) -> TensorImpl);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(threads), Some(rounds)) = (
        args.get(1).and_then(|v| v.parse::<usize>().ok()),
        args.get(2).and_then(|v| v.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: reduce_probe THREADS ROUNDS");
        std::process::exit(2);
    };
    let n = 4096;
    let v: Vec<f32> = (0..n * n)
        .map(|i| (i * 7919 % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let square = TensorImpl::from_slice(&v, &[n, n]).expect("square");
    let cases: [Case; 6] = [
        ("max(dim=0) f32", DType::F32, |t| {
            ft_kernels::max_dim(t, 0, false).expect("max").1
        }),
        ("max(dim=1) f32", DType::F32, |t| {
            ft_kernels::max_dim(t, 1, false).expect("max").1
        }),
        ("sum(dim=0) bf16", DType::BF16, |t| {
            ft_kernels::sum(t, Some(&[0]), false, None).expect("sum")
        }),
        ("sum(dim=1) bf16", DType::BF16, |t| {
            ft_kernels::sum(t, Some(&[1]), false, None).expect("sum")
        }),
        ("sum(dim=0) f16", DType::F16, |t| {
            ft_kernels::sum(t, Some(&[0]), false, None).expect("sum")
        }),
        ("sum(dim=1) f16", DType::F16, |t| {
            ft_kernels::sum(t, Some(&[1]), false, None).expect("sum")
        }),
    ];
    let inputs: Vec<TensorImpl> = cases
        .iter()
        .map(|(_, dt, _)| ft_kernels::cast(&square, *dt).expect("cast"))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let mut gbps = vec![vec![]; cases.len()];
    let mut sums = vec![0.0f64; cases.len()];
    pool.install(|| {
        for _ in 0..rounds {
            for (k, ((_, dt, f), x)) in cases.iter().zip(&inputs).enumerate() {
                let mut best = f64::MAX;
                for _ in 0..5 {
                    let t0 = Instant::now();
                    let y = f(x);
                    best = best.min(t0.elapsed().as_secs_f64());
                    sums[k] = y.to_vec_f64().expect("out").iter().sum::<f64>();
                }
                gbps[k].push((n * n * dt.size()) as f64 / best / 1e9);
            }
        }
    });
    println!(
        "threads {threads}, {rounds} rounds, [4096, 4096], GB/s of input (best of 5 per round)"
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
