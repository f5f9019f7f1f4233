//! A real meetgate against a real sandbox over loopback, on a fresh database per test.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use meetgate_sandbox::{RunningSandbox, SandboxConfig, SandboxControl, World};
use meetgate_service::App;
use meetgate_service::clock::Clock;
use meetgate_service::config::Config;
use meetgate_service::domain::{NewZoomApp, Services, TenantSettings};
use meetgate_service::http::MetricsRender;
use meetgate_store::models::AppType;
use meetgate_store::{TenantId, ZoomAppId};
use meetgate_zoom::Secret;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

pub const PASSWORD: &str = meetgate_sandbox::SEED_PASSWORD;
pub const ADA: &str = "dr.ada@riverside.example";
pub const GRACE: &str = "dr.grace@riverside.example";
pub const BARBARA: &str = "dr.barbara@otherpractice.example";
pub const USER_APP: &str = "sbxUserManagedClient01";
pub const ADMIN_APP: &str = "sbxAdminManagedClient01";
pub const S2S_APP: &str = "sbxServerToServerClient01";
pub const GRANULAR_APP: &str = "sbxGranularUserClient01";
pub const GRANULAR_S2S_APP: &str = "sbxGranularServerToServerClient01";

/// The Prometheus recorder, installed once for the whole test binary (a recorder is global).
fn metrics_render() -> MetricsRender {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    let handle = HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("metrics recorder")
        })
        .clone();
    Arc::new(move || handle.render())
}

/// What every instance of one test shares: the sandbox, the database, the keys.
pub struct Env {
    pub sandbox: RunningSandbox,
    pub database_url: String,
    pub keys: String,
    pub data_dir: PathBuf,
    pub world: World,
}

/// One running meetgate.
pub struct Instance {
    pub base: String,
    pub services: Services,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A test's world: sandbox, one meetgate (more on demand), a tenant with a key and the sandbox's
/// four apps registered.
pub struct TestApp {
    // Before `env`: fields drop in order, and the instance goes before its database.
    pub main: Instance,
    pub env: Env,
    pub tenant: TenantId,
    pub api_key: String,
    pub apps: HashMap<&'static str, ZoomAppId>,
    pub http: reqwest::Client,
}

fn key_entry(id: &str, byte: u8) -> String {
    use base64::Engine;
    format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    )
}

pub async fn database_url(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}", dir.join("meetgate.db").display())),
        Backend::Postgres => meetgate_store_postgres::test_support::fresh_test_database().await,
    }
}

/// A test leaves nothing behind: its data directory and its PostgreSQL database go with it.
impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if self.database_url.starts_with("postgres") {
            let url = self.database_url.clone();
            // Drop runs inside the test's runtime, which cannot block on a future itself.
            let _ = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(meetgate_store_postgres::drop_test_database(&url));
                }
            })
            .join();
        }
    }
}

