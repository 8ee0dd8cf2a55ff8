//! Neural-network building blocks (PyTorch's `torch.nn`): the [`Module`]
//! trait with named parameters and state dicts, [`Linear`] with PyTorch's
//! default initialisation (seeded), [`Sequential`], activations,
//! [`Dropout`], [`LayerNorm`], [`Embedding`], and the losses in
//! [`functional`]. Every forward is made of recorded ops, so autograd
//! differentiates it; parameters are leaf tensors that require grad.
//!
//! ```
//! use ft_autograd::nn::{Linear, Module, ReLU, Sequential};
//! use ft_autograd::AutogradExt;
//! use ft_core::Generator;
//! use ft_dispatch::Tensor;
//!
//! let mut g = Generator::new(0);
//! let model = Sequential::new()
//!     .push(Linear::new(4, 8, true, &mut g)?)
//!     .push(ReLU)
//!     .push(Linear::new(8, 2, true, &mut g)?);
//! let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
//! let x = Tensor::ones(&[3, 4], ft_core::DType::F32)?;
//! model.forward(&x)?.sum()?.backward()?;
//! assert!(model.parameters().iter().all(|p| p.grad().is_some()));
//! # Ok::<(), ft_core::Error>(())
//! ```

use crate::AutogradExt;
use crate::graph::torch_size;
use ft_core::{DType, Error, ErrorKind, Generator, Result, TensorImpl};
use ft_dispatch::Tensor;
use ft_dispatch::grad_mode::no_grad;
use std::sync::Mutex;

/// A named tensor of a state dict (PyTorch's `OrderedDict[str, Tensor]`),
/// in registration order.
pub type StateDict = Vec<(String, Tensor)>;

/// A layer or a model: parameters by name, a forward pass, train/eval.
pub trait Module {
    /// The class name PyTorch's messages use (`Linear`, `Sequential`).
    fn name(&self) -> &'static str {
        "Module"
    }

    /// The forward pass.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Parameters with their dotted names (`0.weight`), in registration
    /// order. The tensors share storage and `.grad` with the module's.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// The parameters, in the order of [`Module::named_parameters`].
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Training mode (`true`) or evaluation mode; only layers such as
    /// [`Dropout`] behave differently.
    fn train(&mut self, _mode: bool) {}

    /// Evaluation mode: `train(false)`.
    fn eval(&mut self) {
        self.train(false)
    }

    /// Clears every parameter's gradient (PyTorch's default,
    /// `set_to_none=True`).
    fn zero_grad(&self) {
        for p in self.parameters() {
            // A parameter is a leaf that requires grad: clearing cannot
            // fail.
            let _ = p.set_grad(None);
        }
    }

    /// The parameters' values by name, detached from the graph (sharing
    /// storage: copy before mutating).
    fn state_dict(&self) -> StateDict {
        self.named_parameters()
            .into_iter()
            .map(|(n, t)| (n, t.detach()))
            .collect()
    }

    /// Copies `state` into the parameters. With `strict`, a missing or an
    /// unexpected key is an error, as PyTorch reports it; a shape mismatch
    /// is always an error. Nothing is written unless every check passes.
    fn load_state_dict(&self, state: &[(String, Tensor)], strict: bool) -> Result<()> {
        load_into(self.name(), &self.named_parameters(), state, strict)
    }
}

