//! Protocol codecs: each turns a request body into a [`Table`](crate::schema::Table) and
//! a prediction into a response body. Adding a protocol adds a module here and its
//! routes in the server; nothing else changes.

pub mod kserve;
pub mod mlflow;
