//! A counting global allocator proves what the dispatch path allocates:
//! resolving a key set and looking up a kernel, nothing; `add_out` into an
//! existing tensor, nothing; the ledger, when on, nothing per call.
//!
//! The count is per thread, so other test threads do not disturb it, and
//! the sizes stay below the kernels' parallel grain (32768 elements): above
//! it, rayon's scope allocates its spawned jobs, on this thread and others.

use ft_core::{DType, Scalar};
use ft_dispatch::{
    Arg, DispatchKey, Frame, Mode, Op, Tensor, keyset_of, ledger, lookup, route, with_mode,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the
// thread-local counter is const-initialised and has no destructor, so
// touching it never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for `alloc` is forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

/// The tests take turns: the ledger is process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn input(n: usize, seed: f32) -> Tensor {
    let v: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37 + seed).sin()).collect();
    Tensor::from_slice(&v, &[n]).unwrap()
}

#[test]
fn resolving_and_lookup_allocate_nothing() {
    let _g = serial();
    let (a, b) = (input(16, 0.0), input(16, 1.0));
    route::schemas().unwrap(); // first use parses the schema: once per process
    let args = [
        Arg::Tensor(&a),
        Arg::Tensor(&b),
        Arg::Scalar(Scalar::Int(1)),
    ];
    let f = Frame::new(&args).unwrap();
    let n = allocations(|| {
        for _ in 0..1000 {
            let ks = keyset_of(&f).unwrap();
            let key = ks.highest_priority_key().unwrap();
            let backend = ks.backend_key().unwrap();
            assert_eq!((key, backend), (DispatchKey::CPU, DispatchKey::CPU));
            assert!(lookup(Op::AddTensor, key).is_some());
            std::hint::black_box(route::schema_of(Op::AddTensor).unwrap());
        }
    });
    assert_eq!(n, 0, "allocations while resolving and looking up");
}

#[test]
fn add_out_allocates_nothing() {
    let _g = serial();
    for n in [1usize, 16, 1000, 30_000] {
        let (a, b) = (input(n, 0.0), input(n, 1.0));
        let out = Tensor::zeros(&[n], DType::F32).unwrap();
        a.add_out(&b, &out).unwrap(); // warm-up: ISA detection, thread pool, schema
        let count = allocations(|| {
            for _ in 0..100 {
                a.add_out(&b, &out).unwrap();
            }
        });
        assert_eq!(count, 0, "add_out on [{n}] allocated");
        // And it computed the sum (against an f64 reference).
        let (av, bv) = (a.to_vec_f64().unwrap(), b.to_vec_f64().unwrap());
        for ((o, x), y) in out.to_vec_f64().unwrap().iter().zip(av).zip(bv) {
            assert_eq!(*o, (x + y) as f32 as f64);
        }
    }
    // Broadcast and strided operands take the general engine: also none.
    let m = input(64, 2.0).view(&[8, 8]).unwrap();
    let row = input(8, 3.0);
    let out = Tensor::zeros(&[8, 8], DType::F32).unwrap();
    m.t().unwrap().add_out(&row, &out).unwrap();
    let count = allocations(|| m.t().unwrap().add_out(&row, &out).unwrap());
    assert_eq!(
        count, 0,
        "add_out on a transposed and a broadcast operand allocated"
    );
    // In place, through the other modes too.
    let count = allocations(|| {
        with_mode(Mode::Hardened, || out.add_(&m).unwrap());
        out.mul_(&m).unwrap();
    });
    assert_eq!(count, 0, "in-place ops allocated");
}

#[test]
fn ledger_allocates_nothing_per_call() {
    let _g = serial();
    let (a, b) = (input(16, 0.0), input(16, 1.0));
    let out = Tensor::zeros(&[16], DType::F32).unwrap();
    a.add_out(&b, &out).unwrap();
    ledger::enable(64); // the one allocation: the ring
    let count = allocations(|| {
        for _ in 0..200 {
            a.add_out(&b, &out).unwrap(); // more calls than the ring holds
        }
    });
    let entries = ledger::entries();
    ledger::disable();
    assert_eq!(count, 0, "the ledger allocated per call");
    assert_eq!(entries.len(), 64, "the ring keeps its capacity's worth");
    assert!(entries.iter().all(|e| e.op == Op::AddOut));
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
}

/// A new tensor costs one allocation when its bytes fit inside its storage
/// (`INLINE_BYTES`: 16 f32) and two above (the storage and its bytes), and
/// an op with a number operand no more: the number goes to the kernel as a
/// value, not as a 0-dim tensor of its own (more allocations, a fill and
/// frees per call).
#[test]
fn ops_with_a_number_allocate_only_their_output() {
    let _g = serial();
    for (n, want) in [(16, 1), (17, 2)] {
        let a = input(n, 0.0);
        a.mul_scalar(2.0).unwrap(); // warm-up
        for (what, f) in [
            (
                "mul_scalar",
                (|a: &Tensor| a.mul_scalar(1.0001)) as fn(&Tensor) -> _,
            ),
            ("add_scalar", |a| a.add_scalar(0.001)),
            ("sub_scalar", |a| a.sub_scalar(3)),
            ("div_scalar", |a| a.div_scalar(4.0)),
        ] {
            let mut r = None;
            let count = allocations(|| r = Some(f(&a).unwrap()));
            assert_eq!(count, want, "{what} on [{n}] allocated {count} times");
            let _ = r;
        }
    }
    let a = input(16, 0.0);
    // And computed what was asked (against f64).
    let got = a.mul_scalar(1.0001).unwrap().to_vec_f64().unwrap();
    for (g, x) in got.iter().zip(a.to_vec_f64().unwrap()) {
        assert_eq!(*g, (x * f64::from(1.0001f32)) as f32 as f64);
    }
}

/// A `Tensor` stays small: moving one (every `Result` an op returns) is a
/// few vector moves in line. Past 128 bytes the compiler calls `memcpy`
/// instead: a 16-dim inline layout made each move two calls
/// (`perf-artifacts/dispatch-v2-number-path.md`), and at 136 bytes (a
/// separate element-count word) `memcpy` was a quarter of the autograd
/// chain's samples, tensor moves the largest part of it
/// (`perf-artifacts/autograd-v2-moves.md`). The layout keeps its element
/// count, dim count and contiguity in one word to fit.
#[test]
fn a_tensor_moves_without_memcpy() {
    assert!(std::mem::size_of::<Tensor>() <= 128);
    assert!(std::mem::size_of::<ft_core::Result<Tensor>>() <= 128);
}
