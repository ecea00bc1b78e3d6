//! The one integration-test binary of `mlops-data` (one module per area).

#![allow(clippy::unwrap_used)]

mod contract;
mod dataset;
mod profile;
mod util;
mod validate;
