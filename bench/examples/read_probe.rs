//! How fast this machine reads a 64 MiB f32 array (the `sum_f32_16m` and
//! `sum_dim1_f32` inputs) against how fast `ft_kernels::sum` reads it, in
//! one process, alternating, on the same input.
//!
//! - `bare`: every thread of the pool sums one contiguous share with eight
//!   vector accumulators on the active ISA, no engine (a read ceiling);
//! - `sum`: `ft_kernels::sum(&a, None, ...)` (the whole-array tree);
//! - `sum_dim1`: `ft_kernels::sum(&a as [4096, 4096], Some(&[1]), ...)`;
//! - `blocksK 1T`: one thread, the bare loop with K accumulators called per
//!   2048-element block (the sum tree's leaf), `subs 1T` the same with the
//!   sum leaf's shape (sub-blocks of 256, four accumulators).
//!
//! Each line is the median of `ROUNDS` timed calls, GB/s. `PROBE_ONLY=2,7`
//! runs only those variants (by position above, from 0), `PROBE_REV=1` runs
//! each round's variants in reverse order: small differences between
//! variants here change with their order and company (a variant run alone
//! is the fair measure), so read them with that in mind.
//!
//! ```text
//! cargo build --release -p ft-bench --example read_probe
//! RAYON_NUM_THREADS=2 target/release/examples/read_probe
//! ```

use ft_kernels::{Job, Vf32};
use std::time::Instant;

const N: usize = 16 << 20;
const ROUNDS: usize = 40;

struct Bare<'a, const K: usize = 8>(&'a [f32]);

impl<const K: usize> Job for Bare<'_, K> {
    type Output = f32;
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) -> f32 {
        let (head, tail) = S::as_simd_f32s(self.0);
        let mut acc = [s.splat_f32s(0.0); K];
        let mut chunks = head.chunks_exact(K);
        for c in &mut chunks {
            for k in 0..K {
                acc[k] = s.add_f32s(acc[k], c[k]);
            }
        }
        for (k, &v) in chunks.remainder().iter().enumerate() {
            acc[k] = s.add_f32s(acc[k], v);
        }
        let mut t = s.splat_f32s(tail.iter().sum());
        for a in acc {
            t = s.add_f32s(t, a);
        }
        s.reduce_sum_f32s(t)
    }
}

/// `Bare` called per 2048-element block (the sum tree's leaf size), the
/// block sums added in order: the cost of one ISA dispatch per leaf.
fn blocks<const K: usize>(xs: &[f32]) -> f32 {
    xs.chunks(2048)
        .map(|c| ft_kernels::dispatch(Bare::<K>(c)))
        .sum()
}

/// The sum leaf's shape: sub-blocks of 256 elements with four
/// accumulators each, the sub-block vectors combined pairwise.
struct Subs<'a>(&'a [f32]);

impl Job for Subs<'_> {
    type Output = f32;
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) -> f32 {
        let mut parts = [s.splat_f32s(0.0); 8];
        let mut n = 0;
        for sub in self.0.chunks(256) {
            let (head, _) = S::as_simd_f32s(sub);
            let mut acc = [s.splat_f32s(0.0); 4];
            for c in head.chunks_exact(4) {
                for k in 0..4 {
                    acc[k] = s.add_f32s(acc[k], c[k]);
                }
            }
            parts[n] = s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3]));
            n += 1;
        }
        while n > 1 {
            for k in 0..n / 2 {
                parts[k] = s.add_f32s(parts[2 * k], parts[2 * k + 1]);
            }
            n = n.div_ceil(2);
        }
        s.reduce_sum_f32s(parts[0])
    }
}

fn subs(xs: &[f32]) -> f32 {
    xs.chunks(2048).map(|c| ft_kernels::dispatch(Subs(c))).sum()
}

fn bare(xs: &[f32]) -> f32 {
    let threads = rayon::current_num_threads();
    let share = xs.len().div_ceil(threads);
    let parts: Vec<std::sync::Mutex<f32>> = (0..threads).map(|_| 0.0.into()).collect();
    ft_kernels::par::region(|| {
        ft_kernels::par::parts(threads, |k| {
            let lo = (k * share).min(xs.len());
            let hi = ((k + 1) * share).min(xs.len());
            *parts[k].lock().unwrap() = ft_kernels::dispatch(Bare::<8>(&xs[lo..hi]));
        })
    });
    parts.into_iter().map(|m| m.into_inner().unwrap()).sum()
}

fn main() {
    let a = ft_bench::suite::input(&[N], 1);
    let a2 = a.reshape(&[4096, 4096]).expect("reshape");
    let data: Vec<f32> = a.to_vec::<f32>().expect("f32");
    let view = a.as_slice::<f32>().expect("f32");
    println!(
        "# {} threads, isa {}, median of {ROUNDS} calls, GB/s (64 MiB read per call)",
        rayon::current_num_threads(),
        ft_kernels::isa().name()
    );
    let mut times: [Vec<f64>; 8] = Default::default();
    let mut check = 0.0f64;
    let rev = std::env::var("PROBE_REV").is_ok_and(|v| v == "1");
    // PROBE_ONLY=2,7 runs only those variants (for a profile of one).
    let only: Option<Vec<usize>> = std::env::var("PROBE_ONLY")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    for _ in 0..3 + ROUNDS {
        let n = times.len();
        for i in 0..n {
            // PROBE_REV=1 runs the variants of a round in reverse order.
            let w = if rev { n - 1 - i } else { i };
            let t = &mut times[w];
            if only.as_ref().is_some_and(|o| !o.contains(&w)) {
                t.push(0.0);
                continue;
            }
            let t0 = Instant::now();
            let v = match w {
                0 => bare(&data) as f64,
                1 => bare(&view) as f64,
                4 => blocks::<8>(&view) as f64,
                5 => blocks::<4>(&view) as f64,
                6 => blocks::<16>(&view) as f64,
                7 => subs(&view) as f64,
                2 => ft_kernels::sum(&a, None, false, None)
                    .expect("sum")
                    .item()
                    .expect("item")
                    .to_f64(),
                3 => {
                    let r = ft_kernels::sum(&a2, Some(&[1]), false, None).expect("sum");
                    std::hint::black_box(&r);
                    0.0
                }
                _ => unreachable!(),
            };
            t.push(t0.elapsed().as_secs_f64());
            check += v;
        }
    }
    for (name, t) in [
        "bare (Vec)",
        "bare (tensor)",
        "sum",
        "sum_dim1",
        "blocks8 1T",
        "blocks4 1T",
        "blocks16 1T",
        "subs 1T",
    ]
    .iter()
    .zip(times.iter_mut())
    {
        let t = &mut t[3..];
        t.sort_by(f64::total_cmp);
        let med = t[t.len() / 2];
        println!(
            "{name:14} {:6.1} GB/s  (best {:6.1})",
            (N * 4) as f64 / med / 1e9,
            (N * 4) as f64 / t[0] / 1e9
        );
    }
    std::hint::black_box(check);
}
