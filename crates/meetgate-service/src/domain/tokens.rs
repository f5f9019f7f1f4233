//! Access tokens on demand, refreshed exactly once per rotation however many requests, tasks and
//! replicas race for the same grant.
//!
//! The order of steps is the point (docs/architecture.md, "Data flow"): take the grant's lock
//! (in-process first, then the store's lock that lives as long as its holder), re-read, use a
//! token a sibling just stored, write a marker before calling Zoom, store Zoom's answer right
//! after it comes with a compare-and-swap on the version, and judge `invalid_grant` only after a
//! re-read.

use meetgate_store::models::{AppType, Connection, ConnectionState, RefreshedTokens, ZoomApp};
use meetgate_store::{ConnectionId, Effects, SealedColumn, StoreError, TenantId};
use meetgate_zoom::{Secret, TokenErrorKind, TokenResponse};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;

use super::context::{ActorKind, event_for};
use super::keyed_locks::KeyedLocks;
use super::{Ctx, Services};
use crate::{Error, Result};

pub(crate) struct RefreshCoordinator {
    permits: Semaphore,
    max_concurrent: u32,
    locks: KeyedLocks<ConnectionId, LastRefresh>,
}

/// What the last holder of a grant's in-process lock got: the stored connection and its access
/// token. The requests queued behind it take it from there instead of each reading the row back
/// and decrypting the token (on PostgreSQL a round trip each). It lives only while someone holds
/// or waits for the lock.
type LastRefresh = Option<(Connection, Secret)>;

impl std::fmt::Debug for RefreshCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshCoordinator")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

impl RefreshCoordinator {
    /// A turn among the refreshes (and disconnects) in flight; none once shutdown drained them.
    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.permits
            .acquire()
            .await
            .map_err(|_| Error::ShuttingDown)
    }

    pub fn new(max_concurrent: u32) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            permits: Semaphore::new(max_concurrent as usize),
            max_concurrent,
            locks: KeyedLocks::new(),
        }
    }
}

/// A grant ready to use: the connection, its app, and a live access token.
pub(crate) struct Grant {
    pub conn: Connection,
    pub app: ZoomApp,
    pub token: Secret,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("connection", &self.conn.id)
            .finish_non_exhaustive()
    }
}

/// A connection as the host app sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub id: ConnectionId,
    /// The host app's id for the user.
    pub user: String,
    /// `connected`, `needs_reauth`, `revoked` or `superseded`.
    pub state: String,
    pub state_reason: Option<String>,
    pub app_type: String,
    pub zoom_app_id: String,
    pub zoom_user_id: Option<String>,
    pub zoom_account_id: Option<String>,
    pub zoom_email: Option<String>,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub connected_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_refreshed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub access_token_expires_at: Option<OffsetDateTime>,
}

impl ConnectionView {
    pub(crate) fn new(conn: &Connection, app: &ZoomApp, external_id: &str) -> Self {
        Self {
            id: conn.id,
            user: external_id.to_owned(),
            state: conn.state.as_str().to_owned(),
            state_reason: conn.state_reason.clone(),
            app_type: app.app_type.as_str().to_owned(),
            zoom_app_id: app.id.to_string(),
            zoom_user_id: conn.zoom_user_id.clone(),
            zoom_account_id: conn.zoom_account_id.clone(),
            zoom_email: conn.zoom_email.clone(),
            scopes: conn.scopes.split_whitespace().map(str::to_owned).collect(),
            connected_at: conn.connected_at,
            last_refreshed_at: conn.last_refreshed_at,
            access_token_expires_at: conn.access_expires_at,
        }
    }
}

/// Why a refresh could not produce a token.
fn dead_error(conn: &Connection) -> Error {
    let state = match conn.state {
        ConnectionState::Connected | ConnectionState::NeedsReauth => "needs_reauth",
        ConnectionState::Revoked => "revoked",
        ConnectionState::Superseded => "superseded",
    };
    let reason = conn
        .state_reason
        .clone()
        .unwrap_or_else(|| match conn.state {
            ConnectionState::Revoked => "the user disconnected or removed the app in Zoom".into(),
            ConnectionState::Superseded => {
                "the same Zoom user connected the same app elsewhere".into()
            }
            _ => "the Zoom grant is no longer valid".into(),
        });
    Error::NeedsReauth {
        state,
        reason,
        connect_url: None,
    }
}

