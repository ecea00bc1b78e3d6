//! Integration tests of `mlops-deploy`, one binary with a module per area.

mod judge;
mod sim;
