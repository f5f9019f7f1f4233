//! Shared state of a running sandbox.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use time::{Duration, OffsetDateTime};
use tokio::sync::watch;
use url::Url;

use crate::clock::Clock;
use crate::config::SandboxConfig;
use crate::control::dto::Counters;
use crate::error::SandboxError;
use crate::faults::Faults;
use crate::ids;
use crate::meetings::Meeting;
use crate::oauth::store::OAuthStore;
use crate::ratelimit::RateLimiter;
use crate::webhooks::Webhooks;
use crate::world::{Account, App, User, World};

/// Locks a mutex, recovering the data if another thread panicked while holding it: the sandbox
/// keeps serving rather than cascading the panic into every later request.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
pub struct UserRecord {
    pub user: User,
    pub created_at: OffsetDateTime,
}

#[derive(Debug)]
pub struct Zak {
    pub user_id: String,
    pub expires_at: OffsetDateTime,
}

/// Where `next_page_token` continues a listing; lives 15 minutes.
#[derive(Debug)]
pub struct Cursor {
    pub user_id: String,
    pub list: crate::meetings::ListType,
    pub page_size: usize,
    pub offset: usize,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug)]
pub struct Session {
    pub user_id: String,
    pub expires_at: OffsetDateTime,
}

/// Where a registered webhook endpoint stands with `endpoint.url_validation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointStatus {
    /// Passed when saved; receives events, and is revalidated every 72 hours.
    Validated,
    /// Failed when saved: no events until it is saved again and passes.
    Failed,
    /// Failed six revalidations in a row: no events until it is saved again and passes.
    Disabled,
}

impl EndpointStatus {
    pub fn label(self) -> &'static str {
        match self {
            EndpointStatus::Validated => "validated",
            EndpointStatus::Failed => "failed",
            EndpointStatus::Disabled => "disabled",
        }
    }
}

/// An app's webhook endpoint: its status, when it was last validated (or seeded), and how
/// many revalidations in a row it has failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointCheck {
    pub status: EndpointStatus,
    pub checked_at: OffsetDateTime,
    pub failed_revalidations: u32,
}

impl EndpointCheck {
    pub fn new(validated: bool, now: OffsetDateTime) -> Self {
        Self {
            status: if validated {
                EndpointStatus::Validated
            } else {
                EndpointStatus::Failed
            },
            checked_at: now,
            failed_revalidations: 0,
        }
    }
}

pub const ZAK_TTL: Duration = Duration::hours(2);
pub const CURSOR_TTL: Duration = Duration::minutes(15);

#[derive(Default)]
pub struct Inner {
    pub accounts: BTreeMap<String, Account>,
    pub users: BTreeMap<String, UserRecord>,
    pub apps: BTreeMap<String, App>,
    pub endpoint_status: HashMap<String, EndpointCheck>,
    pub oauth: OAuthStore,
    pub meetings: BTreeMap<i64, Meeting>,
    pub zaks: HashMap<String, Zak>,
    zaks_sweep_at: usize,
    pub cursors: HashMap<String, Cursor>,
    pub sessions: HashMap<String, Session>,
    pub rate: RateLimiter,
    /// Insertion order of accounts, users and apps, so `/_sandbox/world` reads like the seed.
    order: Vec<(Kind, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Account,
    User,
    App,
}

/// Maps keyed by ZAKs, cursors and session ids hold credentials: `Debug` shows counts.
impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("accounts", &self.accounts.len())
            .field("users", &self.users.len())
            .field("apps", &self.apps.len())
            .field("oauth", &self.oauth)
            .field("meetings", &self.meetings.len())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn from_world(world: World, now: OffsetDateTime) -> Inner {
        let mut inner = Inner::default();
        for a in world.accounts {
            inner.add_account(a);
        }
        for u in world.users {
            inner.add_user(u, now);
        }
        for app in world.apps {
            if app.webhook_url.is_some() {
                inner
                    .endpoint_status
                    .insert(app.client_id.clone(), EndpointCheck::new(true, now));
            }
            inner.add_app(app);
        }
        inner
    }

    pub fn add_account(&mut self, account: Account) {
        self.order.push((Kind::Account, account.id.clone()));
        self.accounts.insert(account.id.clone(), account);
    }

    pub fn add_user(&mut self, user: User, now: OffsetDateTime) {
        self.order.push((Kind::User, user.id.clone()));
        self.users.insert(
            user.id.clone(),
            UserRecord {
                user,
                created_at: now,
            },
        );
    }

    pub fn add_app(&mut self, app: App) {
        self.order.push((Kind::App, app.client_id.clone()));
        self.apps.insert(app.client_id.clone(), app);
    }

