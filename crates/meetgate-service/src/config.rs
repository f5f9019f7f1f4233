//! meetgate's settings. The binary layers them (defaults, then `meetgate.toml`, then `MEETGATE_*`
//! variables, then flags) and hands the result in; nothing reads configuration globally.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A century: longer retention is a typo, and days past it would overflow a timestamp.
pub const MAX_RETENTION_DAYS: u64 = 36_500;

/// Every setting, each with a default. Every leaf is present (no `Option`), so that each has an
/// environment variable: `MEETGATE_` + the dotted path in upper case with `_` for `.`
/// (`zoom.refresh_margin_secs` is `MEETGATE_ZOOM_REFRESH_MARGIN_SECS`). An empty string means
/// "not set" where the docs say so.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// The URL users and Zoom reach meetgate at; links (connect, start, OAuth callback) are built
    /// from it. Empty: `http://{listen}`.
    pub public_url: String,
    /// Where the embedded database and the generated vault key live.
    pub data_dir: PathBuf,
    /// `sqlite://path` or `postgres://...`. Empty: `sqlite://{data_dir}/meetgate.db`.
    pub database_url: String,
    /// Database pool size.
    pub database_max_connections: u32,
    /// How long API keys, tenants and Zoom apps read for one request are reused by the next
    /// ones. A change made through another process (another replica, the CLI), such as a key
    /// revoked, takes effect here at most this much later; 0 reads them every time.
    pub lookup_cache_secs: u64,
    pub log: LogConfig,
    pub vault: VaultConfig,
    pub zoom: ZoomConfig,
    pub web: WebConfig,
    pub jobs: JobsConfig,
    pub metrics: MetricsConfig,
    pub http: HttpConfig,
    pub outbound: OutboundConfig,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: String,
    /// `tracing` filter directives, e.g. `info,meetgate_service=debug`.
    pub level: String,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// The keyring: comma-separated `key_id:base64(32 bytes)` entries. The first encrypts, the
    /// others only decrypt (old keys during a rotation). Secret: prefer
    /// `MEETGATE_VAULT_KEYS_FILE`. Empty: use (or create) `key_file`.
    pub keys: String,
    /// Where the embedded default keeps a generated key (mode 0600). Empty:
    /// `{data_dir}/vault.key`.
    pub key_file: PathBuf,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct ZoomConfig {
    /// Refresh an access token this long before it expires.
    pub refresh_margin_secs: u64,
    /// Refresh a grant nobody used for this many days, so its refresh token never ages out.
    pub idle_refresh_days: u64,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    /// How many refreshes (token calls to Zoom) one process runs at once; more wait their turn.
    /// On PostgreSQL each also holds a pooled connection for its lock, and the store lets at
    /// most three quarters of the pool do that: the rest wait there.
    pub max_concurrent_refreshes: u32,
    /// Accept Zoom webhooks whose timestamp is at most this far from now.
    pub webhook_tolerance_secs: i64,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Sign members out after this many idle minutes.
    pub session_idle_minutes: u64,
    /// Sign members out after this many hours whatever they do.
    pub session_max_hours: u64,
    /// `auto` (Secure when `public_url` is https), `always` or `never`.
    pub secure_cookies: String,
    /// Failed sign-ins allowed per email and per client address in 15 minutes.
    pub signin_attempts_per_15_min: u32,
    /// Trust `X-Forwarded-For` from a reverse proxy in front of meetgate: the sign-in limiter
    /// then counts by the client address it names. (The scheme always comes from `public_url`.)
    pub trust_proxy_headers: bool,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Run background jobs (refresh, webhook delivery, inbox, cleanup) in this process.
    pub enabled: bool,
    /// Pause between job rounds when there was nothing to do.
    pub idle_interval_ms: u64,
    /// Give up delivering a webhook after this many attempts.
    pub webhook_max_attempts: u32,
    /// Webhook sends in flight at once from this process.
    pub webhook_max_in_flight: u32,
    /// Of those, at most this many to one endpoint: an endpoint that hangs holds this many
    /// slots, not the others'.
    pub webhook_max_in_flight_per_endpoint: u32,
    /// Keep audit entries this many days (6 years by default, as HIPAA asks of documentation).
    pub audit_retention_days: u64,
    /// Keep outbound webhook events and their finished deliveries this many days: the delivery
    /// history the admin pages and the API show. An event with a delivery still being retried
    /// is kept until the delivery ends.
    pub event_retention_days: u64,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Serve `/metrics` on this separate address. Empty: on the main listener.
    pub listen: String,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Requests taking longer are answered 503.
    pub request_timeout_secs: u64,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// On SIGTERM, wait at most this long for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// A client gets this long to send a request's headers; then its connection is closed.
    /// Without it, one that sends them a byte at a time holds its connection for ever.
    pub header_read_timeout_secs: u64,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// A PEM file of CA certificates to trust for outbound HTTPS (Zoom, and webhooks to host
    /// apps), besides the public roots built in: a host app behind a private CA, or an egress
    /// proxy that inspects TLS. Empty: the built-in roots only.
    pub ca_bundle: PathBuf,
    /// Let webhook endpoints point to loopback, private and other non-public addresses. Off by
    /// default: an endpoint URL comes from a tenant, and must not reach into meetgate's own
    /// network. Turn it on for a host app on the same private network, or for development.
    pub allow_private_webhooks: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            data_dir: PathBuf::from("meetgate-data"),
            database_url: String::new(),
            database_max_connections: 16,
            lookup_cache_secs: 5,
            log: LogConfig::default(),
            vault: VaultConfig::default(),
            zoom: ZoomConfig::default(),
            web: WebConfig::default(),
            jobs: JobsConfig::default(),
            metrics: MetricsConfig::default(),
            http: HttpConfig::default(),
            outbound: OutboundConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "human".into(),
            level: "info".into(),
        }
    }
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            keys: String::new(),
            key_file: PathBuf::new(),
        }
    }
}

