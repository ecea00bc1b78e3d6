//! The one integration-test binary of `mlops-examples` (one module per area).

mod eval;
