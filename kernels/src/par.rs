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
//! The kernels split their work with [`parts`] (and [`chunks_mut`]): a
//! caller outside the pool takes parts itself instead of sleeping until the
//! pool is done, as rayon's own calls from outside the pool make it.
//!
//! Every parallel kernel runs inside [`region`]. When a region ends, every
//! other worker of the current pool (from outside the pool: all but one,
//! the caller being an op's other thread) is handed a job that keeps
//! looking for rayon work ([`rayon::yield_now`], which runs any job it finds) until the
//! next region starts or [`spin_micros`] have passed; the next region's
//! jobs are then taken at once instead of after a wake-up. A spinning
//! worker holds no lock and runs any rayon work that arrives, so the cost
//! is CPU time in the window only. `FT_SPIN_US` or [`set_spin_micros`]
//! sets the window (default [`DEFAULT_SPIN_US`] microseconds); `0` turns
//! spinning off.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

/// Runs `f(k)` for every `k` in `0..parts`, each once, on the calling
/// thread and the pool together, and returns when all have run.
///
/// Called from outside the pool (a program's main thread), the caller
/// takes parts itself, in order from the first, while `threads - 1` helper
/// jobs handed to the pool take parts from the last one down; the caller
/// then waits for parts still running by spinning, which they are about
/// to finish. Taking from both ends keeps each thread on the same end of
/// the data from one call to the next (helpers share the back end when
/// there are several): with two threads, an op over operands that fit in
/// the cores' caches (a 1 MiB add) finds each half where the last call
/// left it, in the L2 of the core that ran it, instead of wherever the
/// split between the threads fell last time
/// (`perf-artifacts/kernels-v24-par-ends.md`).
///
/// Rayon's own calls from outside the pool (`scope`, `join`, parallel
/// iterators) send all the work to the pool and put the caller to sleep
/// until it is done: waking it cost about 20 µs per call on the virtual
/// machines we measure on, as much as a whole 64 x 1024 product
/// (`perf-artifacts/par-v2-caller-helps.md`). Here the caller never
/// sleeps, and never waits for a helper that has not started: a part no
/// helper took, the caller runs.
///
/// From inside a pool worker (nested parallelism) the parts go to rayon
/// as a parallel iterator. A panic in a part is raised again on the
/// caller once every part that started has finished.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let sum = AtomicUsize::new(0);
/// ft_kernels::par::parts(100, |k| {
///     sum.fetch_add(k, Ordering::Relaxed);
/// });
/// assert_eq!(sum.into_inner(), 4950);
/// ```
#[inline]
pub fn parts(parts: usize, f: impl Fn(usize) + Sync) {
    let threads = rayon::current_num_threads();
    if parts <= 1 || threads < 2 {
        (0..parts).for_each(f);
        return;
    }
    parts_dyn(parts, threads, &f);
}

