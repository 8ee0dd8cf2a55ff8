//! ft-dispatch: routing of every op call to its kernel (DESIGN.md
//! "dispatch"). Filled by the dispatch issue.
#![deny(unsafe_op_in_unsafe_fn)]
