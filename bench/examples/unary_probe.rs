//! Throughput of the vector transcendentals where they are compute-bound:
//! `unary_out` on an L2-resident f32 tensor (64 Ki elements: 256 KiB in,
//! 256 KiB out), one thread, the best of 7 loops; ns per element.
//!
//! `cargo run --release -p ft-bench --example unary_probe [N]`
use ft_core::{DType, TensorImpl};
use ft_kernels::UnaryOp;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 16);
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 2001) as f32 / 1000.0 - 1.0) * 4.0)
        .collect();
    let x = TensorImpl::from_slice(&v, &[n]).expect("x");
    let out = TensorImpl::zeros(&[n], DType::F32).expect("out");
    let reps = (200_000_000 / n).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    pool.install(|| {
        for (name, op) in [
            ("exp", UnaryOp::Exp),
            ("tanh", UnaryOp::Tanh),
            ("sigmoid", UnaryOp::Sigmoid),
            ("gelu", UnaryOp::Gelu),
            ("neg", UnaryOp::Neg),
        ] {
            let mut best = f64::MAX;
            for _ in 0..7 {
                let t = Instant::now();
                for _ in 0..reps {
                    ft_kernels::unary_out(op, &x, &out).expect("op");
                }
                best = best.min(t.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64);
            }
            let s: f64 = out
                .to_vec::<f32>()
                .expect("out")
                .iter()
                .map(|&v| v as f64)
                .sum();
            println!("{name:8} {best:6.3} ns/elem  sum {s:.6}");
        }
    });
}
