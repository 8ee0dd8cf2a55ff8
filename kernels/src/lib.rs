//! ft-kernels: the compute of FrankenTorch (DESIGN.md "kernels").
//!
//! Filled by the kernels issue (ISA detection, strided loop engine,
//! elementwise, reduction and softmax kernels) and the GEMM issue.
#![deny(unsafe_op_in_unsafe_fn)]
