//! Page faults and time per steady-state `mlp_train_step` (after 10
//! warm-up steps), from getrusage: what the storage pool is for.
//!
//! `cargo run --release -p ft-bench --example step_faults [-- STEPS]`

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn minor_faults() -> i64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()) };
    // SAFETY: zeroed then filled by getrusage; every field is plain data.
    unsafe { u.assume_init() }.ru_minflt
}

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    pool.install(|| {
        let mut call = ft_bench::suite::mlp_step_call();
        for _ in 0..10 {
            call();
        }
        let (f0, t0) = (minor_faults(), std::time::Instant::now());
        for _ in 0..steps {
            std::hint::black_box(call());
        }
        let (f1, dt) = (minor_faults(), t0.elapsed());
        println!(
            "{steps} steps: {:.1} minor faults per step, {:.3} ms per step",
            (f1 - f0) as f64 / steps as f64,
            dt.as_secs_f64() * 1e3 / steps as f64
        );
    });
}
