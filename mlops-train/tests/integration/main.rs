#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
//! The one integration-test binary of `mlops-train` (one module per area).

mod common;
mod gates;
mod metrics;
mod onnx;
mod package;
mod tracked;
mod training;
