//! Times f32 GEMM at a few sizes on the active ISA (`FT_ISA`) and the rayon
//! pool's thread count (`RAYON_NUM_THREADS`): a quick probe while tuning;
//! the benchmark suite (`ft-bench`) is the measurement of record.
//!
//! `cargo run --release -p ft-kernels --example gemm_sizes [SIZE ...]`.
//! (Named `gemm_probe` until 2026-12, as `perf-artifacts/gemm-v1.md` calls
//! it; renamed because `ft-bench` has an example of that name, and two
//! examples of one name in a workspace write the same output file, which
//! cargo warns will become an error.)
use ft_kernels::gemm::{MatMut, MatRef, gemm};
use std::time::Instant;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![64, 256, 1024]
    } else {
        sizes
    };
    for n in sizes {
        let a: Vec<f32> = (0..n * n)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..n * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0)
            .collect();
        let mut c = vec![0.0f32; n * n];
        let flops = 2.0 * (n * n * n) as f64;
        let reps = ((2e10 / flops) as usize).clamp(3, 100_000);
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..reps {
                gemm(
                    1.0,
                    MatRef::new(&a, n, n, n, 1).unwrap(),
                    MatRef::new(&b, n, n, n, 1).unwrap(),
                    0.0,
                    MatMut::new(&mut c, n, n, n, 1).unwrap(),
                    true,
                )
                .unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        let sum: f64 = c.iter().map(|&x| x as f64).sum();
        println!(
            "{n}: {:.1} GFLOP/s ({:.2} us), checksum {sum:.3}",
            flops / best / 1e9,
            best * 1e6
        );
    }
}
