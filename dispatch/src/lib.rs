//! ft-dispatch: routing of every op call to its kernel (DESIGN.md
//! "dispatch").
//!
//! - [`key`]: [`DispatchKey`] and [`DispatchKeySet`] (a `u64`), with the
//!   fixed priority table and validation that fails closed;
//! - [`schema`]: the op schema file `ops.schema` in PyTorch's `- func:`
//!   syntax, parsed and validated at first use;
//! - [`ops`] and [`route`]: the static (op, key) kernel table and the
//!   routing of a call, allocation-free;
//! - [`mode`]: `Strict` (PyTorch's route only) and `Hardened` (bounded,
//!   recorded fallbacks and defensive checks);
//! - [`ledger`]: the optional decision ledger, a preallocated ring;
//! - [`Tensor`] and its op surface ([`surface`]): every kernel as a method
//!   with PyTorch's name and argument order.
//!
//! ```
//! use ft_dispatch::{Tensor, ledger};
//! let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! let b = Tensor::from_slice(&[10.0f32], &[1])?;
//! ledger::enable(16);
//! let c = a.add(&b)?;
//! assert_eq!(c.to_vec::<f32>()?, vec![11.0, 12.0, 13.0]);
//! assert!(ledger::json_lines().contains("\"op\":\"add.Tensor\",\"keyset\":\"0x10001\",\"selected\":\"CPU\""));
//! ledger::disable();
//! # Ok::<(), ft_core::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]

mod cpu;
pub mod frame;
pub mod grad_mode;
pub mod key;
pub mod ledger;
pub mod mode;
pub mod ops;
pub mod route;
pub mod schema;
pub mod surface;
mod tensor;

pub use frame::{Arg, Frame, Kernel, Outputs};
pub use key::{Backend, DispatchKey, DispatchKeySet, Functionality, KeySetError};
pub use mode::{Mode, set_mode, set_thread_mode, with_mode};
pub use ops::Op;
pub use route::{call, call_below_autograd, keyset_of, lookup, redispatch, register};
pub use tensor::{AutogradMeta, Tensor};
