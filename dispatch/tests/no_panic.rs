//! Bad input is an `Err`, never a panic: every method of the op surface on
//! every dtype, on empty, 0-dim, broadcastable and mismatched shapes, with
//! odd arguments (out-of-range dims, bad `approximate`, inverted clamp
//! bounds). Results are not checked here (routing.rs and the kernel tests
//! do that); only that each call returns.

use ft_core::{DType, Scalar, TensorImpl};
use ft_dispatch::{Mode, Tensor, with_mode};
use std::panic::{AssertUnwindSafe, catch_unwind};

fn shapes() -> Vec<Vec<usize>> {
    vec![
        vec![],
        vec![0],
        vec![3],
        vec![2, 3],
        vec![3, 1],
        vec![1, 3],
        vec![2, 0, 3],
    ]
}

fn make(shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let t = TensorImpl::from_fn(shape, dtype, |i| (i as f64 * 0.7 - 1.0).round()).unwrap();
    assert_eq!(t.numel(), n);
    Tensor::from(t)
}

type Unary = (&'static str, fn(&Tensor) -> ft_core::Result<()>);
type Binary = (&'static str, fn(&Tensor, &Tensor) -> ft_core::Result<()>);

fn unary_calls() -> Vec<Unary> {
    fn d<T>(r: ft_core::Result<T>) -> ft_core::Result<()> {
        r.map(drop)
    }
    vec![
        ("neg", |x| d(x.neg())),
        ("abs_", |x| x.abs_()),
        ("sign", |x| d(x.sign())),
        ("exp", |x| d(x.exp())),
        ("log1p_", |x| x.log1p_()),
        ("rsqrt", |x| d(x.rsqrt())),
        ("sigmoid", |x| d(x.sigmoid())),
        ("relu", |x| d(x.relu())),
        ("silu", |x| d(x.silu())),
        ("gelu", |x| d(x.gelu("tanh"))),
        ("gelu bad", |x| d(x.gelu("fast"))),
        ("round_", |x| x.round_()),
        ("clamp", |x| {
            d(x.clamp(Some(Scalar::Int(1)), Some(Scalar::Int(-1))))
        }),
        ("clamp none", |x| d(x.clamp(None, None))),
        ("to i32", |x| d(x.to_dtype(DType::I32))),
        ("sum", |x| d(x.sum())),
        ("sum_dim 5", |x| d(x.sum_dim(&[5], false))),
        ("sum_dim dup", |x| d(x.sum_dim(&[0, 0], true))),
        ("mean", |x| d(x.mean())),
        ("prod_dim -1", |x| d(x.prod_dim(-1, true))),
        ("max", |x| d(x.max())),
        ("min_dim 0", |x| d(x.min_dim(0, false))),
        ("argmax", |x| d(x.argmax(None, false))),
        ("argmin 9", |x| d(x.argmin(Some(9), false))),
        ("var", |x| d(x.var(None, 1.0, false))),
        ("std dims", |x| d(x.std(Some(&[-1]), 5.0, true))),
        ("logsumexp", |x| d(x.logsumexp(&[0], false))),
        ("norm 3", |x| d(x.norm(3.0))),
        ("norm inf", |x| d(x.norm_dim(f64::INFINITY, &[0], true))),
        ("any", |x| d(x.any())),
        ("all_dim", |x| d(x.all_dim(&[0], false))),
        ("softmax", |x| d(x.softmax(-1))),
        ("log_softmax 4", |x| d(x.log_softmax(4))),
    ]
}

fn binary_calls() -> Vec<Binary> {
    fn d<T>(r: ft_core::Result<T>) -> ft_core::Result<()> {
        r.map(drop)
    }
    vec![
        ("add", |a, b| d(a.add(b))),
        ("add_alpha", |a, b| d(a.add_alpha(b, 2.5f64))),
        ("sub", |a, b| d(a.sub(b))),
        ("mul_", |a, b| a.mul_(b)),
        ("div", |a, b| d(a.div(b))),
        ("remainder", |a, b| d(a.remainder(b))),
        ("pow", |a, b| d(a.pow(b))),
        ("maximum", |a, b| d(a.maximum(b))),
        ("lt", |a, b| d(a.lt(b))),
        ("logical_xor", |a, b| d(a.logical_xor(b))),
        ("where", |a, b| d(Tensor::where_(a, a, b))),
        ("add_out", |a, b| a.add_out(b, a)),
        ("copy_", |a, b| a.copy_(b)),
        ("scalar div 0", |a, _| d(a.div_scalar(0))),
        ("scalar remainder 0", |a, _| d(a.remainder_scalar(0))),
    ]
}

#[test]
fn no_method_panics_on_any_dtype_or_shape() {
    let mut failures = Vec::new();
    for mode in [Mode::Strict, Mode::Hardened] {
        for &da in &DType::ALL {
            for sa in shapes() {
                for (name, f) in unary_calls() {
                    let x = make(&sa, da);
                    let r = catch_unwind(AssertUnwindSafe(|| with_mode(mode, || f(&x))));
                    if r.is_err() {
                        failures.push(format!("{name}({da:?} {sa:?}) in {mode:?}"));
                    }
                }
                for &db in &DType::ALL {
                    for sb in shapes() {
                        for (name, f) in binary_calls() {
                            let (a, b) = (make(&sa, da), make(&sb, db));
                            let r =
                                catch_unwind(AssertUnwindSafe(|| with_mode(mode, || f(&a, &b))));
                            if r.is_err() {
                                failures.push(format!(
                                    "{name}({da:?} {sa:?}, {db:?} {sb:?}) in {mode:?}"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} panics, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}
