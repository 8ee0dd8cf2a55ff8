//! Optimizers (PyTorch's `torch.optim`, the single-tensor code paths):
//! [`Sgd`] with momentum, dampening, Nesterov and weight decay, [`Adam`]
//! and [`AdamW`] with PyTorch's update formulas, operation for operation.
//! Updates run under `no_grad`, in place on the parameters (which share
//! storage with the model's). State (momentum buffers, moments, step
//! counts) is in [`Optimizer::state_dict`] under PyTorch's names.
//!
//! ```
//! use ft_autograd::optim::{Optimizer, Sgd};
//! use ft_autograd::AutogradExt;
//! # use ft_dispatch::Tensor;
//! let w = Tensor::from_slice(&[1.0f32, -2.0], &[2])?.requires_grad_(true)?;
//! let mut opt = Sgd::new(vec![w.clone()], 0.1).momentum(0.9);
//! for _ in 0..2 {
//!     opt.zero_grad();
//!     w.mul(&w)?.sum()?.backward()?; // grad = 2w
//!     opt.step()?;
//! }
//! // step 1: buf = 2w0, w1 = w0 - 0.1 * 2w0 = 0.8 w0
//! // step 2: buf = 0.9 * 2w0 + 2w1, w2 = w1 - 0.1 * buf
//! let w0 = 1.0f32;
//! let w1 = 0.8 * w0;
//! let w2 = w1 - 0.1 * (0.9 * 2.0 * w0 + 2.0 * w1);
//! assert!((w.to_vec::<f32>()?[0] - w2).abs() < 1e-6);
//! # Ok::<(), ft_core::Error>(())
//! ```

use crate::AutogradExt;
use crate::graph::fresh_copy;
use ft_core::{DType, Error, ErrorKind, Result};
use ft_dispatch::Tensor;
use ft_dispatch::grad_mode::no_grad;

/// What every optimizer does.
pub trait Optimizer {
    /// One update of every parameter that has a gradient.
    fn step(&mut self) -> Result<()>;

    /// The parameters it updates.
    fn params(&self) -> &[Tensor];

    /// Clears the parameters' gradients (`set_to_none=True`).
    fn zero_grad(&self) {
        for p in self.params() {
            let _ = p.set_grad(None);
        }
    }

    /// The state by PyTorch's names: `state.{i}.{name}` per parameter `i`
    /// (`momentum_buffer`; `step`, `exp_avg`, `exp_avg_sq`) and
    /// `param_groups.0.{hyperparameter}` as 0-dim f64 tensors.
    fn state_dict(&self) -> Vec<(String, Tensor)>;

    /// Restores the per-parameter state saved by [`Optimizer::state_dict`]
    /// (hyperparameters are the optimizer's own and are not overwritten).
    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()>;
}

fn scalar(v: f64) -> Result<Tensor> {
    Tensor::full(&[], v, DType::F64)
}

fn find<'a>(state: &'a [(String, Tensor)], name: &str) -> Option<&'a Tensor> {
    state.iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

/// A state tensor restored into `slot`, checked against the parameter.
fn restore(
    slot: &mut Option<Tensor>,
    state: &[(String, Tensor)],
    name: &str,
    p: &Tensor,
) -> Result<()> {
    if let Some(t) = find(state, name) {
        if t.shape() != p.shape() {
            return Err(Error::new(
                ErrorKind::Shape,
                format!(
                    "optimizer state {name} has shape {:?}, its parameter {:?}",
                    t.shape(),
                    p.shape()
                ),
            ));
        }
        *slot = Some(fresh_copy(&t.to_dtype(p.dtype())?)?);
    }
    Ok(())
}

/// `self.lerp_(end, weight)` as PyTorch's CPU kernel computes it.
fn lerp(a: &Tensor, end: &Tensor, weight: f64) -> Result<Tensor> {
    if weight < 0.5 {
        a.add(&end.sub(a)?.mul_scalar(weight)?)
    } else {
        end.sub(&end.sub(a)?.mul_scalar(1.0 - weight)?)
    }
}

