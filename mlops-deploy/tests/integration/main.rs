#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
//! Integration tests of `mlops-deploy`, one binary with a module per area.

mod controller;
mod deployer;
mod inference_log;
mod judge;
mod monitor;
mod prometheus;
mod quality;
mod retrain;
mod sim;
mod strategy;
mod trigger;
mod util;
