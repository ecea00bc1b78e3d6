//! Integration tests of the example binaries: the `mlops` command line run as a
//! process, the way a CI job runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod data;
