//! Errors of starting and running a sandbox.

use crate::world::WorldError;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not bind the sandbox listener: {0}")]
    Bind(#[source] std::io::Error),
    #[error(transparent)]
    World(#[from] WorldError),
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    #[error("page templates failed to load: {0}")]
    Templates(#[from] minijinja::Error),
    #[error("webhook HTTP client could not be built: {0}")]
    Http(#[from] reqwest::Error),
    #[error("invalid base URL: {0}")]
    Url(#[from] url::ParseError),
}
