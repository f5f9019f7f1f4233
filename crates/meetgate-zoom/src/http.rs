use std::time::Duration;

/// Settings of the HTTP client that talks to Zoom.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub user_agent: String,
    /// Trusted besides the public roots built in (webpki): a private CA, or the CA of a
    /// TLS-inspecting egress proxy.
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            user_agent: concat!("meetgate/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_roots: Vec::new(),
        }
    }
}

/// The one HTTP client for Zoom. It never follows redirects: a token endpoint that answers 302
/// would otherwise make us send a client secret or a code somewhere else (an SSRF).
pub fn build_http_client(config: &HttpConfig) -> Result<reqwest::Client, reqwest::Error> {
    http_client_builder(config).build()
}

/// The builder behind [`build_http_client`], for a client that needs more (a DNS resolver).
pub fn http_client_builder(config: &HttpConfig) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(config.user_agent.clone())
        .pool_idle_timeout(Duration::from_secs(60));
    for root in &config.extra_roots {
        builder = builder.add_root_certificate(root.clone());
    }
    builder
}

/// What went wrong with a request that got no answer, for logs, problem details and delivery
/// records: reqwest's own message says only "error sending request", the reason is in its
/// sources ("invalid peer certificate: UnknownIssuer", "Connection refused"). The URL is left
/// out. An untrusted certificate gets a hint at the setting that fixes it.
pub fn transport_error_text(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    if text.contains("UnknownIssuer") {
        text.push_str(
            " (if the server's certificate comes from a private CA, or HTTPS goes through a \
             TLS-inspecting proxy, add that CA to outbound.ca_bundle)",
        );
    }
    text
}

/// Records one call to Zoom for `/metrics`. `endpoint` is a route template, never a URL with ids.
pub(crate) fn observe(endpoint: &'static str, outcome: &'static str, started: std::time::Instant) {
    metrics::counter!("meetgate_zoom_requests_total", "endpoint" => endpoint, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("meetgate_zoom_request_duration_seconds", "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
}
