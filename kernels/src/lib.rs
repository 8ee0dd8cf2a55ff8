//! ft-kernels: the compute of FrankenTorch (DESIGN.md "kernels").
#![deny(unsafe_op_in_unsafe_fn)]

pub mod isa;
pub mod simd;

pub use isa::{Isa, Job, detected_isa, dispatch, force_isa, isa};
pub use simd::Vf32;
