#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure
//! The one integration-test binary of `mlops-deploy`: the judge and its simulations,
//! the model server over real HTTP on 127.0.0.1, the inference log on disk, and (under
//! `scripts/test`) MLflow's and KServe's own Python clients and `promtool`.

mod common;
mod controller;
mod deployer;
mod inference_log;
mod interop;
mod judge;
mod live;
mod local_rollout;
mod monitor;
mod onnx_serving;
mod prometheus;
mod quality;
mod registry;
mod retrain;
mod server;
mod sim;
mod strategy;
mod swap;
mod trigger;
mod util;
