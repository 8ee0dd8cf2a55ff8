//! ft-kernels: the compute of FrankenTorch (DESIGN.md "kernels").
#![deny(unsafe_op_in_unsafe_fn)]

mod convert;
pub mod cpu;
pub mod isa;
pub mod simd;

pub use isa::{Isa, Job, available_isas, detected_isa, dispatch, dispatch_on, force_isa, isa};
pub use simd::Vf32;
pub mod gemm;
pub mod iter;
pub mod map;
pub mod math;
pub mod ops;
pub mod par;
mod scratch;

pub use ops::binary::{
    BinaryOp, add, add_, add_into, add_out, binary, binary_, binary_into, binary_out,
    binary_scalar, binary_scalar_, binary_scalar_into, scalar_binary, sub, sub_, sub_into, sub_out,
    threshold_backward, where_,
};
pub use ops::linalg::{
    BatchedPlan, MatmulPlan, addmm, addmm_, addmm_out, bmm, bmm_out, dot, linear, matmul,
    matmul_out, matmul_plan, mm, mm_out, mv,
};
pub use ops::reduce::{
    NormP, all, any, argmax, argmin, logsumexp, max, max_dim, mean, min, min_dim, norm, prod, std,
    sum, var,
};
pub use ops::softmax::{log_softmax, softmax};
pub use ops::unary::{
    UnaryOp, cast, clamp, clamp_, clamp_out, copy_, unary, unary_, unary_into, unary_out,
};
