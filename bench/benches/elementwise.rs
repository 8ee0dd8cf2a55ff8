//! Criterion benches of every implemented workload of the suite (and its
//! extras), at 1 and 2
//! threads, reporting throughput in bytes (or elements for products).
//! `cargo bench -p ft-bench --bench elementwise -- add_f32` filters by id.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ft_bench::suite::{self, Figure};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn suite(c: &mut Criterion) {
    for w in suite::all().filter(|w| w.setup.is_some()) {
        let mut call = (w.setup.expect("filtered"))();
        let mut g = c.benchmark_group(w.id);
        g.sample_size(20)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300));
        if w.figure == Figure::GBps {
            g.throughput(Throughput::Bytes(w.work as u64));
        }
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            g.bench_function(format!("{threads}T"), |b| {
                pool.install(|| b.iter(&mut call))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, suite);
criterion_main!(benches);
