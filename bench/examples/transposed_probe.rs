//! How fast can any tiled loop add a transposed 4096 x 4096 f32 operand on
//! this machine? The evidence behind the `add_f32_transposed` miss in
//! `perf-artifacts/kernels-v4-misses.md`: a minimal tiled loop, no engine,
//! no dtype handling, no allocation in the timed region, against a plain
//! contiguous add of the same arrays, one thread.
//!
//! ```text
//! cargo run --release -p ft-bench --example transposed_probe
//! ```

use std::time::Instant;

const N: usize = 4096;

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch(p: *const f32) {
    // SAFETY: a prefetch never faults and changes no memory.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch(_: *const f32) {}

/// out[j][i] = a[j][i] + b[i][j]: `out` and `a` run along i, `b` along j.
fn tiled(out: &mut [f32], a: &[f32], b: &[f32], ti: usize, tj: usize, pref: bool) {
    let mut tile = vec![0f32; ti * tj];
    for j0 in (0..N).step_by(tj) {
        for i0 in (0..N).step_by(ti) {
            for ii in 0..ti {
                let row = &b[(i0 + ii) * N + j0..][..tj];
                for (jj, &v) in row.iter().enumerate() {
                    tile[jj * ti + ii] = v;
                }
            }
            if pref && i0 + ti < N {
                for jj in 0..tj {
                    let base = (j0 + jj) * N + i0 + ti;
                    for l in (0..ti).step_by(16) {
                        prefetch(a[base + l..].as_ptr());
                        prefetch(out[base + l..].as_ptr());
                    }
                }
                for ii in 0..ti {
                    for l in (0..tj).step_by(16) {
                        prefetch(b[(i0 + ti + ii) * N + j0 + l..].as_ptr());
                    }
                }
            }
            for jj in 0..tj {
                let o = &mut out[(j0 + jj) * N + i0..][..ti];
                let x = &a[(j0 + jj) * N + i0..][..ti];
                for ((o, &x), &t) in o.iter_mut().zip(x).zip(&tile[jj * ti..][..ti]) {
                    *o = x + t;
                }
            }
        }
    }
}

fn gbps(secs: f64) -> f64 {
    3.0 * (N * N * 4) as f64 / secs / 1e9
}

fn best_of(mut f: impl FnMut()) -> f64 {
    (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let a: Vec<f32> = (0..N * N).map(|i| (i % 1000) as f32).collect();
    let b: Vec<f32> = (0..N * N).map(|i| (i % 997) as f32).collect();
    let mut out = vec![0f32; N * N];
    let t = best_of(|| {
        for ((o, &x), &y) in out.iter_mut().zip(&a).zip(&b) {
            *o = x + y;
        }
    });
    println!("contiguous add:                  {:6.2} GB/s", gbps(t));
    for (ti, tj, pref) in [
        (64, 64, false),
        (64, 64, true),
        (32, 64, true),
        (256, 32, true),
    ] {
        let t = best_of(|| tiled(&mut out, &a, &b, ti, tj, pref));
        let check = out[(7 * N) + 5] - (a[7 * N + 5] + b[5 * N + 7]);
        assert_eq!(check, 0.0);
        println!(
            "tiled {ti:3} x {tj:3}, prefetch {pref:5}:  {:6.2} GB/s",
            gbps(t)
        );
    }
}
