//! f32 sums over 64 MiB (`sum_f32_16m`'s `[16777216]`, `sum_dim1_f32`'s
//! `[4096, 4096]` over dim 1 and `sum_dim0_f32`'s over dim 0) with several software
//! prefetch distances, alternating in one process so that the VM's phases
//! fall on all of them alike: each round times every distance in turn
//! (best of 8 calls); GB/s per distance, median and all rounds. Each round
//! also times a plain loop over the same data (THREADS contiguous parts,
//! four vector accumulators, no tree): the bandwidth reference in the same
//! phase, once with 512-bit and once with 256-bit vectors (on a Zen 4 the
//! 256-bit loop streams faster: `perf-artifacts/kernels-v16-sum-width.md`).
//! The huge pages the process holds are printed (`AnonHugePages`).
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
    let cases: [(&str, &TensorImpl, Option<&[isize]>); 3] = [
        ("sum()", &flat, None),
        ("sum(dim=1)", &square, Some(&[1])),
        ("sum(dim=0)", &square, Some(&[0])),
    ];
    let mut gbps = vec![vec![]; dists.len() * cases.len()];
    let mut plain = [vec![], vec![]];
    let mut plain_sum = 0.0;
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
            for (w, wide) in [true, false].into_iter().enumerate() {
                let mut best = f64::MAX;
                for _ in 0..8 {
                    let t0 = Instant::now();
                    plain_sum = plain_par(&v, threads, wide);
                    best = best.min(t0.elapsed().as_secs_f64());
                }
                plain[w].push((n * 4) as f64 / best / 1e9);
            }
        }
    });
    println!("threads {threads}, {rounds} rounds, 64 MiB f32, GB/s (best of 8 per round)");
    if let Ok(s) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        for l in s.lines().filter(|l| l.starts_with("AnonHugePages")) {
            println!("{l}");
        }
    }
    for (plain, bits) in plain.iter_mut().zip([512, 256]) {
        plain.sort_by(f64::total_cmp);
        let all: Vec<String> = plain.iter().map(|v| format!("{v:.1}")).collect();
        println!(
            "plain loop, {bits}-bit ({threads} contiguous parts, 4 accumulators, no tree) median {:5.1}  [{}]  sum {plain_sum:.1}",
            plain[plain.len() / 2],
            all.join(" ")
        );
    }
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

/// [`plain_loop`] over `parts` contiguous parts, one per thread of the
/// current pool (rayon's `join`).
fn plain_par(v: &[f32], parts: usize, wide: bool) -> f32 {
    if parts <= 1 {
        return plain_loop(v, wide);
    }
    let (l, r) = v.split_at(v.len() / parts);
    let (a, b) = rayon::join(|| plain_loop(l, wide), || plain_par(r, parts - 1, wide));
    a + b
}

/// The bandwidth reference in the same process and phase: one pass over the
/// data, four vector accumulators, nothing else (vectorised by the
/// compiler: 512-bit vectors if `wide` and the processor has AVX-512, else
/// 256-bit; not an accurate sum, only a rate).
fn plain_loop(v: &[f32], wide: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512(v: &[f32]) -> f32 {
            plain_body::<16>(v)
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2(v: &[f32]) -> f32 {
            plain_body::<8>(v)
        }
        if wide && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F (checked just above).
            return unsafe { avx512(v) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has AVX2 and FMA (checked just above).
            return unsafe { avx2(v) };
        }
    }
    plain_body::<8>(v)
}

/// Four accumulators of `L` lanes over the data.
#[inline(always)]
fn plain_body<const L: usize>(v: &[f32]) -> f32 {
    let mut acc = [[0f32; L]; 4];
    let mut blocks = v.chunks_exact(4 * L);
    for b in &mut blocks {
        for (k, a) in acc.iter_mut().enumerate() {
            for (l, x) in a.iter_mut().enumerate() {
                *x += b[L * k + l];
            }
        }
    }
    let tail: f32 = blocks.remainder().iter().sum();
    acc.iter().flatten().sum::<f32>() + tail
}
