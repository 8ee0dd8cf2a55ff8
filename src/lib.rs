//! FrankenTorch: fast, PyTorch-exact CPU tensors for Rust.
//!
//! This facade re-exports the workspace crates; start from [`prelude`].
#![doc = include_str!("../README.md")]

pub use ft_autograd as autograd;
pub use ft_core as core;
pub use ft_dispatch as dispatch;

/// The names most programs need.
pub mod prelude {
    pub use ft_autograd::{AutogradExt, no_grad};
    pub use ft_core::{DType, Device, Error, Generator, Result, Scalar, TensorImpl};
    pub use ft_dispatch::{Mode, Tensor};
}
