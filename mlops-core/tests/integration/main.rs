#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
//! Integration tests of `mlops-core`: one binary, one module per area.
//!
//! Tests that need several processes re-run this same binary as a child with an
//! environment variable naming the child's job (see `child`); without the variable
//! those entry points return at once.

mod alias_moves;
mod audit;
mod child;
mod corrupt_entries;
mod harness;
mod mlflow_server;
#[cfg(unix)]
mod modes;
mod registry;
mod run_delivery;
mod secrets;
mod store;
mod sync_resume;
mod tracking;
