//! What the pool's wake-up costs a parallel op that follows serial work,
//! with and without the keep-warm spinners of `ft_kernels::par`: a 256 x
//! 256 product after `gap` microseconds of single-threaded work, at 1 and
//! 2 threads. Run it twice, with `FT_SPIN_US=0` (rayon alone) and without
//! (the default window):
//!
//! ```text
//! cargo run --release -p ft-bench --example spin_probe
//! FT_SPIN_US=0 cargo run --release -p ft-bench --example spin_probe
//! ```
//!
//! `PIN=1` pins the probe's pool threads one per CPU (a probe option to
//! tell scheduler placement from wake-up latency; the library never pins).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use ft_core::{DType, Generator, TensorImpl};
use std::time::{Duration, Instant};

fn busy(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn main() {
    let n = 256;
    let mut g = Generator::new(1);
    let a = TensorImpl::randn(&[n, n], DType::F32, &mut g).unwrap();
    let b = TensorImpl::randn(&[n, n], DType::F32, &mut g).unwrap();
    println!(
        "FT_SPIN_US={} ({} us window)",
        std::env::var("FT_SPIN_US").unwrap_or_default(),
        ft_kernels::par::spin_micros()
    );
    for gap in [0u64, 20, 100, 500] {
        for threads in [1, 2] {
            let pin = std::env::var("PIN").is_ok();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .start_handler(move |i| {
                    if pin {
                        // SAFETY: a zeroed cpu_set_t is the empty set;
                        // CPU_SET and sched_setaffinity only read and write
                        // that local set (pid 0: this thread).
                        unsafe {
                            let mut set: libc::cpu_set_t = std::mem::zeroed();
                            libc::CPU_SET(i, &mut set);
                            libc::sched_setaffinity(
                                0,
                                std::mem::size_of::<libc::cpu_set_t>(),
                                &set,
                            );
                        }
                    }
                })
                .build()
                .unwrap();
            let mut ts: Vec<f64> = pool.install(|| {
                (0..300)
                    .map(|_| {
                        busy(Duration::from_micros(gap));
                        let t = Instant::now();
                        std::hint::black_box(ft_kernels::mm(&a, &b).unwrap());
                        t.elapsed().as_secs_f64() * 1e6
                    })
                    .collect()
            });
            ts.sort_by(f64::total_cmp);
            println!(
                "gap {gap:4} us, {threads}T: median {:6.1} us  p10 {:6.1}  p90 {:6.1}",
                ts[150], ts[30], ts[270]
            );
        }
    }
}
