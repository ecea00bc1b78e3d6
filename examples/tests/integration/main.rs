#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
//! The one integration-test binary of `mlops-examples`: the `mlops` command line and the
//! quickstart run as processes, the way a CI job or a newcomer runs them.

mod audit;
mod cli;
mod data;
mod drift_cli;
mod eval;
mod judge;
mod monitor;
mod pipeline;
mod quickstart;
mod rollout;
mod serve;
