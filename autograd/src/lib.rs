//! ft-autograd: the user-facing `Tensor`, the backward engine, nn and optim
//! (DESIGN.md "autograd"). Filled by the autograd and nn issues.
#![deny(unsafe_op_in_unsafe_fn)]
