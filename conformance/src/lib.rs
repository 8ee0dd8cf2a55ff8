//! ft-conformance: PyTorch-generated fixtures and the differential runner
//! (DESIGN.md "conformance"). Filled by the conformance issue; the type
//! promotion oracle of ft-core already lives in `oracle/`.