/// [`parts`] with two threads or more, not generic: every parallel job
/// type of the crate used to instantiate rayon's parallel-iterator and join
/// machinery for itself (474 copies, a fifth of ft-kernels' LLVM IR in
/// `cargo llvm-lines --release`); behind `dyn` there is one copy, for an
/// indirect call per part (a part is thousands of elements at least).
#[inline(never)]
fn parts_dyn(parts: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) {
    if rayon::current_thread_index().is_some() {
        use rayon::prelude::*;
        (0..parts).into_par_iter().for_each(f);
        return;
    }
    let f: *const (dyn Fn(usize) + Sync + '_) = f;
    // SAFETY: a raw pointer to pointer transmute that only erases the
    // lifetime: the helper jobs must be 'static. It is dereferenced only
    // while the closure lives (`Parts::work` says why).
    let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
    let shared = Arc::new(Parts {
        claimed: AtomicUsize::new(0),
        front: AtomicUsize::new(0),
        back: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        parts,
        f,
    });
    for _ in 1..threads.min(parts) {
        let h = Arc::clone(&shared);
        rayon::spawn(move || h.work(End::Back));
    }
    shared.work(End::Front);
    let mut spins = 0u32;
    while shared.done.load(Ordering::Acquire) < parts {
        spins += 1;
        if spins < 1 << 14 {
            std::hint::spin_loop();
        } else {
            // A helper holding a part was preempted: let it run.
            std::thread::yield_now();
        }
    }
    if shared.panicked.load(Ordering::Relaxed) {
        panic!("a parallel part of an ft-kernels op panicked");
    }
}

/// [`parts`] over `data` cut in chunks of `chunk` elements (the last may be
/// shorter): `f(k, chunk_k)` for each.
///
/// ```
/// let mut v = vec![0usize; 10];
/// ft_kernels::par::chunks_mut(&mut v, 4, |k, c| c.fill(k));
/// assert_eq!(v, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
/// ```
pub fn chunks_mut<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    // An uncontended lock per chunk hands its `&mut` to whichever thread
    // claims it (each chunk is claimed once).
    let chunks: Vec<Mutex<&mut [T]>> = data.chunks_mut(chunk.max(1)).map(Mutex::new).collect();
    parts(chunks.len(), |k| {
        let mut c = chunks[k].lock().unwrap_or_else(|e| e.into_inner());
        f(k, &mut c)
    });
}

/// The state [`parts`] shares with its helpers.
struct Parts {
    /// Claims made so far, from either end: a claim is good while this
    /// stays below `parts`, so the two ends never take the same part.
    claimed: AtomicUsize,
    /// Parts taken from the first one up (the caller's).
    front: AtomicUsize,
    /// Parts taken from the last one down (the helpers').
    back: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
    parts: usize,
    /// The caller's closure; valid until `done` reaches `parts`.
    f: *const (dyn Fn(usize) + Sync),
}

// SAFETY: `f` points to a `Sync` closure, called from any thread only
// under the rule of `Parts::work`; the rest is atomics.
unsafe impl Send for Parts {}
// SAFETY: as for `Send`: shared use is the atomics and calls of a `Sync`
// closure.
unsafe impl Sync for Parts {}

/// The end of the parts a thread takes from.
#[derive(Clone, Copy)]
enum End {
    Front,
    Back,
}

impl Parts {
    /// Claims and runs parts from `end` until none is left.
    fn work(&self, end: End) {
        // Each good claim (below `parts`) is one part: with `f` claims
        // from the front and `b` from the back, `f + b <= parts`, so parts
        // `0..f` and `parts - b..parts` never overlap.
        while self.claimed.fetch_add(1, Ordering::Relaxed) < self.parts {
            let k = match end {
                End::Front => self.front.fetch_add(1, Ordering::Relaxed),
                End::Back => self.parts - 1 - self.back.fetch_add(1, Ordering::Relaxed),
            };
            // SAFETY: part `k` is claimed and not yet counted in `done`,
            // and `parts` returns (or unwinds) only once `done` counts
            // every part, so the closure `f` points to is alive. A helper
            // that starts after the last good claim leaves at the loop's
            // test without touching `f`.
            let f = unsafe { &*self.f };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(k))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
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
    if us == 0 || threads < 2 {
        return;
    }
    let epoch = EPOCH.load(Ordering::Acquire);
    if SPAWNED_FOR.swap(epoch, Ordering::AcqRel) == epoch {
        return;
    }
    // Reserve this broadcast's jobs only if the total stays within 64 per
    // thread (checking first and adding after let it reach
    // 64 * threads + threads - 1).
    let cap = 64 * threads;
    if OUTSTANDING
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n + threads <= cap).then_some(n + threads)
        })
        .is_err()
    {
        return;
    }
    let me = rayon::current_thread_index();
    let window = Duration::from_micros(us);
    rayon::spawn_broadcast(move |ctx| {
        // Called from outside the pool, the caller is one of the op's
        // threads ([`parts`]): one worker fewer spins, so that spinners and
        // the caller fit the pool's thread count.
        let keep = match me {
            Some(m) => ctx.index() != m,
            None => ctx.index() + 1 < ctx.num_threads(),
        };
        if keep {
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