impl Default for ZoomConfig {
    fn default() -> Self {
        Self {
            refresh_margin_secs: 300,
            idle_refresh_days: 30,
            connect_timeout_secs: 5,
            request_timeout_secs: 20,
            max_concurrent_refreshes: 64,
            webhook_tolerance_secs: 300,
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 15,
            session_max_hours: 12,
            secure_cookies: "auto".into(),
            signin_attempts_per_15_min: 10,
            trust_proxy_headers: false,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_interval_ms: 1000,
            webhook_max_attempts: 12,
            webhook_max_in_flight: 64,
            webhook_max_in_flight_per_endpoint: 4,
            audit_retention_days: 6 * 365,
            event_retention_days: 30,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: String::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            max_body_bytes: 256 * 1024,
            shutdown_grace_secs: 30,
            header_read_timeout_secs: 30,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field("database", &redact_url(&self.database_url))
            .field("vault", &self.vault)
            .field("zoom", &self.zoom)
            .field("web", &self.web)
            .field("jobs", &self.jobs)
            .field("outbound", &self.outbound)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self
            .keys
            .split(',')
            .filter_map(|k| k.split(':').next())
            .filter(|k| !k.is_empty())
            .collect();
        f.debug_struct("VaultConfig")
            .field("key_ids", &ids)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// A database URL with any password replaced, for logs and errors: the user part's, and a
/// `password=` parameter (libpq's other place for it). A URL that does not parse into a host
/// but holds an `@` (`postgres:/user:pw@host`) is not shown at all.
pub fn redact_url(url: &str) -> String {
    const HIDDEN: &str = "<unparseable URL with credentials>";
    match url::Url::parse(url) {
        Ok(parsed) if parsed.host().is_none() && url.contains('@') => HIDDEN.into(),
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "***".into()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) if url.contains('@') || url.contains("password=") => HIDDEN.into(),
        Err(_) => url.to_owned(),
    }
}

/// A setting that is wrong, named so the operator can find it.
#[derive(Debug, thiserror::Error)]
#[error("setting `{setting}`: {problem}")]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(setting: &str, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

impl Config {
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::new(
                "listen",
                format!("{:?} is not an address like 127.0.0.1:8080", self.listen),
            )
        })
    }

    /// The public base URL, without a trailing slash.
    pub fn public_base(&self) -> Result<url::Url, ConfigError> {
        let text = if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.clone()
        };
        let url = url::Url::parse(&text)
            .map_err(|e| ConfigError::new("public_url", format!("{text:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "public_url",
                "must be an http or https URL",
            ));
        }
        Ok(url)
    }

    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("meetgate.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn effective_key_file(&self) -> PathBuf {
        if self.vault.key_file.as_os_str().is_empty() {
            self.data_dir.join("vault.key")
        } else {
            self.vault.key_file.clone()
        }
    }

    pub fn secure_cookies(&self) -> bool {
        match self.web.secure_cookies.as_str() {
            "always" => true,
            "never" => false,
            _ => self
                .public_base()
                .map(|u| u.scheme() == "https")
                .unwrap_or(false),
        }
    }

    /// Checks everything that can be checked without I/O, naming the first wrong setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.public_base()?;
        let db = self.effective_database_url();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database_url",
                format!(
                    "{:?} must start with sqlite://, postgres:// or postgresql://",
                    redact_url(&db)
                ),
            ));
        }
        if !matches!(self.log.format.as_str(), "human" | "json") {
            return Err(ConfigError::new("log.format", "must be `human` or `json`"));
        }
        if !matches!(
            self.web.secure_cookies.as_str(),
            "auto" | "always" | "never"
        ) {
            return Err(ConfigError::new(
                "web.secure_cookies",
                "must be `auto`, `always` or `never`",
            ));
        }
        if !self.metrics.listen.is_empty() && self.metrics.listen.parse::<SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "metrics.listen",
                "must be an address like 127.0.0.1:9100",
            ));
        }
        if self.lookup_cache_secs > 300 {
            return Err(ConfigError::new(
                "lookup_cache_secs",
                "must be at most 300 (a revoked API key stays usable in other processes this long)",
            ));
        }
        if self.database_max_connections < 2 {
            return Err(ConfigError::new(
                "database_max_connections",
                "must be at least 2",
            ));
        }
        self.check_ranges()?;
        self.outbound_roots()?;
        Ok(())
    }

    /// Numbers that become durations or counts: out of range they would overflow a time,
    /// wrap to a negative age, or quietly break the service.
    fn check_ranges(&self) -> Result<(), ConfigError> {
        let (z, w, j, h) = (&self.zoom, &self.web, &self.jobs, &self.http);
        let days = i128::from(MAX_RETENTION_DAYS);
        #[rustfmt::skip]
        let ranges: [(&'static str, i128, i128, i128, &str); 18] = [
            ("zoom.refresh_margin_secs", z.refresh_margin_secs.into(), 0, 3000, "Zoom's access tokens live an hour: a margin close to that refreshes on every request"),
            ("zoom.idle_refresh_days", z.idle_refresh_days.into(), 1, 80, "Zoom's refresh tokens die after 90 days unused"),
            ("zoom.connect_timeout_secs", z.connect_timeout_secs.into(), 1, 300, ""),
            ("zoom.request_timeout_secs", z.request_timeout_secs.into(), 1, 300, ""),
            ("zoom.max_concurrent_refreshes", z.max_concurrent_refreshes.into(), 1, 10_000, ""),
            ("zoom.webhook_tolerance_secs", z.webhook_tolerance_secs.into(), 1, 3600, ""),
            ("web.session_idle_minutes", w.session_idle_minutes.into(), 1, 7 * 24 * 60, ""),
            ("web.session_max_hours", w.session_max_hours.into(), 1, 366 * 24, ""),
            ("web.signin_attempts_per_15_min", w.signin_attempts_per_15_min.into(), 1, 10_000, ""),
            ("jobs.idle_interval_ms", j.idle_interval_ms.into(), 10, 3_600_000, ""),
            ("jobs.webhook_max_attempts", j.webhook_max_attempts.into(), 1, 100, ""),
            ("jobs.webhook_max_in_flight", j.webhook_max_in_flight.into(), 1, 10_000, ""),
            ("jobs.webhook_max_in_flight_per_endpoint", j.webhook_max_in_flight_per_endpoint.into(), 1, 10_000, ""),
            ("jobs.audit_retention_days", j.audit_retention_days.into(), 1, days, ""),
            ("jobs.event_retention_days", j.event_retention_days.into(), 1, days, ""),
            ("http.request_timeout_secs", h.request_timeout_secs.into(), 1, 3600, ""),
            ("http.shutdown_grace_secs", h.shutdown_grace_secs.into(), 0, 3600, ""),
            ("http.header_read_timeout_secs", h.header_read_timeout_secs.into(), 1, 3600, ""),
        ];
        for (key, value, min, max, why) in ranges {
            if !(min..=max).contains(&value) {
                let why = if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({why})")
                };
                return Err(ConfigError::new(
                    key,
                    format!("is {value}; it must be between {min} and {max}{why}"),
                ));
            }
        }
        Ok(())
    }

    /// The certificates of `outbound.ca_bundle`, each checked usable as a root (none when unset).
    pub fn outbound_roots(&self) -> Result<Vec<reqwest::Certificate>, ConfigError> {
        let path = &self.outbound.ca_bundle;
        if path.as_os_str().is_empty() {
            return Ok(Vec::new());
        }
        let problem = |what: String| ConfigError::new("outbound.ca_bundle", what);
        let pem = std::fs::read(path)
            .map_err(|e| problem(format!("cannot read {}: {e}", path.display())))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| problem(format!("{} is not a PEM bundle: {e}", path.display())))?;
        if roots.is_empty() {
            return Err(problem(format!(
                "{} holds no certificate (expected PEM blocks that begin with -----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        let usable = |certs: &[reqwest::Certificate]| {
            certs
                .iter()
                .fold(reqwest::Client::builder(), |b, c| {
                    b.add_root_certificate(c.clone())
                })
                .build()
        };
        if let Err(e) = usable(&roots) {
            // Only now, one at a time, to name the one that cannot be a root.
            let n = roots
                .iter()
                .position(|c| usable(std::slice::from_ref(c)).is_err())
                .map_or(0, |i| i + 1);
            let why =
                std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
            return Err(problem(format!(
                "certificate {n} of {} cannot be a trusted root: {why}",
                path.display()
            )));
        }
        Ok(roots)
    }
}

/// The default configuration as a commented `meetgate.toml` (`meetgate config default`). A test
/// checks that it parses to exactly `Config::default()`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../meetgate.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_example_is_the_default() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG_TOML).unwrap();
        assert!(
            parsed == Config::default(),
            "meetgate.example.toml drifted from Config::default()"
        );
    }

    #[test]
    fn database_urls_are_shown_without_passwords() {
        for (url, shown) in [
            ("postgres://u:s3cret@db/m", "postgres://u:***@db/m"),
            (
                "postgres://u@db/m?sslmode=require&password=s3cret",
                "postgres://u@db/m?sslmode=require&password=***",
            ),
            (
                "postgres:/u:s3cret@db/m",
                "<unparseable URL with credentials>",
            ),
            ("sqlite://data/meetgate.db", "sqlite://data/meetgate.db"),
        ] {
            assert_eq!(redact_url(url), shown);
            let config = Config {
                database_url: url.into(),
                ..Config::default()
            };
            assert!(!format!("{config:?}").contains("s3cret"), "{url}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_setting() {
        let config = Config {
            database_url: "mysql://x".into(),
            ..Config::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.setting, "database_url");
        let config = Config {
            listen: "nope".into(),
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap_err().setting, "listen");
    }

    #[test]
    fn retention_is_at_least_a_day_and_at_most_a_century() {
        let with = |audit: u64, event: u64| Config {
            jobs: JobsConfig {
                audit_retention_days: audit,
                event_retention_days: event,
                ..JobsConfig::default()
            },
            ..Config::default()
        };
        with(1, MAX_RETENTION_DAYS).validate().unwrap();
        // u64::MAX would wrap to a negative age and purge everything.
        for (config, setting) in [
            (with(0, 30), "jobs.audit_retention_days"),
            (with(u64::MAX, 30), "jobs.audit_retention_days"),
            (with(2190, 0), "jobs.event_retention_days"),
            (
                with(2190, MAX_RETENTION_DAYS + 1),
                "jobs.event_retention_days",
            ),
        ] {
            assert_eq!(config.validate().unwrap_err().setting, setting);
        }
    }

    #[test]
    fn durations_and_counts_out_of_range_are_named_with_the_reason() {
        type Change = fn(&mut Config);
        let refused = |change: Change| {
            let mut config = Config::default();
            change(&mut config);
            config.validate().unwrap_err()
        };
        let cases: [(Change, &str, &str); 4] = [
            (
                |c| c.zoom.refresh_margin_secs = 3600,
                "zoom.refresh_margin_secs",
                "refreshes on every request",
            ),
            (
                |c| c.web.session_idle_minutes = u64::MAX,
                "web.session_idle_minutes",
                "between 1 and",
            ),
            (
                |c| c.zoom.webhook_tolerance_secs = -5,
                "zoom.webhook_tolerance_secs",
                "is -5",
            ),
            (
                |c| c.zoom.idle_refresh_days = 90,
                "zoom.idle_refresh_days",
                "90 days unused",
            ),
        ];
        for (change, setting, says) in cases {
            let err = refused(change);
            assert_eq!(err.setting, setting);
            assert!(err.problem.contains(says), "{err}");
        }
    }

    #[test]
    fn the_outbound_ca_bundle_is_read_and_checked() {
        let with = |path: PathBuf| Config {
            outbound: OutboundConfig {
                ca_bundle: path,
                ..OutboundConfig::default()
            },
            ..Config::default()
        };
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/private-ca");
        assert_eq!(
            with(fixture.join("ca.pem")).outbound_roots().unwrap().len(),
            1
        );

        let missing = with(fixture.join("nope.pem")).validate().unwrap_err();
        assert_eq!(missing.setting, "outbound.ca_bundle");
        assert!(missing.problem.contains("cannot read"), "{missing}");
        // A private key is PEM too, but no certificate.
        let key = with(fixture.join("host.key")).validate().unwrap_err();
        assert!(key.problem.contains("holds no certificate"), "{key}");
        let readme = with(fixture.join("README.md")).validate().unwrap_err();
        assert!(readme.problem.contains("holds no certificate"), "{readme}");
        // A PEM block that is no certificate inside, after a good one: its place is named.
        let bad = std::env::temp_dir().join(format!("meetgate-bad-ca-{}.pem", std::process::id()));
        let good = std::fs::read_to_string(fixture.join("ca.pem")).unwrap();
        std::fs::write(
            &bad,
            format!("{good}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        )
        .unwrap();
        let garbage = with(bad.clone()).validate().unwrap_err();
        let _ = std::fs::remove_file(&bad);
        assert!(
            garbage.problem.contains("certificate 2 of")
                && garbage.problem.contains("cannot be a trusted root"),
            "{garbage}"
        );
    }

    #[test]
    fn debug_hides_keys_and_database_passwords() {
        let config = Config {
            database_url: "postgres://meetgate:hunter2@db/meetgate".into(),
            vault: VaultConfig {
                keys: "k1:c2VjcmV0c2VjcmV0".into(),
                ..VaultConfig::default()
            },
            ..Config::default()
        };
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("c2VjcmV0c2VjcmV0"),
            "{debug}"
        );
        assert!(debug.contains("k1"));
    }
}
