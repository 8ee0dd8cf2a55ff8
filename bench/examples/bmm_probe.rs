//! Where `bmm_f32`'s time goes, in one process: every round times each
//! mode in turn (one warm-up call, best of 5), so the VM's slow and fast
//! phases fall on all of them alike.
//!
//! ```text
//! cargo run --release -p ft-bench --example bmm_probe -- BATCH N ROUNDS [THREADS]
//! ```
//! Modes, each a batch of `N x N x N` f32 products:
//! - `bmm`: `ft_kernels::bmm` on the batch (output allocated per call, as
//!   the suite times it);
//! - `bmm_out`: `ft_kernels::bmm_out` into a kept output;
//! - `loop`: `gemm` per product over the distinct operands into a kept
//!   output (no tensor layer, operands as cold as in `bmm_out`);
//! - `hot`: `gemm` BATCH times over the first product's operands (they
//!   stay in cache: the compute alone).
//!
//! Each prints GFLOP/s and the sum of its output (`loop` and `bmm_out`
//! compute the same thing; `hot` differs).

use ft_core::{DType, TensorImpl};
use ft_kernels::gemm::{MatMut, MatRef, gemm};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let (batch, n, rounds) = (args[0], args[1], args[2]);
    let threads = args.get(3).copied().unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| probe(batch, n, rounds))
}

fn probe(batch: usize, n: usize, rounds: usize) {
    let len = batch * n * n;
    let a: Vec<f32> = (0..len)
        .map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let b: Vec<f32> = (0..len)
        .map(|i| ((i * 104729) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let ta = TensorImpl::from_slice(&a, &[batch, n, n]).unwrap();
    let tb = TensorImpl::from_slice(&b, &[batch, n, n]).unwrap();
    let kept = TensorImpl::zeros(&[batch, n, n], DType::F32).unwrap();
    let mut c = vec![0f32; len];
    let flop = 2.0 * (batch * n * n * n) as f64;
    let names = ["bmm", "bmm_out", "loop", "hot"];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        let mut line = String::new();
        for (mi, name) in names.iter().enumerate() {
            let mut t = f64::INFINITY;
            let mut sum = 0.0;
            for rep in 0..6 {
                let s = Instant::now();
                let fresh = match mi {
                    0 => Some(ft_kernels::bmm(&ta, &tb).unwrap()),
                    1 => {
                        ft_kernels::bmm_out(&kept, &ta, &tb).unwrap();
                        None
                    }
                    _ => {
                        let nn = n * n;
                        for i in 0..batch {
                            let at = if mi == 3 { 0 } else { i * nn };
                            gemm(
                                1.0,
                                MatRef::new(&a[at..at + nn], n, n, n, 1).unwrap(),
                                MatRef::new(&b[at..at + nn], n, n, n, 1).unwrap(),
                                0.0,
                                MatMut::new(&mut c[i * nn..(i + 1) * nn], n, n, n, 1).unwrap(),
                                true,
                            )
                            .unwrap();
                        }
                        None
                    }
                };
                let elapsed = s.elapsed().as_secs_f64();
                if rep > 0 {
                    t = t.min(elapsed);
                }
                if rep == 5 {
                    sum = match (&fresh, mi) {
                        (Some(y), _) => y.to_vec_f64().unwrap().iter().sum(),
                        (None, 1) => kept.to_vec_f64().unwrap().iter().sum(),
                        _ => c.iter().map(|&x| x as f64).sum(),
                    };
                }
            }
            line += &format!("{name} {:6.1} ({sum:.4e})  ", flop / t / 1e9);
            rates[mi].push(flop / t / 1e9);
        }
        println!("{line}");
    }
    let base = rates[0].clone();
    for (name, v) in names.iter().zip(&mut rates) {
        let mut r: Vec<f64> = v.iter().zip(&base).map(|(x, b)| x / b).collect();
        r.sort_by(|x, y| x.partial_cmp(y).unwrap());
        v.sort_by(|x, y| x.partial_cmp(y).unwrap());
        println!(
            "{name}: median {:.1} best {:.1} GFLOP/s; median ratio to bmm {:.3}",
            v[v.len() / 2],
            v[v.len() - 1],
            r[r.len() / 2]
        );
    }
}
