//! The machine's ceilings: STREAM-style triad bandwidth over arrays far
//! beyond the caches, and peak f32 FMA rate on the widest vector unit,
//! each at 1 and N threads. Cached in `target/ft-bench/ceilings.json`.

use ft_kernels::{Job, Vf32};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ceilings {
    /// (threads, GB/s) of the triad a = b + s * c over 3 x 256 MiB.
    pub triad_gbps: Vec<(usize, f64)>,
    /// (threads, GFLOP/s) of independent FMAs on the active ISA.
    pub fma_gflops: Vec<(usize, f64)>,
    pub isa: String,
}

impl Ceilings {
    pub fn bandwidth(&self, threads: usize) -> Option<f64> {
        self.triad_gbps.iter().find(|t| t.0 == threads).map(|t| t.1)
    }
    pub fn flops(&self, threads: usize) -> Option<f64> {
        self.fma_gflops.iter().find(|t| t.0 == threads).map(|t| t.1)
    }
}

pub fn cache_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ft-bench/ceilings.json")
}

pub fn load() -> Option<Ceilings> {
    let text = std::fs::read_to_string(cache_path()).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn measure_and_cache(max_threads: usize) -> Ceilings {
    let threads: Vec<usize> = (1..=max_threads)
        .filter(|&t| t == 1 || t == max_threads)
        .collect();
    let c = Ceilings {
        triad_gbps: threads.iter().map(|&t| (t, triad(t))).collect(),
        fma_gflops: threads.iter().map(|&t| (t, peak_fma(t))).collect(),
        isa: ft_kernels::isa().name().to_string(),
    };
    let path = cache_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&c).expect("json"));
    c
}

const TRIAD_LEN: usize = 64 << 20; // f32 elements: 256 MiB per array

fn triad(threads: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        use rayon::prelude::*;
        let mut a = vec![0.0f32; TRIAD_LEN];
        let b = vec![1.0f32; TRIAD_LEN];
        let c = vec![2.0f32; TRIAD_LEN];
        let chunk = TRIAD_LEN / threads;
        let mut best = f64::INFINITY;
        for _ in 0..6 {
            let t0 = Instant::now();
            a.par_chunks_mut(chunk)
                .zip(b.par_chunks(chunk))
                .zip(c.par_chunks(chunk))
                .for_each(|((a, b), c)| {
                    for ((x, &y), &z) in a.iter_mut().zip(b).zip(c) {
                        *x = y + 3.0 * z;
                    }
                });
            best = best.min(t0.elapsed().as_nanos() as f64);
        }
        std::hint::black_box(&a);
        3.0 * (TRIAD_LEN * 4) as f64 / best
    })
}

/// Twelve independent FMA chains per thread (enough to cover the latency
/// of two FMA ports), all in registers.
struct Fma {
    iters: usize,
}

impl Job for Fma {
    type Output = f32;
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) -> f32 {
        let x = s.splat_f32s(0.999_999);
        let y = s.splat_f32s(1e-7);
        let mut acc = [s.splat_f32s(1.0); 12];
        for _ in 0..self.iters {
            for a in acc.iter_mut() {
                *a = s.mul_add_f32s(*a, x, y);
            }
        }
        let mut t = s.splat_f32s(0.0);
        for a in acc {
            t = s.add_f32s(t, a);
        }
        s.reduce_sum_f32s(t)
    }
}

fn peak_fma(threads: usize) -> f64 {
    let lanes = ft_kernels::isa().f32_lanes() as f64;
    // ~0.1 s per thread, so thread start-up does not count.
    let iters = 200_000_000 / lanes.max(4.0) as usize;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t0 = Instant::now();
        // One job on every thread of the pool at once.
        let r: Vec<f32> = pool.broadcast(|_| ft_kernels::dispatch(Fma { iters }));
        std::hint::black_box(r);
        best = best.min(t0.elapsed().as_nanos() as f64);
    }
    threads as f64 * iters as f64 * 12.0 * 2.0 * lanes / best
}
