//! ft-kernels: the compute of FrankenTorch (DESIGN.md "kernels").
#![deny(unsafe_op_in_unsafe_fn)]

pub mod isa;
pub mod simd;

pub use isa::{Isa, Job, available_isas, detected_isa, dispatch, dispatch_on, force_isa, isa};
pub use simd::Vf32;
pub mod map;
pub mod math;