fn load_into(
    module: &str,
    params: &[(String, Tensor)],
    state: &[(String, Tensor)],
    strict: bool,
) -> Result<()> {
    let mut missing: Vec<&str> = Vec::new();
    let mut mismatch: Vec<String> = Vec::new();
    let mut pairs: Vec<(&Tensor, &Tensor)> = Vec::new();
    for (name, p) in params {
        match state.iter().find(|(n, _)| n == name) {
            None => missing.push(name),
            Some((_, v)) => {
                if v.shape() != p.shape() {
                    mismatch.push(format!(
                        "size mismatch for {name}: copying a param with shape {} from \
                         checkpoint, the shape in current model is {}.",
                        torch_size(v.shape()),
                        torch_size(p.shape())
                    ));
                } else {
                    pairs.push((p, v));
                }
            }
        }
    }
    let unexpected: Vec<&str> = state
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !params.iter().any(|(p, _)| p == n))
        .collect();
    let mut errors: Vec<String> = Vec::new();
    if strict && !missing.is_empty() {
        errors.push(format!(
            "Missing key(s) in state_dict: {}. ",
            quoted(&missing)
        ));
    }
    if strict && !unexpected.is_empty() {
        errors.push(format!(
            "Unexpected key(s) in state_dict: {}. ",
            quoted(&unexpected)
        ));
    }
    errors.extend(mismatch);
    if !errors.is_empty() {
        return Err(Error::new(
            ErrorKind::Value,
            format!(
                "Error(s) in loading state_dict for {module}:\n\t{}",
                errors.join("\n\t")
            ),
        ));
    }
    no_grad(|| -> Result<()> {
        for (p, v) in pairs {
            p.copy_(v)?;
        }
        Ok(())
    })
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A leaf parameter of `shape`, uniform in `[-bound, bound)`.
fn uniform_param(shape: &[usize], bound: f64, g: &mut Generator) -> Result<Tensor> {
    let t = TensorImpl::from_fn(shape, DType::F32, |_| (g.uniform_f64() * 2.0 - 1.0) * bound)?;
    Tensor::from(t).requires_grad_(true)
}

/// `y = x Wᵀ + b` (PyTorch's `nn.Linear`).
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// PyTorch's default initialisation, seeded: weight and bias uniform in
    /// `[-1/sqrt(in_features), 1/sqrt(in_features))` (what
    /// `kaiming_uniform_(a=sqrt(5))` amounts to).
    pub fn new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        g: &mut Generator,
    ) -> Result<Self> {
        let bound = if in_features > 0 {
            1.0 / (in_features as f64).sqrt()
        } else {
            0.0
        };
        let weight = uniform_param(&[out_features, in_features], bound, g)?;
        let bias = if bias {
            Some(uniform_param(&[out_features], bound, g)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }
}

impl Module for Linear {
    fn name(&self) -> &'static str {
        "Linear"
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.linear(&self.weight, self.bias.as_ref())
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }
}

/// Layers applied in order; parameters are named by position (`0.weight`).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module + Send + Sync>>,
}

impl Sequential {
    pub fn new() -> Self {
        Sequential::default()
    }

    /// Appends a layer.
    pub fn push(mut self, layer: impl Module + Send + Sync + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn name(&self) -> &'static str {
        "Sequential"
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward(&h)?;
        }
        Ok(h)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.named_parameters()
                    .into_iter()
                    .map(move |(n, t)| (format!("{i}.{n}"), t))
            })
            .collect()
    }

    fn train(&mut self, mode: bool) {
        for l in &mut self.layers {
            l.train(mode);
        }
    }
}

macro_rules! activation {
    ($($(#[$doc:meta])* $name:ident => |$x:ident| $body:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Module for $name {
            fn name(&self) -> &'static str {
                stringify!($name)
            }

            fn forward(&self, $x: &Tensor) -> Result<Tensor> {
                $body
            }
        }
    )*};
}

activation! {
    /// `max(x, 0)`.
    ReLU => |x| x.relu();
    /// `tanh(x)`.
    Tanh => |x| x.tanh();
    /// `1 / (1 + exp(-x))`.
    Sigmoid => |x| x.sigmoid();
    /// `x * sigmoid(x)`.
    SiLU => |x| x.silu();
}

/// `x * Φ(x)` (`approximate = "none"`) or its tanh approximation
/// (`"tanh"`).
#[derive(Clone, Debug)]
pub struct GELU {
    pub approximate: &'static str,
}

impl Default for GELU {
    fn default() -> Self {
        GELU {
            approximate: "none",
        }
    }
}

impl Module for GELU {
    fn name(&self) -> &'static str {
        "GELU"
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.gelu(self.approximate)
    }
}

/// Zeroes each element with probability `p` in training mode and scales
/// the rest by `1 / (1 - p)`; the identity in evaluation mode. Seeded: the
/// masks come from its own generator.
pub struct Dropout {
    p: f64,
    training: bool,
    rng: Mutex<Generator>,
}

