//! The one integration-test binary of `mlops-train` (one module per area).

mod common;
mod gates;
mod metrics;
mod package;
mod tracked;
mod training;
