//! Gradient checking by central finite differences in f64 (PyTorch's
//! `torch.autograd.gradcheck`, in its vector-Jacobian form): the
//! gradient autograd computes for `sum(f(x) * v)`, with a fixed random
//! `v`, against `(L(x + eps e_j) - L(x - eps e_j)) / 2 eps` for every
//! element `j` of every input.

use crate::AutogradExt;
use ft_core::{DType, Error, ErrorKind, Generator, Result, TensorImpl};
use ft_dispatch::{Tensor, grad_mode::no_grad};

/// Tolerances of a check: an element passes when
/// `|analytic - numeric| <= atol + rtol * |numeric|`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for Tolerance {
    /// PyTorch's gradcheck defaults: eps 1e-6, atol 1e-5, rtol 1e-3.
    fn default() -> Self {
        Tolerance {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

fn f64_inputs(inputs: &[Tensor]) -> Result<()> {
    for (i, x) in inputs.iter().enumerate() {
        if x.dtype() != DType::F64 {
            return Err(Error::new(
                ErrorKind::DType,
                format!("gradcheck: input {i} is {}, not float64", x.dtype()),
            ));
        }
    }
    Ok(())
}

/// `sum(f(xs) * v)` as an f64 number.
fn loss(f: &dyn Fn(&[Tensor]) -> Result<Tensor>, xs: &[Tensor], v: &Tensor) -> Result<f64> {
    let y = f(xs)?;
    let l = y.to_dtype(DType::F64)?.mul(v)?.sum()?;
    Ok(l.to_vec_f64()?[0])
}

/// Checks the gradient of `f` at `inputs` (f64 tensors, any layout: a
/// transposed or sliced view is differentiated as it is). Returns the
/// largest deviation seen, or an error naming the first element out of
/// tolerance.
///
/// ```
/// use ft_autograd::gradcheck;
/// # use ft_dispatch::Tensor;
/// let x = Tensor::from_slice(&[0.3f64, -1.2, 2.0, 0.7], &[2, 2])?;
/// gradcheck(|xs| xs[0].tanh()?.mul(&xs[0]), &[x.t()?], Default::default())?;
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn gradcheck(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    tol: Tolerance,
) -> Result<f64> {
    f64_inputs(inputs)?;
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|x| x.detach().requires_grad_(true))
        .collect::<Result<_>>()?;
    let y = f(&leaves)?;
    let mut rng = Generator::new(0x6772_6164);
    let v = Tensor::from(TensorImpl::randn(y.shape(), DType::F64, &mut rng)?);
    let l = y.to_dtype(DType::F64)?.mul(&v)?.sum()?;
    let refs: Vec<&Tensor> = leaves.iter().collect();
    let analytic = crate::grad(&[&l], &refs, None, false, true)?;
    let mut worst = 0.0f64;
    for (i, x) in inputs.iter().enumerate() {
        let base = x.to_vec_f64()?;
        let a = match &analytic[i] {
            Some(g) => g.to_vec_f64()?,
            None => vec![0.0; base.len()],
        };
        if a.len() != base.len() {
            return Err(Error::new(
                ErrorKind::Shape,
                format!(
                    "gradcheck: the gradient of input {i} has {} elements, the input {}",
                    a.len(),
                    base.len()
                ),
            ));
        }
        for j in 0..base.len() {
            let at = |delta: f64| -> Result<f64> {
                let mut p = base.clone();
                p[j] += delta;
                let mut xs: Vec<Tensor> = inputs.iter().map(Tensor::detach).collect();
                xs[i] = Tensor::from_slice(&p, x.shape())?;
                no_grad(|| loss(&f, &xs, &v))
            };
            let numeric = (at(tol.eps)? - at(-tol.eps)?) / (2.0 * tol.eps);
            let dev = (a[j] - numeric).abs();
            let ok = dev <= tol.atol + tol.rtol * numeric.abs();
            if !ok {
                return Err(Error::new(
                    ErrorKind::Value,
                    format!(
                        "gradcheck: input {i}, element {j}: analytic {} but numeric {numeric}",
                        a[j]
                    ),
                ));
            }
            worst = worst.max(dev);
        }
    }
    Ok(worst)
}
