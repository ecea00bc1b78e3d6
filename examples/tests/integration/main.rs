#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
//! The one integration-test binary of `mlops-examples` (one module per area).

mod eval;
mod quickstart;