/// Stochastic gradient descent (PyTorch's `torch.optim.SGD`).
pub struct Sgd {
    params: Vec<Tensor>,
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        let n = params.len();
        Sgd {
            params,
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            buffers: vec![None; n],
        }
    }

    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::new(
                ErrorKind::Value,
                "Nesterov momentum requires a momentum and zero dampening",
            ));
        }
        no_grad(|| -> Result<()> {
            for (p, buf) in self.params.iter().zip(self.buffers.iter_mut()) {
                let Some(mut g) = p.grad() else { continue };
                if self.weight_decay != 0.0 {
                    g = g.add_alpha(p, self.weight_decay)?;
                }
                if self.momentum != 0.0 {
                    let b = match buf.take() {
                        None => fresh_copy(&g)?,
                        Some(b) => b
                            .mul_scalar(self.momentum)?
                            .add_alpha(&g, 1.0 - self.dampening)?,
                    };
                    g = if self.nesterov {
                        g.add_alpha(&b, self.momentum)?
                    } else {
                        b.clone()
                    };
                    *buf = Some(b);
                }
                // PyTorch's `param.add_(grad, alpha=-lr)`: one pass, no
                // temporary, and one rounding (fused, as PyTorch's vector
                // path) where `p - g * lr` rounded twice.
                p.add_alpha_(&g, -self.lr)?;
            }
            Ok(())
        })
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for (i, b) in self.buffers.iter().enumerate() {
            if let Some(b) = b {
                v.push((format!("state.{i}.momentum_buffer"), b.detach()));
            }
        }
        for (k, x) in [
            ("lr", self.lr),
            ("momentum", self.momentum),
            ("dampening", self.dampening),
            ("weight_decay", self.weight_decay),
            ("nesterov", f64::from(u8::from(self.nesterov))),
        ] {
            if let Ok(t) = scalar(x) {
                v.push((format!("param_groups.0.{k}"), t));
            }
        }
        v
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        for (i, (p, b)) in self.params.iter().zip(self.buffers.iter_mut()).enumerate() {
            restore(b, state, &format!("state.{i}.momentum_buffer"), p)?;
        }
        Ok(())
    }
}

/// The moments of one parameter.
#[derive(Default, Clone)]
struct Moments {
    step: u64,
    exp_avg: Option<Tensor>,
    exp_avg_sq: Option<Tensor>,
}

/// Adam and AdamW share everything but where weight decay goes.
struct AdamCore {
    params: Vec<Tensor>,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    state: Vec<Moments>,
}

impl AdamCore {
    fn new(params: Vec<Tensor>, lr: f64, weight_decay: f64, decoupled: bool) -> Self {
        let n = params.len();
        AdamCore {
            params,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
            decoupled,
            state: vec![Moments::default(); n],
        }
    }

