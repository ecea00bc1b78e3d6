#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
//! Integration tests of `mlops-deploy`, one binary with a module per area.

mod controller;
mod deployer;
mod judge;
mod prometheus;
mod sim;
mod strategy;