impl Dropout {
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::new(
                ErrorKind::Value,
                format!("dropout probability has to be between 0 and 1, but got {p}"),
            ));
        }
        Ok(Dropout {
            p,
            training: true,
            rng: Mutex::new(Generator::new(seed)),
        })
    }
}

impl Module for Dropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        if self.p == 1.0 {
            return x.mul_scalar(0.0);
        }
        let keep = 1.0 - self.p;
        let mut g = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let mask = TensorImpl::from_fn(x.shape(), x.dtype(), |_| {
            if g.uniform_f64() < keep {
                1.0 / keep
            } else {
                0.0
            }
        })?;
        x.mul(&Tensor::from(mask))
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
    }
}

/// Normalises over the last dims (`normalized_shape`): `(x - mean) /
/// sqrt(var + eps) * weight + bias`, the variance without correction, as
/// PyTorch's `nn.LayerNorm` (weight ones, bias zeros at start).
pub struct LayerNorm {
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
    pub weight: Tensor,
    pub bias: Tensor,
}

impl LayerNorm {
    pub fn new(normalized_shape: &[usize], eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            eps,
            weight: Tensor::ones(normalized_shape, DType::F32)?.requires_grad_(true)?,
            bias: Tensor::zeros(normalized_shape, DType::F32)?.requires_grad_(true)?,
        })
    }
}

impl Module for LayerNorm {
    fn name(&self) -> &'static str {
        "LayerNorm"
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let k = self.normalized_shape.len();
        let nd = x.ndim();
        if nd < k || x.shape()[nd - k..] != self.normalized_shape[..] {
            return Err(Error::new(
                ErrorKind::Shape,
                format!(
                    "Given normalized_shape={:?}, expected input with shape [*, {}], but got \
                     input of size{:?}",
                    self.normalized_shape,
                    self.normalized_shape
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    x.shape()
                ),
            ));
        }
        let dims: Vec<isize> = (nd - k..nd).map(|d| d as isize).collect();
        let mean = x.mean_dim(&dims, true)?;
        let centered = x.sub(&mean)?;
        let var = centered.mul(&centered)?.mean_dim(&dims, true)?;
        let norm = centered.mul(&var.add_scalar(self.eps)?.rsqrt()?)?;
        norm.mul(&self.weight)?.add(&self.bias)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".to_string(), self.weight.clone()),
            ("bias".to_string(), self.bias.clone()),
        ]
    }
}

/// A lookup table: row `i` of `weight` for index `i` (PyTorch's
/// `nn.Embedding`, weight initialised from N(0, 1), seeded). The lookup is
/// a product with the one-hot matrix of the indices, so its gradient is
/// the scatter-add PyTorch computes.
pub struct Embedding {
    pub weight: Tensor,
}

impl Embedding {
    pub fn new(num_embeddings: usize, embedding_dim: usize, g: &mut Generator) -> Result<Self> {
        let w = TensorImpl::randn(&[num_embeddings, embedding_dim], DType::F32, g)?;
        Ok(Embedding {
            weight: Tensor::from(w).requires_grad_(true)?,
        })
    }
}

impl Module for Embedding {
    fn name(&self) -> &'static str {
        "Embedding"
    }

    /// `x`: integer indices of any shape; the result has shape
    /// `[*x.shape, embedding_dim]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.dtype().is_floating_point() || x.dtype() == DType::Bool {
            return Err(Error::new(
                ErrorKind::DType,
                format!(
                    "Expected tensor for argument #1 'indices' to have one of the following scalar \
                     types: Long, Int; but got {} instead",
                    x.dtype().scalar_type_name()
                ),
            ));
        }
        let n = self.weight.shape()[0];
        let idx = x.to_dtype(DType::I64)?;
        if idx
            .to_vec::<i64>()?
            .iter()
            .any(|&i| i < 0 || i as usize >= n)
        {
            return Err(Error::new(ErrorKind::Index, "index out of range in self"));
        }
        let classes = Tensor::arange(0.0, n as f64, 1.0, DType::I64)?;
        let one_hot = idx
            .unsqueeze(-1)?
            .eq(&classes)?
            .to_dtype(self.weight.dtype())?;
        one_hot.matmul(&self.weight)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}

