//! Grad mode: whether ops record autograd history on this thread
//! (PyTorch's `torch.is_grad_enabled`, `torch.no_grad`). With grad mode
//! off, [`crate::keyset_of`] leaves the Autograd key out, so a call runs
//! its backend kernel directly and its result requires no grad: how an
//! optimizer updates parameters in place, and how the backward pass runs
//! its formulas.

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether this thread records autograd history (on by default).
#[inline]
pub fn is_grad_enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Turns recording on or off for this thread; returns the previous state.
pub fn set_grad_enabled(enabled: bool) -> bool {
    ENABLED.with(|c| c.replace(enabled))
}

/// Restores the grad mode it saved when dropped (also on unwinding).
#[must_use = "the previous grad mode is restored when the guard is dropped"]
pub struct GradModeGuard {
    prev: bool,
}

impl GradModeGuard {
    /// Sets grad mode to `enabled` until the guard is dropped.
    pub fn new(enabled: bool) -> Self {
        GradModeGuard {
            prev: set_grad_enabled(enabled),
        }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.prev);
    }
}

/// Runs `f` with grad mode off (PyTorch's `with torch.no_grad():`).
///
/// ```
/// use ft_dispatch::{Tensor, grad_mode};
/// let w = Tensor::from_slice(&[1.0f32], &[1])?.set_requires_grad(true)?;
/// let y = grad_mode::no_grad(|| w.mul_scalar(2.0))?;
/// assert!(!y.requires_grad());
/// assert!(grad_mode::is_grad_enabled());
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = GradModeGuard::new(false);
    f()
}

/// Runs `f` with grad mode on (PyTorch's `with torch.enable_grad():`).
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = GradModeGuard::new(true);
    f()
}