    /// Zoom names users by id or by email (case-insensitive).
    pub fn user_by_ref(&self, reference: &str) -> Option<&UserRecord> {
        if reference.contains('@') {
            self.users
                .values()
                .find(|r| r.user.email.eq_ignore_ascii_case(reference))
        } else {
            self.users.get(reference)
        }
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users
            .values()
            .map(|r| &r.user)
            .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
    }

    pub fn mint_zak(&mut self, user_id: &str, ttl: Duration, now: OffsetDateTime) -> String {
        crate::sweep::sweep_if_grown(&mut self.zaks, &mut self.zaks_sweep_at, |_, z| {
            z.expires_at > now
        });
        let zak = ids::token(64);
        self.zaks.insert(
            zak.clone(),
            Zak {
                user_id: user_id.to_owned(),
                expires_at: now + ttl,
            },
        );
        zak
    }

    pub fn zak_user(&self, zak: &str, now: OffsetDateTime) -> Result<&str, ZakProblem> {
        let z = self.zaks.get(zak).ok_or(ZakProblem::Unknown)?;
        if now >= z.expires_at {
            return Err(ZakProblem::Expired);
        }
        Ok(&z.user_id)
    }

    pub fn live_meeting(&self, id: i64, now: OffsetDateTime) -> Option<&Meeting> {
        self.meetings.get(&id).filter(|m| !m.gone(now))
    }

    pub fn live_meeting_mut(&mut self, id: i64, now: OffsetDateTime) -> Option<&mut Meeting> {
        self.meetings.get_mut(&id).filter(|m| !m.gone(now))
    }

    pub fn new_meeting_id(&self) -> i64 {
        loop {
            let id = ids::meeting_number();
            if !self.meetings.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn to_world(&self) -> World {
        let mut world = World::default();
        for (kind, key) in &self.order {
            match kind {
                Kind::Account => world.accounts.extend(self.accounts.get(key).cloned()),
                Kind::User => world
                    .users
                    .extend(self.users.get(key).map(|r| r.user.clone())),
                Kind::App => world.apps.extend(self.apps.get(key).cloned()),
            }
        }
        world
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ZakProblem {
    Unknown,
    Expired,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("base_url", &self.base_url.as_str())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

pub struct Shared {
    pub base_url: Url,
    pub access_token_ttl: Duration,
    pub retry_compression: u32,
    pub rate_limits: AtomicBool,
    pub clock: Clock,
    pub inner: Mutex<Inner>,
    pub counters: Mutex<Counters>,
    pub faults: Mutex<Faults>,
    pub webhooks: Webhooks,
    pub templates: minijinja::Environment<'static>,
    pub shutdown: watch::Sender<bool>,
}

/// The state behind [`crate::router`]. Cheap to clone.
#[derive(Clone)]
pub struct SandboxState(Arc<Shared>);

impl fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxState")
            .field("base_url", &self.0.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for SandboxState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl SandboxState {
    /// Builds the state for a sandbox reachable at `base_url` (links, `api_url`).
    pub fn new(config: SandboxConfig, base_url: Url) -> Result<SandboxState, SandboxError> {
        config.world.validate()?;
        let mut base_url = base_url;
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let clock = Clock::default();
        let now = clock.now();
        let ttl = Duration::try_from(config.access_token_ttl)
            .map_err(|_| SandboxError::Config("access_token_ttl is too large".into()))?;
        let (shutdown, _) = watch::channel(false);
        Ok(SandboxState(Arc::new(Shared {
            base_url,
            access_token_ttl: ttl,
            retry_compression: config.webhook_retry_compression.max(1),
            rate_limits: AtomicBool::new(config.rate_limits),
            clock,
            inner: Mutex::new(Inner::from_world(config.world, now)),
            counters: Mutex::new(Counters::default()),
            faults: Mutex::new(Faults::default()),
            webhooks: Webhooks::new()?,
            templates: crate::pages::templates()?,
            shutdown,
        })))
    }

    pub fn base_url(&self) -> &Url {
        &self.0.base_url
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(crate) fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    pub(crate) fn counters(&self) -> MutexGuard<'_, Counters> {
        lock(&self.counters)
    }

    pub fn rate_limits_enabled(&self) -> bool {
        self.rate_limits.load(Ordering::SeqCst)
    }

    pub fn set_rate_limits(&self, on: bool) {
        self.rate_limits.store(on, Ordering::SeqCst);
    }

    /// `api_url` of token responses: the sandbox's own origin, like `https://api.zoom.us`.
    pub fn api_url(&self) -> String {
        self.base_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Stops background work (webhook retries); the server itself stops with its listener.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}
