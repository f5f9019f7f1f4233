//! Connecting a user's Zoom account: connect sessions (the link the host app hands out), the
//! authorization attempt (state bound to the browser, PKCE S256), and the callback.

use meetgate_store::models::{
    AppType, ConnectSession, ConnectionState, NewGrant, OAuthAttempt, StateLookup,
};
use meetgate_store::{
    ConnectSessionId, ConnectionId, Effects, EndUserId, OAuthAttemptId, SealedColumn, ZoomAppId,
};
use meetgate_zoom::scopes::{Level, Operation, allows, parse};
use meetgate_zoom::{ApiErrorKind, AuthorizeRequest, Pkce, Secret, TokenErrorKind, UserTarget};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::context::{ActorKind, event_for};
use super::doctor::unsaved_connection;
use super::members::member_of_external_id;
use super::{Ctx, Services};
use crate::secrets::{random_token, sha256};
use crate::{Error, Result};

/// How long a connect link works.
const CONNECT_SESSION_TTL: Duration = Duration::minutes(30);
/// How long the user has at Zoom's consent page.
const ATTEMPT_TTL: Duration = Duration::minutes(10);

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnectSession {
    /// The host app's own id for its user.
    pub user: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Where to send the user afterwards; must be on the tenant's allow list.
    pub return_url: String,
    /// Which Zoom app to connect through; the tenant's default when absent.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub zoom_app_id: Option<ZoomAppId>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectSessionView {
    pub id: ConnectSessionId,
    /// Send the user's browser here. It works until `expires_at` and until it has connected
    /// Zoom once; a denied or failed attempt may be retried with it.
    pub connect_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What the connect page needs to start an attempt.
#[derive(Debug)]
pub struct StartedAttempt {
    /// Send the browser here (Zoom's consent page).
    pub authorize_url: String,
    /// Set as an HttpOnly cookie: the callback must come from the same browser.
    pub browser_binding: Secret,
}

/// Where the callback sends the user.
#[derive(Debug)]
pub enum CallbackOutcome {
    /// Back to the host app, with `meetgate_status` (and `meetgate_error`) in the query.
    Return { url: String, connected: bool },
    /// No trustworthy return URL (bad state): show this sentence on a page.
    Refused { status: u16, message: String },
}

fn with_query(return_url: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(return_url) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => return_url.to_owned(),
    }
}

fn check_connect_user(user: &str) -> Result<&str> {
    let user = user.trim();
    if user.is_empty() || user.len() > 200 {
        return Err(Error::validation("user", "must be 1 to 200 characters"));
    }
    Ok(user)
}

impl Services {
    pub async fn create_connect_session(
        &self,
        ctx: &Ctx,
        new: NewConnectSession,
    ) -> Result<ConnectSessionView> {
        if member_of_external_id(check_connect_user(&new.user)?).is_some() {
            // Their connect links work only in the member's own signed-in browser.
            return Err(Error::validation(
                "user",
                "must not be `member:` and a member id, which names a member of meetgate's web app",
            ));
        }
        let settings = self.tenant_settings(ctx).await?;
        if !settings.allows_return_url(&new.return_url) {
            return Err(Error::validation(
                "return_url",
                "is not on this tenant's allow list of return URLs (tenant settings: return_urls)",
            ));
        }
        self.insert_connect_session(ctx, new).await
    }

