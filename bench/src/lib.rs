//! ft-bench: the suite of WORKLOADS.md (`suite`), timing (`measure`), the
//! machine's ceilings, instruction counts for the CI gate (`counts`), records and comparisons, and the targets. The
//! `ft-bench` binary and the criterion benches are built on it.

pub mod ceilings;
pub mod counts;
pub mod measure;
pub mod record;
pub mod suite;
pub mod targets;
