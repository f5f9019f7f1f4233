use std::time::Duration;

/// Settings of the HTTP client that talks to Zoom.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            user_agent: concat!("meetgate/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// The one HTTP client for Zoom. It never follows redirects: a token endpoint that answers 302
/// would otherwise make us send a client secret or a code somewhere else (an SSRF).
pub fn build_http_client(config: &HttpConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(config.user_agent.clone())
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
}

/// Records one call to Zoom for `/metrics`. `endpoint` is a route template, never a URL with ids.
pub(crate) fn observe(endpoint: &'static str, outcome: &'static str, started: std::time::Instant) {
    metrics::counter!("meetgate_zoom_requests_total", "endpoint" => endpoint, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("meetgate_zoom_request_duration_seconds", "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
}