    /// A connect session whose return URL the caller has already vouched for: the tenant's
    /// allow list (above), or meetgate's own web app (`member_connect.rs`).
    pub(crate) async fn insert_connect_session(
        &self,
        ctx: &Ctx,
        new: NewConnectSession,
    ) -> Result<ConnectSessionView> {
        let user = check_connect_user(&new.user)?;
        let email = new
            .email
            .as_deref()
            .map(|e| super::members::normalize_email("email", e))
            .transpose()?;
        let name = new
            .name
            .as_deref()
            .map(super::members::check_name)
            .transpose()?;
        let app = match new.zoom_app_id {
            Some(id) => self.usable_app(ctx.tenant(), id, ctx.now).await?,
            None => self.default_app(ctx.tenant()).await?,
        };
        if app.app_type == AppType::ServerToServer {
            return Err(Error::validation(
                "zoom_app_id",
                "server-to-server apps have no user consent; connect users of the owning account with `meetgate connections add-s2s` or the admin pages",
            ));
        }
        let end_user = self
            .store
            .upsert_end_user(
                ctx.tenant(),
                user,
                email.as_deref(),
                name.as_deref(),
                ctx.now,
            )
            .await?;
        let token = random_token(32);
        let session = ConnectSession {
            id: ConnectSessionId::new(),
            tenant_id: ctx.tenant(),
            end_user_id: end_user.id,
            zoom_app_id: app.id,
            token_hash: sha256(token.as_bytes()),
            return_url: new.return_url,
            created_at: ctx.now,
            expires_at: ctx.now + CONNECT_SESSION_TTL,
            completed_at: None,
        };
        self.store.create_connect_session(&session).await?;
        Ok(ConnectSessionView {
            id: session.id,
            connect_url: self.link(&format!("/connect/{token}")),
            expires_at: session.expires_at,
        })
    }

    /// A connect link for a user who must reconnect, returning to the tenant's first allowed
    /// return URL; `None` when the tenant allows none.
    pub(crate) async fn reconnect_url(&self, ctx: &Ctx, external_id: &str) -> Option<String> {
        let settings = self.tenant_settings(ctx).await.ok()?;
        let return_url = settings.return_urls.first()?.clone();
        let session = NewConnectSession {
            user: external_id.to_owned(),
            email: None,
            name: None,
            return_url,
            zoom_app_id: None,
        };
        self.create_connect_session(ctx, session)
            .await
            .ok()
            .map(|s| s.connect_url)
    }

