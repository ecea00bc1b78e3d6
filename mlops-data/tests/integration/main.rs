//! The one integration-test binary of `mlops-data` (one module per area).

mod drift;
