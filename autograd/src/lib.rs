//! ft-autograd: reverse-mode automatic differentiation for
//! [`ft_dispatch::Tensor`] (DESIGN.md "autograd").
//!
//! Mark leaves with [`AutogradExt::requires_grad_`]; every op on a tensor
//! that requires grad then records a node (dispatch routes it to the
//! `AutogradCPU` kernels this crate registers), and
//! [`AutogradExt::backward`] runs the graph backwards, accumulating into
//! the leaves' [`AutogradExt::grad`]. The semantics and error messages are
//! PyTorch's: saved tensors are freed by a backward without
//! `retain_graph`, a second backward through them fails; a saved tensor
//! modified in place fails the backward; [`grad`] computes gradients
//! without touching `.grad`; [`no_grad`] turns recording off.
//!
//! ```
//! use ft_autograd::AutogradExt;
//! use ft_dispatch::Tensor;
//!
//! let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0], &[3])?.requires_grad_(true)?;
//! let y = x.mul(&x)?.sum()?; // y = sum(x^2)
//! y.backward()?;
//! assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![2.0, 4.0, 6.0]);
//! # Ok::<(), ft_core::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]

pub mod checkpoint;
mod engine;
mod formulas;
pub mod gradcheck;
mod graph;
mod kernels;
mod live;
pub mod nn;
pub mod optim;
mod spin;

pub use ft_dispatch::grad_mode::{enable_grad, is_grad_enabled, no_grad, set_grad_enabled};
pub use gradcheck::gradcheck;
pub use live::live_nodes;

use ft_core::{Error, ErrorKind, Result};
use ft_dispatch::Tensor;
use graph::{Meta, erase, meta_ref};

/// Autograd on [`Tensor`]: PyTorch's `requires_grad_`, `backward`,
/// `grad`, `is_leaf`, `grad_fn`.
pub trait AutogradExt: Sized {
    /// Marks a leaf as requiring grad (or not). Only floating-point
    /// tensors can; a non-leaf can only be set to keep requiring grad.
    ///
    /// ```
    /// # use ft_autograd::AutogradExt;
    /// # use ft_dispatch::Tensor;
    /// let w = Tensor::from_slice(&[0.5f32], &[1])?.requires_grad_(true)?;
    /// assert!(w.requires_grad() && w.is_leaf());
    /// let y = w.mul_scalar(2.0)?;
    /// let err = y.requires_grad_(false).unwrap_err();
    /// assert!(err.message().starts_with("you can only change requires_grad flags of leaf variables."));
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    fn requires_grad_(self, requires_grad: bool) -> Result<Self>;

    /// The gradient accumulated into this leaf by backward passes, if any.
    fn grad(&self) -> Option<Tensor>;

    /// Replaces (or, with `None`, clears) the accumulated gradient: what
    /// an optimizer's `zero_grad` does.
    ///
    /// ```
    /// # use ft_autograd::AutogradExt;
    /// # use ft_dispatch::Tensor;
    /// let w = Tensor::from_slice(&[3.0f32], &[1])?.requires_grad_(true)?;
    /// w.mul(&w)?.sum()?.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![6.0]);
    /// w.set_grad(None)?;
    /// assert!(w.grad().is_none());
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    fn set_grad(&self, grad: Option<Tensor>) -> Result<()>;

    /// Whether no recorded op made this tensor (every tensor that does not
    /// require grad is a leaf, as in PyTorch).
    fn is_leaf(&self) -> bool;

    /// The name of the node that made this tensor (`MulBackward0`), if one
    /// did.
    ///
    /// ```
    /// # use ft_autograd::AutogradExt;
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0], &[2])?.requires_grad_(true)?;
    /// assert_eq!(x.exp()?.grad_fn_name(), Some("ExpBackward0"));
    /// assert_eq!(x.grad_fn_name(), None);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    fn grad_fn_name(&self) -> Option<&'static str>;

    /// `self.backward()`: for a one-element tensor, accumulates
    /// d(self)/d(leaf) into every leaf it depends on, and frees the graph's
    /// saved tensors.
    fn backward(&self) -> Result<()>;

    /// `self.backward(gradient, retain_graph)`: with the gradient of the
    /// output (required unless it has one element); `retain_graph` keeps
    /// the saved tensors for another backward.
    ///
    /// ```
    /// # use ft_autograd::AutogradExt;
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0], &[2])?.requires_grad_(true)?;
    /// let y = x.mul_scalar(3.0)?;
    /// let g = Tensor::from_slice(&[1.0f32, 10.0], &[2])?;
    /// y.backward_with(Some(&g), true)?;
    /// y.backward_with(Some(&g), false)?; // accumulates
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![6.0, 60.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    fn backward_with(&self, gradient: Option<&Tensor>, retain_graph: bool) -> Result<()>;
}

