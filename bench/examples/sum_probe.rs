//! f32 row sums over 64 MiB (`sum_f32_16m`'s `[16777216]` and
//! `sum_dim1_f32`'s `[4096, 4096]` over dim 1) with several software
//! prefetch distances, alternating in one process so that the VM's phases
//! fall on all of them alike: each round times every distance in turn
//! (best of 8 calls); GB/s per distance, median and all rounds.
//!
//! ```text
//! cargo run --release -p ft-bench --example sum_probe -- THREADS ROUNDS DIST,DIST,...
//! ```
//! DIST is in elements ahead of the loads (0: no prefetch; `default`: the
//! processor's choice, `ft_kernels::ops::reduce::set_sum_prefetch(None)`).
use ft_core::TensorImpl;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sum_probe THREADS ROUNDS DIST,DIST,... (DIST: elements or `default`)";
    let (Some(threads), Some(rounds), Some(dists)) = (
        args.get(1).and_then(|v| v.parse::<usize>().ok()),
        args.get(2).and_then(|v| v.parse::<usize>().ok()),
        args.get(3).map(|v| {
            v.split(',')
                .map(|d| if d == "default" { None } else { d.parse().ok() })
                .collect::<Vec<Option<usize>>>()
        }),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let n = 1usize << 24;
    let v: Vec<f32> = (0..n)
        .map(|i| (i * 7919 % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let flat = TensorImpl::from_slice(&v, &[n]).expect("flat");
    let square = TensorImpl::from_slice(&v, &[4096, 4096]).expect("square");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let cases: [(&str, &TensorImpl, Option<&[isize]>); 2] =
        [("sum()", &flat, None), ("sum(dim=1)", &square, Some(&[1]))];
    let mut gbps = vec![vec![]; dists.len() * cases.len()];
    let mut sums = vec![0.0f64; dists.len() * cases.len()];
    pool.install(|| {
        for _ in 0..rounds {
            for (k, &d) in dists.iter().enumerate() {
                ft_kernels::ops::reduce::set_sum_prefetch(d);
                for (w, (_, t, dims)) in cases.iter().enumerate() {
                    let mut best = f64::MAX;
                    for _ in 0..8 {
                        let t0 = Instant::now();
                        let s = ft_kernels::sum(t, *dims, false, None).expect("sum");
                        best = best.min(t0.elapsed().as_secs_f64());
                        sums[k * cases.len() + w] =
                            s.to_vec_f64().expect("sum").iter().sum::<f64>();
                    }
                    gbps[k * cases.len() + w].push((n * 4) as f64 / best / 1e9);
                }
            }
        }
    });
    println!("threads {threads}, {rounds} rounds, 64 MiB f32, GB/s (best of 8 per round)");
    for (k, &d) in dists.iter().enumerate() {
        let name = d.map_or("default".to_string(), |d| d.to_string());
        for (w, (case, _, _)) in cases.iter().enumerate() {
            let mut r = gbps[k * cases.len() + w].clone();
            r.sort_by(f64::total_cmp);
            let all: Vec<String> = r.iter().map(|v| format!("{v:.1}")).collect();
            println!(
                "prefetch {name:>7} {case:10} median {:5.1}  [{}]  checksum {:.6}",
                r[r.len() / 2],
                all.join(" "),
                sums[k * cases.len() + w]
            );
        }
    }
}