    /// The connect page: checks the link and names the app. Not tenant-scoped: the link's token
    /// is the credential.
    pub async fn open_connect_link(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(ConnectSession, String)> {
        let session = self
            .store
            .find_connect_session(&sha256(token.as_bytes()))
            .await?
            .ok_or(Error::NotFound {
                what: "connect link",
            })?;
        if session.expires_at <= now {
            return Err(Error::Forbidden(
                "this connect link has expired; ask the application for a new one".into(),
            ));
        }
        // Used once: whoever sees the link later (browser history, a shared screen) must not
        // connect the user to another Zoom account with it.
        if session.completed_at.is_some() {
            return Err(Error::Forbidden(
                "this connect link was already used to connect Zoom; ask the application for a new one if you need to connect again".into(),
            ));
        }
        let app = self
            .usable_app(session.tenant_id, session.zoom_app_id, now)
            .await?;
        Ok((session, app.name))
    }

    /// Starts an authorization attempt: a fresh `state` (256 bits), a PKCE S256 pair, and a
    /// browser-binding secret for a cookie.
    /// `signed_in` is the web app's member in this browser (tenant, `member:{id}`): a link a
    /// member made for their own Zoom account works only in their own signed-in browser, so that
    /// nobody can send it to a colleague and get the colleague's Zoom account attached to theirs.
    pub async fn start_connect_attempt(
        &self,
        token: &str,
        signed_in: Option<&(meetgate_store::TenantId, String)>,
        now: OffsetDateTime,
    ) -> Result<StartedAttempt> {
        let (session, _) = self.open_connect_link(token, now).await?;
        let external = self
            .store
            .get_end_user(session.tenant_id, session.end_user_id)
            .await?
            .map(|u| u.external_id);
        if let Some(external) = external.filter(|e| member_of_external_id(e).is_some())
            && signed_in != Some(&(session.tenant_id, external))
        {
            return Err(Error::Forbidden(
                "this link connects Zoom for another person's meetgate account; sign in as yourself and connect Zoom from your own dashboard".into(),
            ));
        }
        let app = self
            .usable_app(session.tenant_id, session.zoom_app_id, now)
            .await?;
        let oauth = self.oauth_app(&app)?;
        let state = Secret::new(random_token(32));
        let binding = Secret::new(random_token(32));
        let pkce = Pkce::generate();
        let id = OAuthAttemptId::new();
        let attempt = OAuthAttempt {
            id,
            tenant_id: session.tenant_id,
            connect_session_id: session.id,
            end_user_id: session.end_user_id,
            zoom_app_id: app.id,
            state_hash: sha256(state.expose().as_bytes()),
            browser_hash: sha256(binding.expose().as_bytes()),
            pkce_verifier: self.vault.seal_str(
                SealedColumn::OAuthAttemptVerifier,
                Some(session.tenant_id),
                &id.to_string(),
                pkce.verifier.expose(),
            )?,
            return_url: session.return_url.clone(),
            created_at: now,
            expires_at: now + ATTEMPT_TTL,
            consumed_at: None,
        };
        self.store.create_oauth_attempt(&attempt).await?;
        let url = oauth
            .authorize_url(&AuthorizeRequest {
                state: &state,
                pkce: &pkce,
                scopes: &app.scopes,
            })
            .map_err(|e| Error::AppMisconfigured(format!("cannot build the authorize URL: {e}")))?;
        Ok(StartedAttempt {
            authorize_url: url.to_string(),
            browser_binding: binding,
        })
    }

    /// Zoom's redirect back. Refuses a missing, unknown, replayed, expired or other-browser
    /// `state` before any token request.
    #[tracing::instrument(skip_all)]
    pub async fn complete_connect(
        &self,
        state: Option<&str>,
        code: Option<&str>,
        zoom_error: Option<&str>,
        browser_binding: Option<&str>,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Result<CallbackOutcome> {
        let refused = |status: u16, message: &str| {
            Ok(CallbackOutcome::Refused {
                status,
                message: message.to_owned(),
            })
        };
        let Some(state) = state.filter(|s| !s.is_empty() && s.len() <= 512) else {
            return refused(
                400,
                "This sign-in link is incomplete (no state). Start connecting again from the application.",
            );
        };
        let attempt = match self
            .store
            .consume_oauth_attempt(&sha256(state.as_bytes()), now)
            .await?
        {
            StateLookup::Unknown => {
                return refused(
                    400,
                    "This sign-in response is not one meetgate started. Start connecting again from the application.",
                );
            }
            StateLookup::AlreadyUsed(_) => {
                return refused(
                    400,
                    "This sign-in response was already used. Start connecting again from the application.",
                );
            }
            StateLookup::Consumed(attempt) => attempt,
        };
        if attempt.expires_at <= now {
            return refused(
                400,
                "This sign-in took too long and expired. Start connecting again from the application.",
            );
        }
        let same_browser = browser_binding.is_some_and(|b| {
            crate::secrets::constant_time_eq(&sha256(b.as_bytes()), &attempt.browser_hash)
        });
        if !same_browser {
            return refused(
                403,
                "This sign-in was started in another browser. Start connecting again from the application, in this browser.",
            );
        }
        let back_with = |status: &str, error: Option<&str>, scopes: Option<&str>| {
            let mut pairs = vec![("meetgate_status", status)];
            if let Some(e) = error {
                pairs.push(("meetgate_error", e));
            }
            if let Some(s) = scopes {
                pairs.push(("meetgate_required_scopes", s));
            }
            with_query(&attempt.return_url, &pairs)
        };
        let back = |status: &str, error: Option<&str>| back_with(status, error, None);
        if let Some(error) = zoom_error {
            let code = if error == "access_denied" {
                "access_denied"
            } else {
                "zoom_error"
            };
            let ctx = Ctx::system(attempt.tenant_id, ActorKind::Zoom, now);
            let _ = self
                .store
                .append_audit(Effects::none().audit(ctx.audit(
                    "connection.connect_failed",
                    "end_user",
                    Some(attempt.end_user_id.to_string()),
                    "failure",
                    serde_json::json!({ "error": code }),
                )))
                .await;
            return Ok(CallbackOutcome::Return {
                url: back("error", Some(code)),
                connected: false,
            });
        }
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            return Ok(CallbackOutcome::Return {
                url: back("error", Some("missing_code")),
                connected: false,
            });
        };
        let mut ctx = Ctx::system(attempt.tenant_id, ActorKind::Zoom, now);
        ctx.request_id = request_id;
        // Once the code is sent, Zoom has issued tokens (and, on a reconnect, replaced the
        // grant meetgate holds): the exchange and the store's write run to the end even if the
        // browser or the request timeout gives up, or the tokens would be lost.
        let (this, task_ctx, task_attempt, code) = (
            self.clone(),
            ctx.clone(),
            attempt.clone(),
            Secret::new(code),
        );
        let exchanged = self
            .to_completion(Box::pin(async move {
                this.exchange_and_store(&task_ctx, &task_attempt, &code)
                    .await
            }))
            .await;
        match exchanged {
            Ok(can_create) => {
                let url = if can_create {
                    back("connected", None)
                } else {
                    back("connected", Some("insufficient_scopes"))
                };
                Ok(CallbackOutcome::Return {
                    url,
                    connected: true,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "connecting a Zoom account failed");
                let code = match &e {
                    Error::AppMisconfigured(_) => "app_misconfigured",
                    Error::ZoomUnavailable(_) | Error::ZoomRateLimited { .. } => "zoom_unavailable",
                    Error::ZoomRejected(z) if !z.required_scopes.is_empty() => "missing_scopes",
                    Error::ZoomRejected(_) => "zoom_rejected",
                    Error::Forbidden(_) | Error::NeedsReauth { .. } => "invalid_grant",
                    _ => "server_error",
                };
                // Which scopes would do, for the host app to show; the fix goes to the audit
                // log, where an admin reads it.
                let (scopes, fix) = match &e {
                    Error::ZoomRejected(z) => (
                        (!z.required_scopes.is_empty()).then(|| z.required_scopes.join(" ")),
                        Some(z.fix.clone()),
                    ),
                    _ => (None, None),
                };
                let _ = self
                    .store
                    .append_audit(Effects::none().audit(ctx.audit(
                        "connection.connect_failed",
                        "end_user",
                        Some(attempt.end_user_id.to_string()),
                        "failure",
                        serde_json::json!({ "error": code, "required_scopes": scopes, "fix": fix }),
                    )))
                    .await;
                Ok(CallbackOutcome::Return {
                    url: back_with("error", Some(code), scopes.as_deref()),
                    connected: false,
                })
            }
        }
    }

    /// Exchanges the code, identifies the Zoom user, stores the grant (same connection id on
    /// reconnect; older grants of the same Zoom user and app superseded). Returns whether the
    /// granted scopes can create meetings.
    async fn exchange_and_store(
        &self,
        ctx: &Ctx,
        attempt: &OAuthAttempt,
        code: &Secret,
    ) -> Result<bool> {
        let app = self
            .usable_app(attempt.tenant_id, attempt.zoom_app_id, ctx.now)
            .await?;
        let oauth = self.oauth_app(&app)?;
        let verifier = Secret::new(self.vault.open_string(
            SealedColumn::OAuthAttemptVerifier,
            Some(attempt.tenant_id),
            &attempt.id.to_string(),
            &attempt.pkce_verifier,
        )?);
        let tokens = oauth
            .exchange_code(code, &verifier)
            .await
            .map_err(|e| match e.kind {
                TokenErrorKind::InvalidClient => Error::AppMisconfigured(e.message),
                TokenErrorKind::Transient { .. } => Error::ZoomUnavailable(e.message),
                _ => Error::Forbidden(format!(
                    "Zoom refused the authorization code: {}",
                    e.message
                )),
            })?;
        let api_url = tokens
            .api_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| app.api_base_url.clone());
        let api = self
            .zoom_apis
            .at(&api_url)
            .map_err(|e| Error::ZoomUnavailable(format!("Zoom gave an unusable api_url: {e}")))?;
        let me = api
            .get_user(&tokens.access_token, &UserTarget::Me)
            .await
            .map_err(|e| match e.kind {
                ApiErrorKind::Transient { .. } => {
                    Error::ZoomUnavailable(format!("reading the Zoom user failed: {}", e.message))
                }
                // An app without user:read (or its granular or user_info form) gets its grant
                // but cannot say whose it is: the fix names the scope to add.
                _ => self.zoom_error(
                    &unsaved_connection(ctx, &app, &tokens.scope, &api_url),
                    &app,
                    Operation::GetUser,
                    &UserTarget::Me,
                    e,
                    ctx.now,
                ),
            })?;
        let account_id = me.account_id.clone().unwrap_or_default();

        let existing = self
            .store
            .find_connection(attempt.tenant_id, attempt.end_user_id, app.id)
            .await?;
        let id = existing
            .as_ref()
            .map(|c| c.id)
            .unwrap_or_else(ConnectionId::new);
        let supersede: Vec<_> = self
            .store
            .find_connections_by_zoom_user(app.id, &me.id)
            .await?
            .into_iter()
            .filter(|c| c.id != id && c.state == ConnectionState::Connected)
            .collect();
        let sealed = self.seal_tokens(attempt.tenant_id, id, &tokens, ctx.now)?;
        let granted = parse(&tokens.scope);
        let level = if app.app_type == AppType::UserManaged {
            Level::Own
        } else {
            Level::Account
        };
        let can_create = allows(&granted, Operation::CreateMeeting, level);
        let reconnect = existing.is_some();

        let mut effects = Effects::none()
            .audit(ctx.audit(
                "connection.connected",
                "connection",
                Some(id.to_string()),
                "success",
                serde_json::json!({ "zoom_user_id": me.id, "zoom_account_id": account_id, "reconnect": reconnect, "scopes": tokens.scope }),
            ))
            .event(ctx.event(
                "connection.connected",
                serde_json::json!({
                    "connection_id": id,
                    "user": self.external_id_of(attempt.tenant_id, attempt.end_user_id).await,
                    "zoom_user_id": me.id,
                    "zoom_account_id": account_id,
                    "scopes": granted,
                    "can_create_meetings": can_create,
                }),
            ));
        for old in &supersede {
            effects = effects
                .audit(ctx.audit("connection.superseded", "connection", Some(old.id.to_string()), "success", serde_json::json!({ "by_connection": id })))
                .event(event_for(
                    old.tenant_id,
                    "connection.superseded",
                    serde_json::json!({ "connection_id": old.id, "end_user_id": old.end_user_id, "reason": "the same Zoom user connected the same Zoom app elsewhere; Zoom keeps one grant per user and app" }),
                    ctx.now,
                ));
            if old.tenant_id != attempt.tenant_id {
                let mut audit = ctx.audit(
                    "connection.superseded",
                    "connection",
                    Some(old.id.to_string()),
                    "success",
                    serde_json::json!({}),
                );
                audit.tenant_id = Some(old.tenant_id);
                effects = effects.audit(audit);
            }
        }
        let grant = NewGrant {
            id,
            tenant_id: attempt.tenant_id,
            end_user_id: attempt.end_user_id,
            zoom_app_id: app.id,
            zoom_user_id: me.id.clone(),
            zoom_account_id: account_id,
            zoom_email: me.email.clone(),
            scopes: tokens.scope.clone(),
            api_url,
            access_token: sealed.access_token,
            access_expires_at: sealed.access_expires_at,
            refresh_token: sealed.refresh_token,
            next_refresh_at: sealed.next_refresh_at,
            now: ctx.now,
            connect_session: Some(attempt.connect_session_id),
        };
        let supersede_ids: Vec<_> = supersede.iter().map(|c| c.id).collect();
        self.store
            .save_grant(&grant, &supersede_ids, effects)
            .await?;
        metrics::counter!("meetgate_connections_connected_total").increment(1);
        Ok(can_create)
    }

    pub(crate) async fn external_id_of(
        &self,
        tenant: meetgate_store::TenantId,
        end_user: EndUserId,
    ) -> Option<String> {
        self.store
            .get_end_user(tenant, end_user)
            .await
            .ok()
            .flatten()
            .map(|u| u.external_id)
    }
}
