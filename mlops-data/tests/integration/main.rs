//! The one integration-test binary of `mlops-data` (one module per area).

mod contract;
mod dataset;
mod profile;
mod util;
mod validate;