    /// PyTorch's `_single_tensor_adam` (amsgrad off, not maximizing).
    fn step(&mut self) -> Result<()> {
        let (beta1, beta2) = self.betas;
        no_grad(|| -> Result<()> {
            for (p, s) in self.params.iter().zip(self.state.iter_mut()) {
                let Some(mut g) = p.grad() else { continue };
                let exp_avg = match s.exp_avg.take() {
                    Some(t) => t,
                    None => Tensor::zeros(p.shape(), p.dtype())?,
                };
                let exp_avg_sq = match s.exp_avg_sq.take() {
                    Some(t) => t,
                    None => Tensor::zeros(p.shape(), p.dtype())?,
                };
                s.step += 1;
                if self.weight_decay != 0.0 {
                    if self.decoupled {
                        p.mul_(&Tensor::full(
                            &[],
                            1.0 - self.lr * self.weight_decay,
                            p.dtype(),
                        )?)?;
                    } else {
                        g = g.add_alpha(p, self.weight_decay)?;
                    }
                }
                let exp_avg = lerp(&exp_avg, &g, 1.0 - beta1)?;
                let exp_avg_sq = exp_avg_sq
                    .mul_scalar(beta2)?
                    .add(&g.mul(&g)?.mul_scalar(1.0 - beta2)?)?;
                let step = s.step as i32;
                let bias_correction1 = 1.0 - beta1.powi(step);
                let bias_correction2 = 1.0 - beta2.powi(step);
                let step_size = self.lr / bias_correction1;
                let bias_correction2_sqrt = bias_correction2.sqrt();
                let denom = exp_avg_sq
                    .sqrt()?
                    .div_scalar(bias_correction2_sqrt)?
                    .add_scalar(self.eps)?;
                p.sub_(&exp_avg.div(&denom)?.mul_scalar(step_size)?)?;
                s.exp_avg = Some(exp_avg);
                s.exp_avg_sq = Some(exp_avg_sq);
            }
            Ok(())
        })
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for (i, s) in self.state.iter().enumerate() {
            if s.step == 0 {
                continue;
            }
            if let Ok(t) = Tensor::full(&[], s.step as f64, DType::F32) {
                v.push((format!("state.{i}.step"), t));
            }
            if let Some(t) = &s.exp_avg {
                v.push((format!("state.{i}.exp_avg"), t.detach()));
            }
            if let Some(t) = &s.exp_avg_sq {
                v.push((format!("state.{i}.exp_avg_sq"), t.detach()));
            }
        }
        for (k, x) in [
            ("lr", self.lr),
            ("beta1", self.betas.0),
            ("beta2", self.betas.1),
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
        ] {
            if let Ok(t) = scalar(x) {
                v.push((format!("param_groups.0.{k}"), t));
            }
        }
        v
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        for (i, (p, s)) in self.params.iter().zip(self.state.iter_mut()).enumerate() {
            if let Some(t) = find(state, &format!("state.{i}.step")) {
                let v = t.to_vec_f64()?.first().copied().unwrap_or(0.0);
                if !(v >= 0.0 && v.fract() == 0.0) {
                    return Err(Error::new(
                        ErrorKind::Value,
                        format!("optimizer state state.{i}.step is {v}, not a step count"),
                    ));
                }
                s.step = v as u64;
            }
            restore(&mut s.exp_avg, state, &format!("state.{i}.exp_avg"), p)?;
            restore(
                &mut s.exp_avg_sq,
                state,
                &format!("state.{i}.exp_avg_sq"),
                p,
            )?;
        }
        Ok(())
    }
}

macro_rules! adam_like {
    ($(#[$doc:meta])* $name:ident, decoupled = $decoupled:literal, default_wd = $wd:literal) => {
        $(#[$doc])*
        pub struct $name(AdamCore);

        impl $name {
            /// With PyTorch's defaults: betas (0.9, 0.999), eps 1e-8.
            pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
                $name(AdamCore::new(params, lr, $wd, $decoupled))
            }

            pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
                self.0.betas = (beta1, beta2);
                self
            }

            pub fn eps(mut self, eps: f64) -> Self {
                self.0.eps = eps;
                self
            }

            pub fn weight_decay(mut self, weight_decay: f64) -> Self {
                self.0.weight_decay = weight_decay;
                self
            }

            /// The learning rate (for schedules).
            pub fn set_lr(&mut self, lr: f64) {
                self.0.lr = lr;
            }
        }

        impl Optimizer for $name {
            fn step(&mut self) -> Result<()> {
                self.0.step()
            }

            fn params(&self) -> &[Tensor] {
                &self.0.params
            }

            fn state_dict(&self) -> Vec<(String, Tensor)> {
                self.0.state_dict()
            }

            fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
                self.0.load_state_dict(state)
            }
        }
    };
}

adam_like!(
    /// Adam (PyTorch's `torch.optim.Adam`): weight decay added to the
    /// gradient (default 0).
    Adam, decoupled = false, default_wd = 0.0
);
adam_like!(
    /// AdamW (PyTorch's `torch.optim.AdamW`): decoupled weight decay,
    /// `p *= 1 - lr * weight_decay` before the Adam step (default 0.01).
    AdamW, decoupled = true, default_wd = 0.01
);
