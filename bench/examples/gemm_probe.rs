//! GEMM block sizes and register tiles, A/B in one process: every round
//! times each configuration in turn (one warm-up call, best of 5), so the
//! VM's slow and fast phases fall on all of them alike.
//!
//! ```text
//! cargo run --release -p ft-bench --example gemm_probe -- M N K THREADS ROUNDS KC,MC,NC,SKEW[,DIRECT] ...
//! ```
//! `0` in a block size keeps the default; SKEW starts the packed panels
//! that many 8-byte words past a cache line (0: on the line, the default);
//! DIRECT (optional) is the most multiply-adds a one-thread product may
//! have to skip packing (0: the default). SKEW 9-12 time
//! `Tensor::matmul` instead (output allocated per call): 9 f32; 10 bf16 by
//! AVX-512 BF16 dot products; 11 bf16 widened to f32 while packing; 12
//! bf16 operands cast to f32 first, multiplied in f32 and the result cast
//! back to bf16 (what bf16 products did before packing widened them); 13
//! f16 (widened while packing, rounded into C by row block); 14 f16
//! operands cast to f32, multiplied, the result cast back (what f16
//! products did before); 15 bf16 on AMX tiles (where the processor has
//! none, the default path runs: `gemm::bf16_path()` names it).
//! Their printed sums are of the Tensor result.
//! Each round prints per configuration GFLOP/s and the sum of C (equal
//! sums: the configurations computed the same thing); the summary gives
//! each configuration's median and best, and its ratio to the first one in
//! the same round.

use ft_kernels::gemm::{MatMut, MatRef, gemm, tune};
use std::time::Instant;

fn main() {
    // PROBE_IN_POOL=1: the whole probe on the worker of a one-thread pool
    // (as `ft-bench run --threads 1` times when the global pool is larger).
    if std::env::var_os("PROBE_IN_POOL").is_some() {
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        return one.install(probe);
    }
    probe()
}