/// Losses and other functions without parameters (`torch.nn.functional`).
pub mod functional {
    use ft_core::{DType, Error, ErrorKind, Result};
    use ft_dispatch::Tensor;

    /// How a loss over a batch is reduced.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub enum Reduction {
        /// One value per element (per sample for cross-entropy).
        None,
        #[default]
        Mean,
        Sum,
    }

    fn reduce(x: Tensor, r: Reduction) -> Result<Tensor> {
        match r {
            Reduction::None => Ok(x),
            Reduction::Mean => x.mean(),
            Reduction::Sum => x.sum(),
        }
    }

    /// `(input - target)^2`, reduced.
    ///
    /// ```
    /// use ft_autograd::nn::functional::{mse_loss, Reduction};
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = Tensor::from_slice(&[0.0f32, 4.0], &[2])?;
    /// assert_eq!(mse_loss(&a, &b, Reduction::Mean)?.to_vec::<f32>()?, vec![2.5]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        let d = input.sub(target)?;
        reduce(d.mul(&d)?, reduction)
    }

    /// `log_softmax(x, dim)`.
    pub fn log_softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
        x.log_softmax(dim)
    }

    /// Cross-entropy of `logits` `[N, C]` against class indices `target`
    /// `[N]` (integers in `0..C`), with optional label smoothing: PyTorch's
    /// `F.cross_entropy(logits, target, reduction=, label_smoothing=)`.
    ///
    /// ```
    /// use ft_autograd::nn::functional::{cross_entropy, Reduction};
    /// # use ft_dispatch::Tensor;
    /// let logits = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 1.0], &[2, 2])?;
    /// let target = Tensor::from_slice(&[0i64, 1], &[2])?;
    /// let l = cross_entropy(&logits, &target, Reduction::Mean, 0.0)?.to_vec::<f32>()?[0];
    /// let want = ((1.0f32 + (-2.0f32).exp()).ln() + (1.0f32 + (-1.0f32).exp()).ln()) / 2.0;
    /// assert!((l - want).abs() < 1e-6);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn cross_entropy(
        logits: &Tensor,
        target: &Tensor,
        reduction: Reduction,
        label_smoothing: f64,
    ) -> Result<Tensor> {
        if logits.ndim() != 2 || target.ndim() != 1 || target.shape()[0] != logits.shape()[0] {
            return Err(Error::new(
                ErrorKind::Shape,
                format!(
                    "cross_entropy: expected logits [N, C] and target [N], got {:?} and {:?}",
                    logits.shape(),
                    target.shape()
                ),
            ));
        }
        if target.dtype().is_floating_point() || target.dtype() == DType::Bool {
            return Err(Error::new(
                ErrorKind::DType,
                format!(
                    "cross_entropy: class-index targets must be integers, got {}",
                    target.dtype()
                ),
            ));
        }
        if !(0.0..=1.0).contains(&label_smoothing) {
            return Err(Error::new(
                ErrorKind::Value,
                format!("label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"),
            ));
        }
        let c = logits.shape()[1];
        let t = target.to_dtype(DType::I64)?;
        if let Some(&bad) = t
            .to_vec::<i64>()?
            .iter()
            .find(|&&v| v < 0 || v as usize >= c)
        {
            return Err(Error::new(
                ErrorKind::Index,
                format!("Target {bad} is out of bounds."),
            ));
        }
        let logp = logits.log_softmax(1)?;
        let classes = Tensor::arange(0.0, c as f64, 1.0, DType::I64)?;
        let one_hot = t.unsqueeze(1)?.eq(&classes)?.to_dtype(logp.dtype())?;
        let nll = logp.mul(&one_hot)?.sum_dim(&[1], false)?.neg()?;
        let per_sample = if label_smoothing > 0.0 {
            let smooth = logp.sum_dim(&[1], false)?.neg()?;
            nll.mul_scalar(1.0 - label_smoothing)?
                .add(&smooth.mul_scalar(label_smoothing / c as f64)?)?
        } else {
            nll
        };
        reduce(per_sample, reduction)
    }
}
