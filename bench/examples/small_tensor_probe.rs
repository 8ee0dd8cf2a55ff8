//! Where the time of a small op goes: `a + b` and `add_out` on [16] beside
//! their parts (a new tensor, its storage, its layout, the guards), and the
//! autograd chain by parts; each the best of 7 loops of `PROBE_N` calls
//! (default 2,000,000; the longer calls run proportionally fewer times).
//!
//! `cargo run --release -p ft-bench --example small_tensor_probe [FILTER]`
//! (FILTER: run only the lines whose name contains it; `=NAME`: only the
//! line named exactly NAME). With a small
//! `PROBE_N` (under 1000: one loop) the per-call instruction count is the
//! difference of two callgrind runs, e.g. `PROBE_N=100` and `PROBE_N=900`.
//! Used for `perf-artifacts/dispatch-v4-small-tensors.md` and
//! `perf-artifacts/autograd-v2-moves.md`.
use ft_autograd::AutogradExt;
use ft_core::{DType, TensorImpl};
use ft_dispatch::Tensor;
use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Whether the command line's filter selects the line `name`.
fn selected(name: &str) -> bool {
    match std::env::args().nth(1) {
        None => true,
        Some(w) => match w.strip_prefix('=') {
            Some(exact) => exact == name,
            None => name.contains(&w),
        },
    }
}

fn time(name: &str, f: impl FnMut()) {
    time_n(name, 1, f)
}

/// [`time`] for a call `cost` times as long as one small op: it runs
/// `PROBE_N / cost` times per loop.
fn time_n(name: &str, cost: usize, mut f: impl FnMut()) {
    if !selected(name) {
        return;
    }
    let n: usize = std::env::var("PROBE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000usize)
        .div_ceil(cost);
    let mut best = f64::MAX;
    for _ in 0..(if n < 1000 { 1 } else { 7 }) {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    println!("{name:40} {best:7.1} ns");
}

fn main() {
    println!(
        "sizes: Layout {} TensorImpl {} Tensor {} Storage {}",
        size_of::<ft_core::Layout>(),
        size_of::<TensorImpl>(),
        size_of::<Tensor>(),
        size_of::<ft_core::Storage>()
    );
    let a = Tensor::from(TensorImpl::from_slice(&[1.0f32; 16], &[16]).expect("a"));
    let b = Tensor::from(TensorImpl::from_slice(&[2.0f32; 16], &[16]).expect("b"));
    let out = Tensor::zeros(&[16], DType::F32).expect("out");
    time("a.add(&b)", || {
        black_box(a.add(black_box(&b)).expect("add"));
    });
    time("a.add_out(&b,&out)", || {
        a.add_out(black_box(&b), &out).expect("add_out");
    });
    // The same on tensors another thread made: the first access revokes
    // their flags' bias (`ft_core::storage::bias`), then the shared,
    // atomic flags serve every call.
    let (a2, b2, out2) = std::thread::spawn(|| {
        (
            Tensor::from(TensorImpl::from_slice(&[1.0f32; 16], &[16]).expect("a")),
            Tensor::from(TensorImpl::from_slice(&[2.0f32; 16], &[16]).expect("b")),
            Tensor::zeros(&[16], DType::F32).expect("out"),
        )
    })
    .join()
    .expect("maker thread");
    time("a.add(&b), made on another thread", || {
        black_box(a2.add(black_box(&b2)).expect("add"));
    });
    time("a.add_out(&b,&out), made on another thread", || {
        a2.add_out(black_box(&b2), &out2).expect("add_out");
    });
    // What that first access costs: another thread reads each of many
    // fresh tensors once (a revocation each: one `membarrier`), then reads
    // them all again (already shared). Selected as "revocation".
    if selected("revocation") {
        let many: Vec<TensorImpl> = (0..20_000)
            .map(|_| TensorImpl::from_slice(&[1.0f32; 16], &[16]).expect("t"))
            .collect();
        let (first, again) = std::thread::scope(|sc| {
            sc.spawn(|| {
                let pass = || {
                    let t = Instant::now();
                    for t in &many {
                        black_box(t.as_slice::<f32>().expect("read")[0]);
                    }
                    t.elapsed().as_secs_f64() * 1e9 / many.len() as f64
                };
                (pass(), pass())
            })
            .join()
            .expect("reader")
        });
        println!("{:40} {first:7.1} ns", "first read from another thread");
        println!("{:40} {again:7.1} ns", "later reads from that thread");
    }
    time("TensorImpl::uninit [16] + drop", || {
        // SAFETY: nothing reads the elements.
        black_box(unsafe { TensorImpl::uninit(black_box(&[16]), DType::F32) }.expect("uninit"));
    });
    time("Storage::uninit 64 + drop", || {
        // SAFETY: nothing reads the bytes.
        black_box(unsafe { ft_core::Storage::uninit(black_box(64)) }.expect("storage"));
    });
    time("Arc<Storage> 64 + drop", || {
        // SAFETY: nothing reads the bytes.
        black_box(std::sync::Arc::new(
            unsafe { ft_core::Storage::uninit(black_box(64)) }.expect("storage"),
        ));
    });
    time("Layout::contiguous [16]", || {
        black_box(ft_core::Layout::contiguous(black_box(&[16])).expect("layout"));
    });
    time("Vec<f32> 16 alloc + drop", || {
        black_box(vec![0f32; black_box(16)]);
    });
    time("a.data().clone() + drop", || {
        black_box(a.data().clone());
    });
    time("read guard a", || {
        black_box(a.data().storage().read().expect("read"));
    });
    time("as_slice a", || {
        black_box(a.data().as_slice::<f32>().expect("slice"));
    });
    time("as_slice_mut out", || {
        black_box(out.data().as_slice_mut::<f32>().expect("slice"));
    });

    // The autograd chain (`autograd_chain_latency`) by parts: 200 ops
    // without grad, with grad (graph built and dropped), the whole chain
    // with backward; one recorded op on a leaf and on a non-leaf.
    let chain = ft_bench::suite::chain_steps;
    time_n("chain: 200 ops, no grad", 400, || {
        black_box(chain(&a));
    });
    time_n("chain: 200 ops recorded + drop", 1000, || {
        let x = a.detach().requires_grad_(true).expect("leaf");
        black_box(chain(&x));
    });
    time_n("chain: + sum + backward", 1500, || {
        let x = a.detach().requires_grad_(true).expect("leaf");
        chain(&x).sum().expect("sum").backward().expect("backward");
        black_box(x.grad());
    });
    let leaf = a.detach().requires_grad_(true).expect("leaf");
    time_n("one recorded mul_scalar on a leaf", 5, || {
        black_box(leaf.mul_scalar(1.0001).expect("mul"));
    });
    let inner = leaf.mul_scalar(1.0).expect("mul");
    time_n("one recorded mul_scalar on a non-leaf", 5, || {
        black_box(inner.mul_scalar(1.0001).expect("mul"));
    });
}
