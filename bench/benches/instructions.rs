//! Instruction counts and simulated cache behaviour of the key kernels, by
//! gungraun (the maintained continuation of iai-callgrind), for a
//! performance engineer's before/after at the desk:
//!
//! ```text
//! scripts/setup.sh --gungraun      # installs gungraun-runner once
//! cargo bench -p ft-bench --bench instructions
//! ```
//!
//! gungraun keeps the previous run and prints each count's change;
//! `kernel_N` is `COUNTED[N]` (add_f32_64k is kernel_0). The CI
//! gate counts the same kernels (`ft_bench::counts::COUNTED`, same set-up)
//! with `ft-bench gate`, which drives callgrind itself and so needs no
//! runner binary in CI.

use ft_bench::counts::{COUNTED, prepared};
use ft_bench::suite::Call;
use gungraun::{LibraryBenchmarkConfig, library_benchmark, library_benchmark_group, main};
use std::hint::black_box;

fn setup(id: &str) -> Call {
    prepared(id).expect("a COUNTED id")
}

#[library_benchmark]
#[benches::kernel(iter = COUNTED.iter().map(|c| c.id), setup = setup)]
fn kernel(mut call: Call) -> ft_core::TensorImpl {
    black_box(call())
}

library_benchmark_group!(name = kernels, benchmarks = [kernel]);

main!(
    config = LibraryBenchmarkConfig::default()
        .env("RAYON_NUM_THREADS", "1")
        .pass_through_env("FT_ISA");
    library_benchmark_groups = kernels
);
