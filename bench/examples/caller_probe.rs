//! What a parallel op costs its caller when the caller is outside the
//! pool (a program's main thread), by how the work is handed out: rayon's
//! `scope` (all parts to the pool; the caller sleeps until they are done)
//! against `ft_kernels::par::parts` (the caller takes parts itself and
//! spins for the rest), for ops of `threads` parts of `part_us`
//! microseconds of busy work each, after `gap_us` of serial work. Both run
//! inside `par::region`, so the pool's workers are kept warm alike.
//!
//! ```text
//! cargo run --release -p ft-bench --example caller_probe   # 2 threads by default
//! ```

use ft_kernels::par;
use std::time::{Duration, Instant};

fn busy(us: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

fn main() {
    let threads = rayon::current_num_threads();
    println!(
        "# {threads} threads; median / p10 / p90 of 3000 calls after 100 warm-up, microseconds"
    );
    for part_us in [0u64, 20, 100] {
        for gap_us in [0u64, 50] {
            for how in ["scope", "parts", "serial"] {
                let mut ts = Vec::with_capacity(3000);
                for i in 0..3100 {
                    busy(gap_us);
                    let t = Instant::now();
                    match how {
                        "scope" => par::region(|| {
                            rayon::scope(|s| {
                                for _ in 0..threads {
                                    s.spawn(|_| busy(part_us));
                                }
                            })
                        }),
                        "parts" => par::region(|| par::parts(threads, |_| busy(part_us))),
                        _ => (0..threads).for_each(|_| busy(part_us)),
                    }
                    if i >= 100 {
                        ts.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                }
                ts.sort_by(f64::total_cmp);
                println!(
                    "{how:6} {threads} x {part_us:3} us after {gap_us:2} us: median {:7.2}  p10 {:7.2}  p90 {:7.2}",
                    ts[1500], ts[300], ts[2700]
                );
            }
        }
    }
}
