#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use ft_core::{DType, Scalar, TensorImpl};
use std::time::Instant;
fn main() {
    if std::env::args().nth(1).as_deref() == Some("empty") {
        for _ in 0..100_000 {
            std::hint::black_box(TensorImpl::empty(&[16], DType::F32).unwrap());
        }
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("out") {
        let a = TensorImpl::full(&[16], 1.5f32, DType::F32).unwrap();
        let o = TensorImpl::empty(&[16], DType::F32).unwrap();
        for _ in 0..100_000 {
            ft_kernels::add_out(&a, &a, Scalar::Int(1), &o).unwrap();
        }
        return;
    }
    let a = TensorImpl::full(&[16], 1.5f32, DType::F32).unwrap();
    let b = TensorImpl::full(&[16], 2.5f32, DType::F32).unwrap();
    let o = TensorImpl::empty(&[16], DType::F32).unwrap();
    for _ in 0..3 {
        let n = 2_000_000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(ft_kernels::add(&a, &b, Scalar::Int(1)).unwrap());
        }
        let add = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            ft_kernels::add_out(&a, &b, Scalar::Int(1), &o).unwrap();
        }
        let out = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(TensorImpl::empty(&[16], DType::F32).unwrap());
        }
        let e = t.elapsed().as_nanos() as f64 / n as f64;
        println!("add {add:.1} ns  add_out {out:.1} ns  empty {e:.1} ns");
    }
}
