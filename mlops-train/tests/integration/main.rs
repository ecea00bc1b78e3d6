//! The one integration-test binary of `mlops-train` (one module per area).

mod common;
mod metrics;
mod package;
mod training;