impl AutogradExt for Tensor {
    fn requires_grad_(self, requires_grad: bool) -> Result<Self> {
        kernels::ensure_registered()?;
        if !self.is_leaf() {
            if requires_grad {
                return Ok(self);
            }
            return Err(Error::new(
                ErrorKind::Value,
                "you can only change requires_grad flags of leaf variables. If you want to use a \
                 computed variable in a subgraph that doesn't require differentiation use \
                 var_no_grad = var.detach().",
            ));
        }
        let has_meta = meta_ref(&self).is_some();
        let t = self.set_requires_grad(requires_grad)?;
        Ok(if has_meta || !requires_grad {
            t
        } else {
            t.with_autograd_meta(Some(erase(Meta::leaf())))
        })
    }

    fn grad(&self) -> Option<Tensor> {
        meta_ref(self).and_then(|m| m.grad_slot().as_deref().cloned())
    }

    fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        let Some(m) = meta_ref(self) else {
            return match grad {
                None => Ok(()),
                Some(_) => Err(Error::new(
                    ErrorKind::Value,
                    "set_grad: the tensor does not require grad (call requires_grad_ first)",
                )),
            };
        };
        if let Some(g) = &grad {
            if g.shape() != self.shape() {
                return Err(Error::new(
                    ErrorKind::Shape,
                    "assigned grad has data of a different size",
                ));
            }
            if g.dtype() != self.dtype() {
                return Err(Error::new(
                    ErrorKind::DType,
                    "assigned grad has data of a different type",
                ));
            }
        }
        *m.grad_slot() = grad.map(Box::new);
        Ok(())
    }

    fn is_leaf(&self) -> bool {
        engine::is_leaf(self)
    }

    fn grad_fn_name(&self) -> Option<&'static str> {
        meta_ref(self).and_then(Meta::grad_fn_name)
    }

    fn backward(&self) -> Result<()> {
        self.backward_with(None, false)
    }

    fn backward_with(&self, gradient: Option<&Tensor>, retain_graph: bool) -> Result<()> {
        let g = gradient.map(|g| [g]);
        engine::execute(&[self], g.as_ref().map(|g| &g[..]), retain_graph, None).map(|_| ())
    }
}

/// `torch.autograd.backward(tensors, grad_tensors, retain_graph)`: one
/// backward pass from several outputs at once.
pub fn backward(
    tensors: &[&Tensor],
    grad_tensors: Option<&[&Tensor]>,
    retain_graph: bool,
) -> Result<()> {
    engine::execute(tensors, grad_tensors, retain_graph, None).map(|_| ())
}

/// `torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph,
/// allow_unused=...)`: the gradient of the outputs with respect to each
/// input, without touching any `.grad`. An input the outputs do not
/// depend on is an error unless `allow_unused` (then `None`).
///
/// ```
/// use ft_autograd::AutogradExt;
/// # use ft_dispatch::Tensor;
/// let x = Tensor::from_slice(&[2.0f64], &[1])?.requires_grad_(true)?;
/// let y = x.mul(&x)?.mul(&x)?.sum()?; // x^3
/// let g = ft_autograd::grad(&[&y], &[&x], None, false, false)?;
/// assert_eq!(g[0].as_ref().unwrap().to_vec::<f64>()?, vec![12.0]);
/// assert!(x.grad().is_none());
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn grad(
    outputs: &[&Tensor],
    inputs: &[&Tensor],
    grad_outputs: Option<&[&Tensor]>,
    retain_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    let r = engine::execute(outputs, grad_outputs, retain_graph, Some(inputs))?;
    if !allow_unused && r.iter().any(Option::is_none) {
        return Err(Error::new(
            ErrorKind::Value,
            "One of the differentiated Tensors appears to not have been used in the graph. Set \
             allow_unused=True if this is the desired behavior.",
        ));
    }
    Ok(r)
}
