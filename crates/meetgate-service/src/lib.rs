//! meetgate's service: the domain (connect Zoom accounts, keep their grants, create meetings on
//! their behalf), the JSON API and pages that expose it, and the background jobs that keep it
//! running. Dependencies point one way: `http` -> `domain` -> store and Zoom client.

pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
mod error;
pub mod http;
pub mod jobs;
pub mod secrets;
pub mod store;
pub mod vault;

pub use app::{App, AppError};
pub use error::{Error, FieldProblem, Result, ZoomProblem};