impl Env {
    pub async fn new(backend: Backend, sandbox: SandboxConfig) -> Option<Env> {
        let data_dir = std::env::temp_dir().join(format!("meetgate-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data_dir).ok()?;
        let database_url = database_url(backend, &data_dir).await?;
        let world = sandbox.world.clone();
        let sandbox = meetgate_sandbox::spawn(sandbox, "127.0.0.1:0".parse().ok()?)
            .await
            .expect("sandbox starts");
        Some(Env {
            sandbox,
            database_url,
            keys: key_entry("test1", 7),
            data_dir,
            world,
        })
    }

    pub fn sandbox_url(&self) -> String {
        self.sandbox
            .base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn control(&self) -> SandboxControl {
        self.sandbox.control()
    }

    /// Starts a meetgate on this environment's database. `tweak` adjusts its configuration.
    pub async fn instance(&self, tweak: impl FnOnce(&mut Config)) -> Instance {
        self.instance_serving(tweak, None).await
    }

    /// Like [`Env::instance`], also serving `/metrics` from the test binary's recorder.
    pub async fn instance_with_metrics(&self) -> Instance {
        self.instance_serving(|_| {}, Some(metrics_render())).await
    }

    async fn instance_serving(
        &self,
        tweak: impl FnOnce(&mut Config),
        metrics: Option<MetricsRender>,
    ) -> Instance {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = Config {
            listen: addr.to_string(),
            public_url: format!("http://{addr}"),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            ..Config::default()
        };
        config.vault.keys = self.keys.clone();
        // Tests drive the jobs' steps themselves, so that what happens is what the test says.
        config.jobs.enabled = false;
        config.zoom.request_timeout_secs = 5;
        // The tests' host apps listen on loopback.
        config.outbound.allow_private_webhooks = true;
        tweak(&mut config);
        let app = App::build(config, Clock::system())
            .await
            .expect("meetgate builds");
        let services = app.services.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = app
                .serve(listener, metrics, async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Instance {
            base: format!("http://{addr}"),
            services,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl TestApp {
    /// Sandbox with rate limits off (tests hammer it), one meetgate, one tenant. `None` when the
    /// backend is PostgreSQL and no server is configured locally (CI always has one).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(
            backend,
            SandboxConfig {
                rate_limits: false,
                ..SandboxConfig::default()
            },
            |_| {},
        )
        .await
    }

    /// Like [`TestApp::spawn`], with meetgate giving up on Zoom after 1 s: for tests that hold
    /// Zoom's answer longer.
    pub async fn spawn_impatient(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(
            backend,
            SandboxConfig {
                rate_limits: false,
                ..SandboxConfig::default()
            },
            |c| c.zoom.request_timeout_secs = 1,
        )
        .await
    }

    pub async fn spawn_with(
        backend: Backend,
        sandbox: SandboxConfig,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let env = Env::new(backend, sandbox).await?;
        let main = env.instance(tweak).await;
        let services = &main.services;
        let now = services.clock.now();
        let settings = TenantSettings {
            return_urls: vec![format!("{}/done", main.base)],
            ..TenantSettings::default()
        };
        let created = services
            .create_tenant("Test Clinic", settings, true, now)
            .await
            .expect("tenant");
        let mut apps = HashMap::new();
        for app in env.world.apps.clone() {
            let app_type = match app.app_type {
                meetgate_sandbox::AppType::UserManaged => AppType::UserManaged,
                meetgate_sandbox::AppType::AdminManaged => AppType::AdminManaged,
                meetgate_sandbox::AppType::ServerToServer => AppType::ServerToServer,
            };
            let name: &'static str = match app.client_id.as_str() {
                USER_APP => USER_APP,
                ADMIN_APP => ADMIN_APP,
                S2S_APP => S2S_APP,
                GRANULAR_APP => GRANULAR_APP,
                GRANULAR_S2S_APP => GRANULAR_S2S_APP,
                _ => continue,
            };
            let view = services
                .register_zoom_app(
                    NewZoomApp {
                        tenant_id: Some(created.tenant.id),
                        name: app.name.clone(),
                        app_type,
                        client_id: app.client_id.clone(),
                        client_secret: Secret::new(app.client_secret.expose()),
                        account_id: (app_type == AppType::ServerToServer)
                            .then(|| app.owner_account_id.clone()),
                        scopes: String::new(),
                        webhook_secret: Some(Secret::new(app.webhook_secret_token.expose())),
                        auth_base_url: Some(env.sandbox_url()),
                        api_base_url: Some(env.sandbox_url()),
                    },
                    now,
                )
                .await
                .expect("register app");
            apps.insert(name, view.id);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Some(TestApp {
            env,
            main,
            tenant: created.tenant.id,
            api_key: created.api_key.secret.expose().to_owned(),
            apps,
            http,
        })
    }

    pub fn services(&self) -> &Services {
        &self.main.services
    }

    /// Makes the sandbox apply `kind` to the next `times` calls of `endpoint` (`meetings.create`,
    /// `oauth.token`, ...).
    pub async fn fault(&self, kind: meetgate_sandbox::FaultKind, endpoint: &str, times: u32) {
        self.env
            .control()
            .set_fault(
                meetgate_sandbox::FaultSpec::new(kind)
                    .on(endpoint)
                    .times(times),
            )
            .await
            .expect("fault set");
    }

    /// The tenant's connections as the store holds them (tokens sealed).
    pub async fn stored_connections(&self) -> Vec<meetgate_store::models::Connection> {
        self.services()
            .store
            .list_connections(self.tenant, None, None, 10)
            .await
            .expect("connections")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.main.base)
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.api_on(&self.main, method, path, body, None).await
    }

    pub async fn api_on(
        &self,
        instance: &Instance,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", instance.base))
            .bearer_auth(&self.api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Runs the connect flow the way a browser would, signing in at the sandbox as
    /// `zoom_email`. Returns where meetgate finally sent the browser.
    pub async fn connect(&self, user: &str, zoom_email: &str, app: &str) -> Url {
        let (trip, callback) = self.consent(user, zoom_email, app).await;
        self.finish_connect(&callback, Some(&trip.cookie)).await
    }

    /// The connect flow up to Zoom's redirect back: the trip, and the callback URL to deliver.
    pub async fn consent(&self, user: &str, zoom_email: &str, app: &str) -> (ConnectTrip, Url) {
        let trip = self.begin_connect(user, app).await;
        let callback = self
            .env
            .control()
            .authorize_headless(&trip.authorize_url, zoom_email, PASSWORD)
            .await
            .expect("consent");
        (trip, callback)
    }

    pub async fn begin_connect(&self, user: &str, app: &str) -> ConnectTrip {
        let (status, session) = self
            .api(
                reqwest::Method::POST,
                "/v1/connect-sessions",
                Some(json!({ "user": user, "return_url": self.url("/done"), "zoom_app_id": self.apps[app] })),
            )
            .await;
        assert_eq!(status, 201, "{session}");
        let connect_url = session["connect_url"]
            .as_str()
            .expect("connect_url")
            .to_owned();
        let page = self
            .http
            .get(&connect_url)
            .send()
            .await
            .expect("connect page");
        assert_eq!(page.status(), 200);
        let go = self
            .http
            .get(format!("{connect_url}/go"))
            .send()
            .await
            .expect("go");
        assert_eq!(go.status(), 303);
        let authorize_url =
            Url::parse(go.headers()[LOCATION].to_str().expect("location")).expect("authorize url");
        let cookie = go.headers()[SET_COOKIE]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        ConnectTrip {
            connect_url,
            authorize_url,
            cookie,
        }
    }

    /// Delivers Zoom's redirect to meetgate's callback (with the browser's cookie, if any).
    pub async fn finish_connect(&self, callback: &Url, cookie: Option<&str>) -> Url {
        let mut request = self.http.get(callback.as_str());
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.expect("callback");
        let status = response.status().as_u16();
        match response.headers().get(LOCATION) {
            Some(location) if status == 303 => {
                Url::parse(location.to_str().expect("location")).expect("return url")
            }
            _ => {
                let body = response.text().await.unwrap_or_default();
                Url::parse(&format!(
                    "http://refused.invalid/?status={status}&body={}",
                    urlencode(&body)
                ))
                .expect("url")
            }
        }
    }

    pub async fn create_meeting(&self, user: &str, body: Value) -> (u16, Value) {
        self.api(
            reqwest::Method::POST,
            &format!("/v1/users/{user}/meetings"),
            Some(body),
        )
        .await
    }

    /// The sandbox's token counters.
    pub async fn counters(&self) -> meetgate_sandbox::Counters {
        self.env.control().counters().await.expect("counters")
    }
}

pub struct ConnectTrip {
    pub connect_url: String,
    pub authorize_url: Url,
    pub cookie: String,
}

pub fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Total successful refreshes the sandbox counted, over every grant.
pub fn refreshes(counters: &meetgate_sandbox::Counters) -> u64 {
    counters.refreshes.values().sum()
}

pub fn invalid_grants(counters: &meetgate_sandbox::Counters) -> u64 {
    counters.invalid_grant_by_grant_type.values().sum()
}

pub type Shared<T> = Arc<T>;

/// Every request a [`Receiver`] got: headers and body.
pub type Received = Arc<tokio::sync::Mutex<Vec<(reqwest::header::HeaderMap, Vec<u8>)>>>;

/// A host app's webhook receiver: records every request it gets.
pub struct Receiver {
    pub url: String,
    pub received: Received,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::serve(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            "http",
        )
        .await
    }

    /// The same receiver over HTTPS, with a certificate of the test private CA
    /// (`tests/fixtures/private-ca`), which nothing trusts unless told to.
    pub async fn start_tls() -> Receiver {
        Self::serve(TlsListener::bind().await, "https").await
    }

    async fn serve<L>(listener: L, scheme: &str) -> Receiver
    where
        L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    {
        let (router, received) = Self::router();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url: format!("{scheme}://{addr}/hook"),
            received,
            _task: task,
        }
    }

    fn router() -> (axum::Router, Received) {
        let received: Received = Arc::default();
        let sink = received.clone();
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let sink = sink.clone();
                    async move {
                        let mut copied = reqwest::header::HeaderMap::new();
                        for (k, v) in headers.iter() {
                            if let (Ok(name), Ok(value)) = (
                                reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()),
                                reqwest::header::HeaderValue::from_bytes(v.as_bytes()),
                            ) {
                                copied.insert(name, value);
                            }
                        }
                        sink.lock().await.push((copied, body.to_vec()));
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        (router, received)
    }

    /// Event types received so far, in order.
    pub async fn types(&self) -> Vec<String> {
        self.received
            .lock()
            .await
            .iter()
            .filter_map(|(_, body)| serde_json::from_slice::<Value>(body).ok())
            .filter_map(|v| v["type"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The test private CA's files.
pub fn private_ca_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/private-ca")
        .join(name)
}

/// A TCP listener that completes a TLS handshake before handing a connection to axum. A client
/// that refuses the certificate only ends its own connection.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl TlsListener {
    async fn bind() -> TlsListener {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(private_ca_file("host.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(private_ca_file("host.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        TlsListener {
            tcp: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.tls.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Polls `check` until it is true or five seconds pass.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
