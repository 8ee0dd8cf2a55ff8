//! Timing: warm-up, then at least `MIN_RUNS` timed calls (more while under
//! `MIN_TIME`), reporting the median. Each call allocates its output, as a
//! user's call does; inputs were made beforehand.

use crate::suite::{Call, Figure, Workload};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub const WARMUP: usize = 3;
pub const MIN_RUNS: usize = 20;
pub const MAX_RUNS: usize = 500;
pub const MIN_TIME: Duration = Duration::from_millis(400);

/// One workload measured at one thread count.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub id: String,
    pub threads: usize,
    pub runs: usize,
    pub median_ns: f64,
    pub min_ns: f64,
    /// The derived figure (GB/s, GFLOP/s, ...).
    pub value: f64,
    pub unit: String,
    /// FNV-1a of the output's bytes: identical outputs, identical sums.
    pub checksum: String,
    /// Sum and absolute sum of the output in f64, for tolerance checks.
    pub out_sum: f64,
    pub out_abs_sum: f64,
    pub out_numel: usize,
    pub out_dtype: String,
    /// [`reference_loop_ns`] on the measuring thread, the slower of just
    /// before and just after the timed calls, in µs: the VM's phase
    /// during the measurement (absent in records made before it existed).
    #[serde(default)]
    pub reference_us: f64,
}

/// Makes the workload's inputs (`setup`) and times its call with
/// `threads` threads, both the way a program does: on the thread that
/// calls the op. When `threads` is the size of rayon's global pool, that is
/// this thread (outside the pool, as `fn main` is) on the global pool; else
/// a thread inside a pool of `threads` threads. (PyTorch's ops, which the
/// suite is set beside, are called from Python's main thread too, which
/// takes part in their OpenMP work, on tensors it made.) Inputs made on
/// one thread and used on another pay a one-time revocation of their
/// borrow flags' bias and then the shared, atomic flags
/// (`ft_core::storage::bias`): a program made that way, not the one the
/// workloads describe.
pub fn measure(w: &Workload, setup: fn() -> Call, threads: usize) -> Measurement {
    if rayon::current_thread_index().is_none() && threads == rayon::current_num_threads() {
        return timed(w, &mut setup(), threads);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| timed(w, &mut setup(), threads))
}

/// The timing loop of [`measure`], on the current thread.
fn timed(w: &Workload, call: &mut Call, threads: usize) -> Measurement {
    let before = reference_loop_ns();
    for _ in 0..WARMUP {
        drop(call());
    }
    let mut times = Vec::with_capacity(MIN_RUNS);
    let start = Instant::now();
    while times.len() < MIN_RUNS || (start.elapsed() < MIN_TIME && times.len() < MAX_RUNS) {
        // Each result is dropped inside its timed call, before the next
        // call, as `bench/torch/suite.py`'s loop frees PyTorch's (its
        // `fn()` statement discards the tensor): an output may then reuse
        // the memory the last one had, in both. Keeping the last result
        // alive through the next call, as this loop did until
        // `kernels-v23`, cost an in-cache op such as add_f32_256k a cold
        // output buffer each call that PyTorch's loop did not pay.
        let t0 = Instant::now();
        drop(call());
        times.push(t0.elapsed().as_nanos() as f64);
    }
    // The output the record's checksum describes: one more call's, after
    // the timed ones (the same as theirs but where a workload keeps state,
    // as a training step does).
    let out = call();
    // The slower of the two ends: a phase can begin or end within the
    // measurement's half second. After a pause: a parallel op's workers
    // keep looking for work for 1 ms (`ft_kernels::par`), on the vCPU
    // beside this one, and slowed the loop as a slow phase does.
    std::thread::sleep(Duration::from_millis(5));
    let reference_us = before.max(reference_loop_ns()) / 1e3;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let (checksum, sum, abs_sum) = digest(&out);
    Measurement {
        id: w.id.to_string(),
        threads,
        runs: times.len(),
        median_ns: median,
        min_ns: times[0],
        value: figure(w, median),
        unit: w.figure.unit().to_string(),
        checksum,
        out_sum: sum,
        out_abs_sum: abs_sum,
        out_numel: out.numel(),
        out_dtype: out.dtype().name().to_string(),
        reference_us,
    }
}

pub fn figure(w: &Workload, ns: f64) -> f64 {
    match w.figure {
        Figure::GBps | Figure::GFlops => w.work / ns,
        Figure::StepsPerSec => 1e9 / ns,
        Figure::NsPerOp => ns / w.work,
        Figure::UsPerChain => ns / 1e3,
    }
}

/// FNV-1a over the output's bytes (row-major), plus f64 sums.
pub fn digest(t: &ft_core::TensorImpl) -> (String, f64, f64) {
    let c = t.contiguous().expect("contiguous");
    let g = c.storage().read().expect("read");
    let start = c.storage_offset() * c.dtype().size();
    let bytes = &g.bytes()[start..start + c.numel() * c.dtype().size()];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    drop(g);
    let v = c.to_vec_f64().expect("values");
    (
        format!("{h:016x}"),
        v.iter().sum(),
        v.iter().map(|x| x.abs()).sum(),
    )
}

/// The iterations of [`reference_loop`]'s body.
const REFERENCE_ITERS: u64 = 100_000;

/// The time of a fixed loop of independent integer multiply, add, shift
/// and xor chains (eight of them, so it runs at a high instruction rate,
/// as the small ops' code does): the best of five runs, in ns. The
/// benchmark VM has phases, seconds to minutes long, in which the small
/// ops' code runs up to ~1.9x slower (a neighbour on the sibling
/// hyperthread, by every check we made: `perf-artifacts/dispatch-v8-moves.md`)
/// and this loop 1.13-1.45x; its time, taken beside each measurement,
/// says which phase the measurement fell in. (A variant with 64-byte
/// copies and a branch, closer to dispatch code, spread 412-464 µs within
/// a fast phase: too noisy to tell phases by.)
pub fn reference_loop_ns() -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        std::hint::black_box(reference_loop(std::hint::black_box(REFERENCE_ITERS)));
        best = best.min(t0.elapsed().as_nanos() as f64);
    }
    best
}

#[inline(never)]
fn reference_loop(n: u64) -> [u64; 8] {
    let mut s: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    for i in 0..n {
        for x in &mut s {
            *x = (x.wrapping_mul(0x2545_F491_4F6C_DD1D).wrapping_add(i)) ^ (*x >> 29);
        }
    }
    s
}
