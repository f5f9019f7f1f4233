//! How a sandbox is configured.

use std::time::Duration;

use url::Url;

use crate::world::World;

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The simulated accounts, users and apps.
    pub world: World,
    /// Lifetime of access tokens (Zoom: 3599 s in token responses).
    pub access_token_ttl: Duration,
    /// Zoom's QPS and daily limits; switch off for benchmarks.
    pub rate_limits: bool,
    /// Divides Zoom's 5/20/60-minute webhook retry delays (1 = Zoom's schedule).
    pub webhook_retry_compression: u32,
    /// Base URL used in links and `api_url`; defaults to the bound address.
    pub public_url: Option<Url>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            world: World::default_seed(),
            access_token_ttl: Duration::from_secs(3599),
            rate_limits: true,
            webhook_retry_compression: 1,
            public_url: None,
        }
    }
}