/// How long a holder whose lock broke keeps trying to store Zoom's answer, after Zoom's timeout.
const LOST_LOCK_GRACE: Duration = Duration::seconds(10);

/// How far apart two replicas' clocks may be when one judges the other's marker.
const CLOCK_MARGIN: Duration = Duration::seconds(2);

/// Backoff for a failing grant in the background job: 1, 2, 4 ... minutes, at most 6 hours.
pub(crate) fn backoff(failures: i32) -> Duration {
    let minutes = 1i64 << failures.clamp(0, 9);
    Duration::minutes(minutes.min(360))
}

impl Services {
    fn margin(&self) -> Duration {
        Duration::seconds(self.config.zoom.refresh_margin_secs as i64)
    }

    fn idle_refresh_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + Duration::days(self.config.zoom.idle_refresh_days as i64)
    }

    /// Connected, with an access token that outlives the refresh margin.
    fn is_fresh(&self, conn: &Connection, now: OffsetDateTime) -> bool {
        conn.state == ConnectionState::Connected
            && conn.access_token.is_some()
            && conn
                .access_expires_at
                .is_some_and(|expires| expires > now + self.margin())
    }

    /// The stored access token if it is good for longer than the margin.
    pub(crate) fn fresh_token(
        &self,
        conn: &Connection,
        now: OffsetDateTime,
    ) -> Result<Option<Secret>> {
        match &conn.access_token {
            Some(sealed) if self.is_fresh(conn, now) => {
                let token = self.vault.open_string(
                    SealedColumn::ConnectionAccessToken,
                    Some(conn.tenant_id),
                    &conn.id.to_string(),
                    sealed,
                )?;
                Ok(Some(Secret::new(token)))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn seal_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        tokens: &TokenResponse,
        now: OffsetDateTime,
    ) -> Result<RefreshedTokens> {
        let row = id.to_string();
        Ok(RefreshedTokens {
            access_token: self.vault.seal_str(
                SealedColumn::ConnectionAccessToken,
                Some(tenant),
                &row,
                tokens.access_token.expose(),
            )?,
            // Zoom says 3599; a token endpoint that says something absurd must not overflow
            // the time or keep a token for ever.
            access_expires_at: now + Duration::seconds(tokens.expires_in.clamp(60, 86_400)),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .filter(|t| !t.is_empty())
                .map(|t| {
                    self.vault.seal_str(
                        SealedColumn::ConnectionRefreshToken,
                        Some(tenant),
                        &row,
                        t.expose(),
                    )
                })
                .transpose()?,
            scopes: (!tokens.scope.is_empty()).then(|| tokens.scope.clone()),
            api_url: tokens.api_url.clone().filter(|u| !u.is_empty()),
            next_refresh_at: Some(self.idle_refresh_at(now)),
        })
    }

    /// A usable grant for `conn`: its stored token if fresh, else a refresh.
    pub(crate) async fn grant(&self, conn: Connection, now: OffsetDateTime) -> Result<Grant> {
        let app = self
            .usable_app(conn.tenant_id, conn.zoom_app_id, now)
            .await?;
        self.grant_with_app(conn, app, now).await
    }

    /// [`Services::grant`] for a caller that has already read the connection's app.
    pub(crate) async fn grant_with_app(
        &self,
        conn: Connection,
        app: ZoomApp,
        now: OffsetDateTime,
    ) -> Result<Grant> {
        if conn.state != ConnectionState::Connected {
            return Err(dead_error(&conn));
        }
        if let Some(token) = self.fresh_token(&conn, now)? {
            return Ok(Grant { conn, app, token });
        }
        let (conn, token) = self.refresh(&conn, &app, false, now).await?;
        Ok(Grant { conn, app, token })
    }

    /// After Zoom said 124 to a token we thought fresh: refresh unless a sibling already did.
    pub(crate) async fn regrant_after_rejection(
        &self,
        grant: &Grant,
        now: OffsetDateTime,
    ) -> Result<Grant> {
        let (conn, token) = self.refresh(&grant.conn, &grant.app, true, now).await?;
        Ok(Grant {
            conn,
            app: grant.app.clone(),
            token,
        })
    }

    /// Refreshes `seen` (the connection as the caller read it). With `force`, refreshes even a
    /// token that looks fresh, unless its version moved on since `seen` (a sibling refreshed).
    #[tracing::instrument(skip_all, fields(connection = %seen.id, force))]
    pub(crate) async fn refresh(
        &self,
        seen: &Connection,
        app: &ZoomApp,
        force: bool,
        now: OffsetDateTime,
    ) -> Result<(Connection, Secret)> {
        let (mut local, waited) = self.refresh.locks.lock(&seen.id).await;
        // Having waited, most likely for a sibling task refreshing this grant: its result, or
        // else a plain read, gives the token it stored, without the store's lock (on PostgreSQL
        // three round trips and a pooled connection held). Anything else takes the locked path,
        // which re-reads anyway.
        if waited {
            if let Some((conn, token)) = local.as_ref()
                && self.usable_instead_of(conn, seen, force, now)
            {
                metrics::counter!("meetgate_refreshes_total", "outcome" => "shared").increment(1);
                return Ok((conn.clone(), token.clone()));
            }
            if let Some(reused) = self.sibling_refreshed(seen, force, now).await? {
                return Ok(reused);
            }
        }
        // From here the refresh may reach Zoom, which rotates the refresh token on every use.
        // It runs as a task of its own: a caller that goes away (a client hanging up, a
        // request timeout) must not drop it between Zoom's answer and the store's write, which
        // would lose the rotated token and with it the grant.
        let (this, seen, app) = (self.clone(), seen.clone(), app.clone());
        self.to_completion(Box::pin(async move {
            let _permit = this.refresh.permit().await?;
            let mut lock = this.store.lock_for_refresh(seen.id).await?;
            let outcome = this
                .refresh_locked(lock.as_mut(), &seen, &app, force, now)
                .await;
            // Releasing returns the database connection; if that fails, dropping the lock
            // closes it.
            let _ = lock.release().await;
            // A failure leaves nothing to share: those queued behind go to the store and see
            // why.
            *local = outcome
                .as_ref()
                .ok()
                .map(|(conn, token)| (conn.clone(), token.clone()));
            outcome
        }))
        .await
    }

    /// Runs `work` under the grant's locks (in-process, then the store's), so that no refresh
    /// rotates its tokens meanwhile: for a disconnect, which revokes with the grant's current
    /// access token (refreshing it there first when it has expired), not with one a concurrent
    /// refresh is replacing. `work` re-reads and writes through
    /// the store's lock (a second pooled connection could be one too many), and hands it back.
    /// Runs to completion, counted with the refreshes that shutdown waits for.
    pub(crate) async fn with_grant_locked<T, W, F>(&self, id: ConnectionId, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: FnOnce(Services, Box<dyn meetgate_store::RefreshLock>) -> F + Send + 'static,
        F: std::future::Future<Output = (Box<dyn meetgate_store::RefreshLock>, Result<T>)>
            + Send
            + 'static,
    {
        let this = self.clone();
        self.to_completion(Box::pin(async move {
            let (mut local, _) = this.refresh.locks.lock(&id).await;
            let _permit = this.refresh.permit().await?;
            let lock = this.store.lock_for_refresh(id).await?;
            let (lock, outcome) = work(this.clone(), lock).await;
            let _ = lock.release().await;
            // Whatever the last refresh left for those queued behind may no longer hold.
            *local = None;
            outcome
        }))
        .await
    }

    /// Waits up to `timeout` for the refreshes in flight to store what Zoom answered, and lets
    /// no new one start: at shutdown, before the store closes.
    pub async fn drain_refreshes(&self, timeout: std::time::Duration) -> bool {
        let all = self.refresh.max_concurrent;
        let drained = tokio::time::timeout(timeout, self.refresh.permits.acquire_many(all))
            .await
            .is_ok_and(|permits| permits.map(|p| p.forget()).is_ok());
        self.refresh.permits.close();
        drained
    }

    /// The connection and its token if, since `seen`, another holder of the lock left a fresh
    /// token: a plain read, for a caller that has not taken the store's lock.
    async fn sibling_refreshed(
        &self,
        seen: &Connection,
        force: bool,
        now: OffsetDateTime,
    ) -> Result<Option<(Connection, Secret)>> {
        let Some(conn) = self.store.get_connection(seen.tenant_id, seen.id).await? else {
            return Ok(None);
        };
        Ok(self
            .token_left_by_sibling(&conn, seen, force, now)?
            .map(|token| (conn, token)))
    }

    /// `current`'s token, decrypted, if it can be used instead of refreshing `seen`.
    fn token_left_by_sibling(
        &self,
        current: &Connection,
        seen: &Connection,
        force: bool,
        now: OffsetDateTime,
    ) -> Result<Option<Secret>> {
        if !self.usable_instead_of(current, seen, force, now) {
            return Ok(None);
        }
        let token = self.fresh_token(current, now)?;
        if token.is_some() {
            metrics::counter!("meetgate_refreshes_total", "outcome" => "reused").increment(1);
        }
        Ok(token)
    }

    /// Whether `current`'s token can be used instead of refreshing `seen`: fresh, and with
    /// `force` (Zoom rejected `seen`'s token) also of a newer version than `seen`.
    fn usable_instead_of(
        &self,
        current: &Connection,
        seen: &Connection,
        force: bool,
        now: OffsetDateTime,
    ) -> bool {
        !(force && current.version == seen.version) && self.is_fresh(current, now)
    }

    /// The refresh itself, for a caller that holds the grant's store lock: re-read, use a
    /// token a sibling stored, mark, call Zoom, store (or judge the grant dead).
    pub(crate) async fn refresh_locked(
        &self,
        lock: &mut dyn meetgate_store::RefreshLock,
        seen: &Connection,
        app: &ZoomApp,
        force: bool,
        now: OffsetDateTime,
    ) -> Result<(Connection, Secret)> {
        let conn = lock
            .reread()
            .await?
            .ok_or(Error::NotFound { what: "connection" })?;
        if conn.state != ConnectionState::Connected {
            return Err(dead_error(&conn));
        }
        // A sibling (task or replica) may have refreshed while we waited for the lock.
        if let Some(token) = self.token_left_by_sibling(&conn, seen, force, now)? {
            return Ok((conn, token));
        }
        // Found set, the marker says a previous holder sent a refresh and stored no answer.
        if let Some(pending) = self.refresh_pending(&conn) {
            return Err(pending);
        }
        // That holder is gone: Zoom may have rotated the token we hold, and we still try it;
        // `invalid_grant` then means it did.
        let interrupted = conn.refresh_started_at.is_some();
        let tenant = conn.tenant_id;
        let oauth = self.oauth_app(app)?;
        let refresh_token = match (&conn.refresh_token, app.app_type) {
            (_, AppType::ServerToServer) => None,
            (Some(sealed), _) => Some(Secret::new(self.vault.open_string(
                SealedColumn::ConnectionRefreshToken,
                Some(tenant),
                &conn.id.to_string(),
                sealed,
            )?)),
            (None, _) => {
                let ctx = Ctx::system(tenant, ActorKind::System, now);
                let dead = lock
                    .mark_dead(
                        conn.version,
                        ConnectionState::NeedsReauth,
                        "no refresh token is stored for this grant",
                        now,
                        self.needs_reauth_effects(&ctx, &conn, "missing_refresh_token"),
                    )
                    .await?;
                return Err(dead_error(&dead));
            }
        };
        // Stamped with the time of the call itself, not the request's: other replicas judge
        // from it how long this attempt may still land (`refresh_pending`), and the request may
        // have queued for the locks.
        let marked_at = self.clock.now();
        let live_after = marked_at - self.refresh_attempt_window();
        if let Err(e) = lock
            .mark_refresh_started(conn.version, marked_at, live_after)
            .await
        {
            // Another process, with no lock in common with this one, marked it meanwhile.
            if matches!(e, StoreError::VersionConflict { .. })
                && let Some(now_stored) = lock.reread().await?
                && let Some(pending) = self.refresh_pending(&now_stored)
            {
                return Err(pending);
            }
            return Err(e.into());
        }
        let deadline = self.lost_lock_deadline(marked_at);
        let answer = match &refresh_token {
            Some(rt) => oauth.refresh(rt).await,
            None => {
                oauth
                    .account_credentials(app.account_id.as_deref().unwrap_or_default())
                    .await
            }
        };
        match answer {
            Ok(tokens) => {
                let sealed = self.seal_tokens(tenant, conn.id, &tokens, now)?;
                let through_lock = tokio::time::timeout_at(
                    deadline,
                    lock.store_refreshed(conn.version, &sealed, now, Effects::none()),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(
                        "the refresh lock's database connection stopped answering".into(),
                    ))
                });
                let stored = match through_lock {
                    Err(StoreError::Unavailable(e)) => {
                        tracing::warn!(connection = %conn.id, error = %e, "storing a refresh through its lock failed; storing it without the lock");
                        self.store_after_lost_lock(&conn, &sealed, now, deadline)
                            .await?
                    }
                    stored => stored?,
                };
                metrics::counter!("meetgate_refreshes_total", "outcome" => "refreshed")
                    .increment(1);
                Ok((stored, tokens.access_token))
            }
            Err(e) if e.kind == TokenErrorKind::InvalidGrant => {
                // Judge only after a re-read: a sibling outside our lock (a deauthorization, a
                // reconnect) may have changed the row.
                let current = lock
                    .reread()
                    .await?
                    .ok_or(Error::NotFound { what: "connection" })?;
                if current.version != conn.version {
                    if let Some(token) = self.fresh_token(&current, now)? {
                        return Ok((current, token));
                    }
                    return Err(dead_error(&current));
                }
                let reason = if interrupted {
                    "a refresh was interrupted after it reached Zoom, and Zoom has since rotated the refresh token; the user must reconnect"
                } else {
                    "Zoom refused the refresh token (invalid_grant): the user removed the app, or the grant expired or was replaced"
                };
                let ctx = Ctx::system(tenant, ActorKind::System, now);
                let dead = lock
                    .mark_dead(
                        conn.version,
                        ConnectionState::NeedsReauth,
                        reason,
                        now,
                        self.needs_reauth_effects(&ctx, &conn, "invalid_grant"),
                    )
                    .await?;
                metrics::counter!("meetgate_refreshes_total", "outcome" => "invalid_grant")
                    .increment(1);
                Err(dead_error(&dead))
            }
            Err(e) => {
                let maybe_applied = matches!(
                    e.kind,
                    TokenErrorKind::Transient {
                        maybe_applied: true
                    }
                );
                // Written with the time it ended: a kept marker whose row was written after it
                // belongs to a holder that is done (`refresh_pending`).
                lock.record_refresh_failure(
                    conn.version,
                    now + backoff(conn.refresh_failures + 1),
                    maybe_applied,
                    self.clock.now(),
                )
                .await?;
                let ctx = Ctx::system(tenant, ActorKind::System, now);
                let _ = self
                    .store
                    .append_audit(Effects::none().audit(ctx.audit(
                        "connection.refresh_failed",
                        "connection",
                        Some(conn.id.to_string()),
                        "failure",
                        serde_json::json!({ "error": e.error, "status": e.status }),
                    )))
                    .await;
                metrics::counter!("meetgate_refreshes_total", "outcome" => "failed").increment(1);
                match e.kind {
                    TokenErrorKind::InvalidClient => Err(Error::AppMisconfigured(format!(
                        "Zoom refused the app's client id or secret ({}); fix the Zoom app registration",
                        e.message
                    ))),
                    _ => Err(Error::ZoomUnavailable(format!(
                        "refreshing the Zoom token failed: {}",
                        e.message
                    ))),
                }
            }
        }
    }

    /// How long after a refresh's marker its holder may still store Zoom's answer: the Zoom
    /// call, then the grace [`Services::store_after_lost_lock`] retries in.
    fn refresh_attempt_window(&self) -> Duration {
        Duration::seconds(self.config.zoom.request_timeout_secs as i64) + LOST_LOCK_GRACE
    }

    /// When a holder that marked its refresh at `marked_at` stops trying to store Zoom's answer:
    /// the end of the window, less a margin for the replicas' clocks.
    fn lost_lock_deadline(&self, marked_at: OffsetDateTime) -> tokio::time::Instant {
        let left = marked_at + self.refresh_attempt_window() - CLOCK_MARGIN - self.clock.now();
        tokio::time::Instant::now() + std::time::Duration::try_from(left).unwrap_or_default()
    }

    /// Refused while `conn`'s refresh marker may belong to a holder still at work: one that
    /// wrote nothing after marking (a finished attempt records its failure, or clears the
    /// marker) and marked less than a window ago. Such a holder may be alive and writing Zoom's
    /// rotated tokens without the store's lock (on PostgreSQL its database session, and the lock
    /// with it, can die mid-call): refreshing now would spend the refresh token Zoom has just
    /// rotated out, and kill the grant; revoking would revoke a dead token.
    pub(crate) fn refresh_pending(&self, conn: &Connection) -> Option<Error> {
        let started = conn.refresh_started_at?;
        if conn.updated_at != started {
            return None;
        }
        let now = self.clock.now();
        let settled = started + self.refresh_attempt_window();
        (now < settled).then(|| Error::RefreshPending {
            age_secs: (now - started).whole_seconds().max(0) as u64,
            // Rounded up: a retry on the second must find the window over.
            retry_after_secs: ((settled - now).whole_milliseconds().max(1) as u64).div_ceil(1000),
        })
    }

    /// Stores Zoom's answer after the lock's own write failed for want of the database: retried
    /// until `deadline`, each attempt bounded by it. A compare-and-swap that finds our own
    /// tokens already stored means the failed write had committed after all.
    async fn store_after_lost_lock(
        &self,
        conn: &Connection,
        sealed: &RefreshedTokens,
        now: OffsetDateTime,
        deadline: tokio::time::Instant,
    ) -> Result<Connection> {
        let gone = || {
            Error::from_store(StoreError::Unavailable(
                "the database did not answer in time to store a refreshed token".into(),
            ))
        };
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            if tokio::time::Instant::now() >= deadline {
                return Err(gone());
            }
            let attempt =
                self.store
                    .store_refreshed_after_lost_lock(conn.id, conn.version, sealed, now);
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => return Err(gone()),
                Ok(Ok(stored)) => {
                    metrics::counter!("meetgate_refreshes_total", "outcome" => "stored_without_lock").increment(1);
                    return Ok(stored);
                }
                Ok(Err(StoreError::Unavailable(_))) => {
                    tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + pause))
                        .await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
                Ok(Err(StoreError::VersionConflict { .. })) => {
                    let current = self.store.get_connection(conn.tenant_id, conn.id).await?;
                    return match current {
                        Some(c) if c.access_token.as_ref() == Some(&sealed.access_token) => Ok(c),
                        _ => Err(Error::from_store(StoreError::VersionConflict {
                            what: "connection",
                        })),
                    };
                }
                Ok(Err(e)) => return Err(Error::from_store(e)),
            }
        }
    }

    pub(crate) fn needs_reauth_effects(
        &self,
        ctx: &Ctx,
        conn: &Connection,
        cause: &str,
    ) -> Effects {
        Effects::none()
            .audit(ctx.audit("connection.needs_reauth", "connection", Some(conn.id.to_string()), "failure", serde_json::json!({ "cause": cause })))
            .event(event_for(
                conn.tenant_id,
                "connection.needs_reauth",
                serde_json::json!({ "connection_id": conn.id, "end_user_id": conn.end_user_id, "cause": cause }),
                ctx.now,
            ))
    }

    /// One round of the background refresh job: grants idle for `idle_refresh_days` and grants
    /// whose last refresh failed (after their backoff). Returns how many were attempted.
    pub async fn refresh_due_step(&self, now: OffsetDateTime, limit: u32) -> Result<usize> {
        let due = self
            .store
            .claim_due_refreshes(now, Duration::minutes(5), limit)
            .await?;
        let count = due.len();
        // Side by side (the refresh permits bound the calls to Zoom): one after the other, a
        // Zoom that hangs would hold the step, and every job behind it, for minutes.
        let mut refreshes = tokio::task::JoinSet::new();
        for (tenant, id) in due {
            let this = self.clone();
            refreshes.spawn(async move {
                let Some(conn) = this.store.get_connection(tenant, id).await? else {
                    return Ok(());
                };
                let Ok(app) = this.usable_app(tenant, conn.zoom_app_id, now).await else {
                    return Ok(());
                };
                if let Err(e) = this.refresh(&conn, &app, true, now).await {
                    tracing::info!(connection = %id, error = %e, "background refresh did not succeed");
                }
                Ok::<_, Error>(())
            });
        }
        let mut failed = None;
        while let Some(done) = refreshes.join_next().await {
            if let Ok(Err(e)) = done {
                failed = Some(e);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(count),
        }
    }
}