fn probe() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args[i].parse::<usize>().expect("a number");
    let (m, n, k, threads, rounds) = (num(0), num(1), num(2), num(3), num(4));
    let cfgs: Vec<[usize; 5]> = args[5..]
        .iter()
        .map(|c| {
            let v: Vec<usize> = c
                .split(',')
                .map(|x| x.parse().expect("KC,MC,NC,SKEW[,DIRECT]"))
                .collect();
            [v[0], v[1], v[2], v[3], v.get(4).copied().unwrap_or(0)]
        })
        .collect();
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104729) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let mut c = vec![0f32; m * n];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let flop = 2.0 * (m * n * k) as f64;
    // SKEW 9: the configuration times `Tensor::matmul` (output allocated
    // per call, as the suite does) instead of `gemm` into a kept buffer.
    let (ta, tb) = (
        ft_dispatch::Tensor::from(ft_core::TensorImpl::from_slice(&a, &[m, k]).unwrap()),
        ft_dispatch::Tensor::from(ft_core::TensorImpl::from_slice(&b, &[k, n]).unwrap()),
    );
    // SKEW 10-12: bf16 copies of the operands.
    let (ta16, tb16) = (
        ft_dispatch::Tensor::from(ft_kernels::cast(ta.data(), ft_core::DType::BF16).unwrap()),
        ft_dispatch::Tensor::from(ft_kernels::cast(tb.data(), ft_core::DType::BF16).unwrap()),
    );
    // SKEW 13-14: f16 copies of the operands.
    let (ta16h, tb16h) = (
        ft_dispatch::Tensor::from(ft_kernels::cast(ta.data(), ft_core::DType::F16).unwrap()),
        ft_dispatch::Tensor::from(ft_kernels::cast(tb.data(), ft_core::DType::F16).unwrap()),
    );
    let mut best: Vec<Vec<f64>> = vec![Vec::new(); cfgs.len()];
    for round in 0..rounds {
        let mut line = String::new();
        for (ci, cfg) in cfgs.iter().enumerate() {
            tune::set_blocks(cfg[0], cfg[1], cfg[2]);
            // SKEW 9 and up name a mode, not a skew: panels on the line.
            tune::set_panel_skew(if cfg[3] < 8 { cfg[3] } else { 0 });
            tune::set_direct_limit(cfg[4]);
            tune::set_bf16_path(match cfg[3] {
                10 => tune::Bf16Path::Dot,
                11 => tune::Bf16Path::Widen,
                15 => tune::Bf16Path::Amx,
                _ => tune::Bf16Path::Auto,
            });
            // The bf16 modes (13 and 14 are f16): name the path once.
            if round == 0 && matches!(cfg[3], 10 | 11 | 12 | 15) {
                let path = ft_kernels::gemm::bf16_path();
                eprintln!("configuration {ci}: bf16 products on {path:?}");
            }
            let mut t = f64::INFINITY;
            let mut last = None;
            for rep in 0..6 {
                let s = Instant::now();
                // A Tensor::matmul result is dropped after the clock stops.
                let out = match cfg[3] {
                    9 => Some(on(&pool, threads, || ta.matmul(&tb).unwrap())),
                    10 | 11 | 15 => Some(on(&pool, threads, || ta16.matmul(&tb16).unwrap())),
                    12 => Some(on(&pool, threads, || {
                        let f = |x: &ft_dispatch::Tensor| x.to_dtype(ft_core::DType::F32).unwrap();
                        let y = f(&ta16).matmul(&f(&tb16)).unwrap();
                        y.to_dtype(ft_core::DType::BF16).unwrap()
                    })),
                    13 => Some(on(&pool, threads, || ta16h.matmul(&tb16h).unwrap())),
                    14 => Some(on(&pool, threads, || {
                        let f = |x: &ft_dispatch::Tensor| x.to_dtype(ft_core::DType::F32).unwrap();
                        let y = f(&ta16h).matmul(&f(&tb16h)).unwrap();
                        y.to_dtype(ft_core::DType::F16).unwrap()
                    })),
                    _ => {
                        on(&pool, threads, || {
                            gemm(
                                1.0,
                                MatRef::new(&a, m, k, k, 1).unwrap(),
                                MatRef::new(&b, k, n, n, 1).unwrap(),
                                0.0,
                                MatMut::new(&mut c, m, n, n, 1).unwrap(),
                                threads > 1,
                            )
                            .unwrap()
                        });
                        None
                    }
                };
                let elapsed = s.elapsed().as_secs_f64();
                last = out;
                if rep > 0 {
                    t = t.min(elapsed);
                }
            }
            let sum: f64 = match last {
                Some(y) => y.to_vec_f64().unwrap().iter().sum(),
                None => c.iter().map(|&x| x as f64).sum(),
            };
            line += &format!("{:8.1} ({sum:.3e})  ", flop / t / 1e9);
            best[ci].push(flop / t / 1e9);
        }
        if std::env::var_os("PROBE_QUIET").is_none() {
            println!("{line}");
        }
    }
    // Each round's figure over the first configuration's in the same round.
    let base = best[0].clone();
    for (cfg, v) in cfgs.iter().zip(&mut best) {
        let mut r: Vec<f64> = v.iter().zip(&base).map(|(x, b)| x / b).collect();
        r.sort_by(|x, y| x.partial_cmp(y).unwrap());
        v.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let wins = r.iter().filter(|&&x| x > 1.0).count();
        println!(
            "{cfg:?}: median {:.1} best {:.1} GFLOP/s; vs first: median ratio {:.3}, faster in {wins} of {}",
            v[v.len() / 2],
            v[v.len() - 1],
            r[r.len() / 2],
            r.len()
        );
    }
}

/// Runs `f` in `pool` for more than one thread; on this thread for one, as
/// a program's main thread calls.
fn on<R: Send>(pool: &rayon::ThreadPool, threads: usize, f: impl FnOnce() -> R + Send) -> R {
    if threads > 1 { pool.install(f) } else { f() }
}
