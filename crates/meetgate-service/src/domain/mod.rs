//! What meetgate does, independent of HTTP: every operation is a method on [`Services`] that
//! takes a [`Ctx`] (who acts, for which tenant, at what time) and returns a domain result.

mod apps;
mod audit_log;
mod connect;
mod connections;
mod context;
pub mod deliveries;
mod doctor;
pub mod egress;
mod gauges;
mod idempotent;
pub mod inbox;
mod invitations;
mod keyed_locks;
mod keys;
mod lookup_cache;
mod meeting_view;
mod meetings;
mod member_connect;
mod member_meetings;
mod members;
pub mod outbox;
mod settings;
mod tenants;
mod tokens;
mod web_sessions;
mod zoom_apis;

use std::sync::Arc;

use meetgate_store::Store;
use url::Url;

use crate::clock::Clock;
use crate::config::Config;
use crate::vault::Keyring;

pub use apps::{NewZoomApp, ZoomAppView};
pub use connect::{CallbackOutcome, ConnectSessionView, NewConnectSession, StartedAttempt};
pub use context::{Actor, ActorKind, Ctx};
pub use doctor::{Diagnosis, OperationVerdict};
pub use idempotent::Keyed;
pub use invitations::{CreatedInvitation, InvitationView, OpenInvitation};
pub use keys::{ApiKeyView, CreatedApiKey};
pub use meeting_view::{MeetingView, StartLinkClaims};
pub use meetings::{
    CreateMeeting, MeetingCreated, MeetingList, MeetingPatch, MeetingSettingsInput, RecurrenceInput,
};
pub use member_connect::MemberConnection;
pub use member_meetings::{
    LocalSlot, SessionSchedule, display_time, local_parts, local_start, time_zone_names,
};
pub use members::{MIN_PASSWORD_CHARS, MemberView, NewMember, member_external_id};
pub use settings::{MeetingPolicy, PolicyValue, TenantSettings};
pub use tenants::{CreatedTenant, TenantView};
pub use tokens::ConnectionView;
pub use web_sessions::{MemberSession, SessionState, SignedIn};

/// How long one delivery to a host app's webhook endpoint may take.
pub const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Everything the domain needs, built once at start-up and shared by handlers and jobs.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub vault: Arc<Keyring>,
    /// For Zoom: never follows redirects, has timeouts.
    pub zoom_http: reqwest::Client,
    /// For the host app's webhook endpoints: never follows redirects, has timeouts.
    pub hooks_http: reqwest::Client,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// `public_url`, the base of every link meetgate hands out.
    pub public: Url,
    pub(crate) refresh: Arc<tokens::RefreshCoordinator>,
    /// Failed web sign-ins of this process (see `web_sessions.rs`).
    pub(crate) signins: Arc<web_sessions::SignInLimiter>,
    /// API keys, tenants and Zoom apps read recently (see `lookup_cache.rs`).
    pub(crate) lookups: Arc<lookup_cache::Lookups>,
    /// The Meetings API per `api_url` (see `zoom_apis.rs`).
    pub(crate) zoom_apis: Arc<zoom_apis::ZoomApis>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("store", &self.store.backend())
            .field("vault", &self.vault)
            .field("public", &self.public.as_str())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Runs `work` on its own task, in the caller's span. Operations that ask Zoom to change
    /// something use it: a request dropped halfway (the client hung up, the request timeout fired)
    /// would otherwise leave a meeting at Zoom that meetgate never recorded.
    ///
    /// `work` comes boxed: a create's future is about 18 KB, and every move of it (into this
    /// function, into its future, into the task's cell) is a copy of that size; a box moves as a
    /// pointer. Box it where it is written, `to_completion(Box::pin(async move { .. }))`.
    pub(crate) async fn to_completion<T, F>(&self, work: std::pin::Pin<Box<F>>) -> crate::Result<T>
    where
        F: std::future::Future<Output = crate::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        use tracing::Instrument as _;
        tokio::spawn(work.in_current_span())
            .await
            .map_err(crate::Error::internal)?
    }

    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Keyring>,
        config: Arc<Config>,
        clock: Clock,
    ) -> Result<Self, crate::Error> {
        let public = config.public_base().map_err(crate::Error::internal)?;
        let http_config = meetgate_zoom::HttpConfig {
            connect_timeout: std::time::Duration::from_secs(config.zoom.connect_timeout_secs),
            request_timeout: std::time::Duration::from_secs(config.zoom.request_timeout_secs),
            extra_roots: config.outbound_roots().map_err(crate::Error::internal)?,
            ..Default::default()
        };
        let zoom_http =
            meetgate_zoom::build_http_client(&http_config).map_err(crate::Error::internal)?;
        let mut hooks = meetgate_zoom::http_client_builder(&meetgate_zoom::HttpConfig {
            request_timeout: WEBHOOK_TIMEOUT,
            ..http_config
        });
        if !config.outbound.allow_private_webhooks {
            hooks = hooks.dns_resolver2(egress::PublicOnlyResolver::new(
                egress::proxy_hosts_from_env(),
            ));
        }
        let hooks_http = hooks.build().map_err(crate::Error::internal)?;
        let refresh = Arc::new(tokens::RefreshCoordinator::new(
            config.zoom.max_concurrent_refreshes,
        ));
        let lookups = Arc::new(lookup_cache::Lookups::new(time::Duration::seconds(
            i64::try_from(config.lookup_cache_secs).unwrap_or(i64::MAX),
        )));
        Ok(Self {
            store,
            vault,
            zoom_apis: Arc::new(zoom_apis::ZoomApis::new(zoom_http.clone())),
            zoom_http,
            hooks_http,
            config,
            clock,
            public,
            refresh,
            signins: Arc::default(),
            lookups,
        })
    }

    /// A link under `public_url`.
    pub fn link(&self, path: &str) -> String {
        let base = self.public.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

pub use audit_log::{AuditEventView, AuditFilter, AuditPage};
pub use inbox::{INBOX_GIVE_UP_AFTER, WebhookReply};
pub use outbox::{
    DeliveryPage, DeliveryView, NewWebhookEndpoint, SecretRotationRequest, WebhookEndpointView,
};
