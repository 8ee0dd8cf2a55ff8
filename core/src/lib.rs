//! ft-core: the ground FrankenTorch stands on.
//!
//! - [`DType`] and PyTorch's type promotion ([`promote_types`], [`result_type`]);
//! - [`Layout`]: shape, strides and offset with checked arithmetic, and every
//!   view as a rewrite of it;
//! - [`Storage`]: one 64-byte-aligned allocation (or, up to 64 bytes, bytes
//!   inside the storage) shared by `Arc`, with a version counter and
//!   run-time checked borrows;
//! - [`TensorImpl`]: constructors, data access and views without copies;
//! - [`Device`] (only the CPU executes) and the one [`Error`] type.
//!
//! ```
//! use ft_core::{DType, TensorImpl};
//! let a = TensorImpl::arange(0.0, 6.0, 1.0, DType::F32)?.view(&[2, 3])?;
//! let t = a.t()?; // a view: no copy
//! assert!(t.shares_storage(&a) && !t.is_contiguous());
//! assert_eq!(t.contiguous()?.to_vec::<f32>()?, vec![0., 3., 1., 4., 2., 5.]);
//! # Ok::<(), ft_core::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]

pub mod device;
pub mod dtype;
pub mod error;
pub mod layout;
pub mod rng;
pub mod storage;
pub mod tensor;

pub use device::{Device, DeviceKind};
pub use dtype::{Category, DType, Element, Operand, Scalar, cast, promote_types, result_type};
pub use error::{Error, ErrorKind, Result};
pub use half;
pub use layout::{DimVec, Layout, MAX_DIMS, MAX_NUMEL};
pub use rng::Generator;
pub use storage::Storage;
pub use tensor::TensorImpl;
