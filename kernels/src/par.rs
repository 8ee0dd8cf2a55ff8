//! Keeping the rayon pool's threads awake between parallel ops.
//!
//! A rayon worker that finds no work yields 32 times and then sleeps on a
//! futex. Waking it costs the next parallel op 50 µs and more on the
//! virtual machines we measure on (`perf-artifacts/par-v1-keep-warm.md`),
//! which is most of what a second thread gains on an op of a few hundred
//! microseconds (a 256 x 256 product, the layers of a training step).
//! PyTorch's OpenMP threads spin for a while before sleeping for the same
//! reason.
//!
//! Every parallel kernel runs inside [`region`]. When a region ends, every
//! other worker of the current pool is handed a job that keeps looking for
//! rayon work ([`rayon::yield_now`], which runs any job it finds) until the
//! next region starts or [`spin_micros`] have passed; the next region's
//! jobs are then taken at once instead of after a wake-up. A spinning
//! worker holds no lock and runs any rayon work that arrives, so the cost
//! is CPU time in the window only. `FT_SPIN_US` or [`set_spin_micros`]
//! sets the window (default [`DEFAULT_SPIN_US`] microseconds); `0` turns
//! spinning off.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The default spin window, in microseconds.
pub const DEFAULT_SPIN_US: u64 = 1000;

/// Regions started so far: a spinner leaves when this moves.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The region whose end last handed out spinners.
static SPAWNED_FOR: AtomicU64 = AtomicU64::new(u64::MAX);

/// Spinner jobs handed out and not yet finished: a bound on how many can
/// wait in a busy pool's queues.
static OUTSTANDING: AtomicUsize = AtomicUsize::new(0);

/// Spinner jobs spinning now.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// The window in microseconds; `u64::MAX` until first read.
static SPIN_US: AtomicU64 = AtomicU64::new(u64::MAX);

/// The spin window in microseconds: the last [`set_spin_micros`], else
/// `FT_SPIN_US` (read once), else [`DEFAULT_SPIN_US`].
pub fn spin_micros() -> u64 {
    let us = SPIN_US.load(Ordering::Relaxed);
    if us != u64::MAX {
        return us;
    }
    let env = std::env::var("FT_SPIN_US")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&v: &u64| v != u64::MAX)
        .unwrap_or(DEFAULT_SPIN_US);
    // A concurrent `set_spin_micros` wins over the environment.
    match SPIN_US.compare_exchange(u64::MAX, env, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => env,
        Err(set) => set,
    }
}

/// Sets the spin window for every pool of the process; `0` turns spinning
/// off (a machine shared with other busy processes may prefer that: a
/// spinning worker holds its core for up to the window).
///
/// ```
/// ft_kernels::par::set_spin_micros(0);
/// assert_eq!(ft_kernels::par::spin_micros(), 0);
/// ft_kernels::par::set_spin_micros(ft_kernels::par::DEFAULT_SPIN_US);
/// ```
pub fn set_spin_micros(us: u64) {
    SPIN_US.store(us.min(u64::MAX - 1), Ordering::Relaxed);
}

/// Spinner jobs handed out that have not finished (waiting in a queue or
/// spinning): zero again at most one window after the last parallel op,
/// once every worker has looked for work.
pub fn live_spinners() -> usize {
    OUTSTANDING.load(Ordering::Relaxed)
}

/// Workers spinning now.
pub fn spinning_workers() -> usize {
    SPINNING.load(Ordering::Relaxed)
}

/// Runs `body`, a parallel op on the current rayon pool: spinners left by
/// earlier regions step back into the pool's own loop first, and this
/// region leaves its own when it ends.
pub fn region<T>(body: impl FnOnce() -> T) -> T {
    EPOCH.fetch_add(1, Ordering::Release);
    let out = body();
    keep_warm();
    out
}

/// Hands a spinner to every other worker of the current pool, unless
/// spinning is off, the pool has one thread, this region's spinners are
/// out already (a nested region's end handed them), or too many wait.
///
/// They are broadcast, so each worker gets its own (a sleeping one is
/// woken, off the next op's path); the one for the worker that ended the
/// region returns at once whenever that worker next looks for work.
/// Whether earlier spinners are still live does not matter: they serve an
/// earlier region and leave as soon as they see this one started (one may
/// be finishing this region's last job right now).
fn keep_warm() {
    let us = spin_micros();
    let threads = rayon::current_num_threads();
    if us == 0 || threads < 2 || OUTSTANDING.load(Ordering::Relaxed) >= 64 * threads {
        return;
    }
    let epoch = EPOCH.load(Ordering::Acquire);
    if SPAWNED_FOR.swap(epoch, Ordering::AcqRel) == epoch {
        return;
    }
    let me = rayon::current_thread_index();
    let window = Duration::from_micros(us);
    OUTSTANDING.fetch_add(threads, Ordering::Relaxed);
    rayon::spawn_broadcast(move |ctx| {
        if Some(ctx.index()) != me {
            SPINNING.fetch_add(1, Ordering::Relaxed);
            spin(epoch, window);
            SPINNING.fetch_sub(1, Ordering::Relaxed);
        }
        OUTSTANDING.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Runs whatever rayon work appears until a region starts after `epoch`
/// or `window` has passed.
fn spin(epoch: u64, window: Duration) {
    let start = Instant::now();
    while EPOCH.load(Ordering::Acquire) == epoch && start.elapsed() < window {
        match rayon::yield_now() {
            Some(rayon::Yield::Idle) => std::hint::spin_loop(),
            Some(rayon::Yield::Executed) => {}
            None => return,
        }
    }
}
