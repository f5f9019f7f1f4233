use meetgate_store::models::{AppType, Connection, ConnectionState, NewGrant, ZoomApp};
use meetgate_store::{ConnectionId, Effects};
use meetgate_zoom::UserTarget;

use super::doctor::unsaved_connection;
use super::{ConnectionView, Ctx, Services};
use crate::{Error, Result};

/// What became of the grant at Zoom when its connection was ended.
enum ZoomRevoke {
    Revoked,
    /// Zoom answered the refresh with `invalid_grant`: the grant had already ended there.
    GrantAlreadyDead,
    /// Zoom refused the revoke, or could not be reached; the grant may still live there.
    Failed(String),
}

impl Services {
    /// The connection of a host-app user (through the tenant's default app, or the most recently
    /// connected one when several apps are used) and its app.
    pub(crate) async fn connection_of(
        &self,
        ctx: &Ctx,
        external_id: &str,
    ) -> Result<(Connection, ZoomApp)> {
        let mut conns = self
            .store
            .list_connections_of_external_user(ctx.tenant(), external_id)
            .await?;
        // Prefer a live grant, then the most recently changed one.
        conns.sort_by_key(|c| (c.state == ConnectionState::Connected, c.updated_at));
        let conn = conns
            .pop()
            .ok_or(Error::NotConnected { connect_url: None })?;
        let app = self
            .usable_app(ctx.tenant(), conn.zoom_app_id, ctx.now)
            .await?;
        Ok((conn, app))
    }

    pub async fn get_connection(&self, ctx: &Ctx, external_id: &str) -> Result<ConnectionView> {
        let (conn, app) = self.connection_of(ctx, external_id).await?;
        Ok(ConnectionView::new(&conn, &app, external_id))
    }

    /// Disconnects: revokes the grant at Zoom (best effort: a refusal is logged and audited),
    /// deletes the tokens, keeps a tombstone row in state `revoked`.
    pub async fn disconnect(&self, ctx: &Ctx, external_id: &str) -> Result<ConnectionView> {
        let (conn, app) = self.connection_of(ctx, external_id).await?;
        let (ctx, external_id) = (ctx.clone(), external_id.to_owned());
        self.with_grant_locked(conn.id, move |this, mut lock| async move {
            let outcome = this
                .revoke_and_end(&ctx, lock.as_mut(), &app, &external_id)
                .await;
            (lock, outcome)
        })
        .await
    }

    /// Revokes the grant at Zoom (best effort) and ends the connection, both under the grant's
    /// store lock.
    async fn revoke_and_end(
        &self,
        ctx: &Ctx,
        lock: &mut dyn meetgate_store::RefreshLock,
        app: &ZoomApp,
        external_id: &str,
    ) -> Result<ConnectionView> {
        let reread = |conn: Option<Connection>| {
            conn.filter(|c| c.tenant_id == ctx.tenant())
                .ok_or(Error::NotFound { what: "connection" })
        };
        let mut conn = reread(lock.reread().await?)?;
        if conn.state == ConnectionState::Revoked {
            // Already ended (a repeated disconnect, or Zoom's deauthorization): nothing to
            // revoke, and no second `connection.revoked`.
            return Ok(ConnectionView::new(&conn, app, external_id));
        }
        if let Some(pending) = self.refresh_pending(&conn) {
            return Err(pending);
        }
        let mut details = serde_json::json!({ "by": "disconnect" });
        if conn.state == ConnectionState::Connected && app.app_type != AppType::ServerToServer {
            let revoked = self.revoke_at_zoom(ctx, lock, &conn, app).await?;
            details["revoked_at_zoom"] = serde_json::json!(matches!(revoked, ZoomRevoke::Revoked));
            match revoked {
                ZoomRevoke::Revoked => {}
                ZoomRevoke::GrantAlreadyDead => {
                    tracing::info!(connection = %conn.id, "the grant was already dead at Zoom (invalid_grant); ending the connection");
                    details["zoom_grant"] = serde_json::json!("already_dead");
                }
                ZoomRevoke::Failed(why) => {
                    tracing::warn!(connection = %conn.id, error = %why, "revoking at Zoom failed, so the grant may live on there; ending the connection anyway");
                    details["zoom_revoke_error"] = serde_json::json!(why);
                }
            }
            // A refresh for the revoke wrote the row (new tokens, or the grant found dead).
            conn = reread(lock.reread().await?)?;
        }
        let effects = Effects::none()
            .audit(ctx.audit("connection.revoked", "connection", Some(conn.id.to_string()), "success", details))
            .event(ctx.event("connection.revoked", serde_json::json!({ "connection_id": conn.id, "user": external_id, "reason": "disconnected" })));
        let ended = lock
            .mark_dead(
                conn.version,
                ConnectionState::Revoked,
                "disconnected by the application",
                ctx.now,
                effects,
            )
            .await?;
        Ok(ConnectionView::new(&ended, app, external_id))
    }

    /// Revokes `conn`'s grant at Zoom, which takes an access token (a refresh token is refused):
    /// the stored one while it outlives the refresh margin, else a fresh one, refreshed under
    /// the store lock the caller holds, as any refresh is.
    async fn revoke_at_zoom(
        &self,
        ctx: &Ctx,
        lock: &mut dyn meetgate_store::RefreshLock,
        conn: &Connection,
        app: &ZoomApp,
    ) -> Result<ZoomRevoke> {
        let token = match self.fresh_token(conn, ctx.now)? {
            Some(token) => token,
            None => match self.refresh_locked(lock, conn, app, false, ctx.now).await {
                Ok((_, token)) => token,
                // Zoom already refused the grant's refresh token: nothing is left to revoke.
                Err(Error::NeedsReauth { .. }) => return Ok(ZoomRevoke::GrantAlreadyDead),
                Err(e) => {
                    return Ok(ZoomRevoke::Failed(format!(
                        "refreshing the expired access token to revoke with failed: {e}"
                    )));
                }
            },
        };
        Ok(match self.oauth_app(app)?.revoke(&token).await {
            Ok(()) => ZoomRevoke::Revoked,
            Err(e) => ZoomRevoke::Failed(format!(
                "Zoom refused the revoke: {} ({})",
                e.message, e.error
            )),
        })
    }

    /// Connects a host-app user to a Zoom user of a server-to-server app's own account: no
    /// consent, the app's account credentials. Admin action.
    pub async fn connect_server_to_server(
        &self,
        ctx: &Ctx,
        external_id: &str,
        app_id: meetgate_store::ZoomAppId,
        zoom_user: &str,
    ) -> Result<ConnectionView> {
        let app = self.usable_app(ctx.tenant(), app_id, ctx.now).await?;
        if app.app_type != AppType::ServerToServer {
            return Err(Error::validation(
                "zoom_app_id",
                "is not a server-to-server app",
            ));
        }
        let oauth = self.oauth_app(&app)?;
        let tokens = oauth
            .account_credentials(app.account_id.as_deref().unwrap_or_default())
            .await
            .map_err(|e| {
                Error::AppMisconfigured(format!(
                    "Zoom refused the app's account credentials: {}",
                    e.message
                ))
            })?;
        let api_url = tokens
            .api_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| app.api_base_url.clone());
        let api = self.zoom_apis.at(&api_url).map_err(Error::internal)?;
        let target = UserTarget::User(zoom_user.to_owned());
        let user = api
            .get_user(&tokens.access_token, &target)
            .await
            .map_err(|e| {
                let probe = unsaved_connection(ctx, &app, &tokens.scope, &api_url);
                self.zoom_error(
                    &probe,
                    &app,
                    meetgate_zoom::scopes::Operation::GetUser,
                    &target,
                    e,
                    ctx.now,
                )
            })?;
        let end_user = self
            .store
            .upsert_end_user(
                ctx.tenant(),
                external_id,
                user.email.as_deref(),
                None,
                ctx.now,
            )
            .await?;
        let existing = self
            .store
            .find_connection(ctx.tenant(), end_user.id, app.id)
            .await?;
        let id = existing.map(|c| c.id).unwrap_or_else(ConnectionId::new);
        let sealed = self.seal_tokens(ctx.tenant(), id, &tokens, ctx.now)?;
        let grant = NewGrant {
            id,
            tenant_id: ctx.tenant(),
            end_user_id: end_user.id,
            zoom_app_id: app.id,
            zoom_user_id: user.id.clone(),
            zoom_account_id: user
                .account_id
                .clone()
                .or(app.account_id.clone())
                .unwrap_or_default(),
            zoom_email: user.email.clone(),
            scopes: tokens.scope.clone(),
            api_url,
            access_token: sealed.access_token,
            access_expires_at: sealed.access_expires_at,
            refresh_token: None,
            next_refresh_at: sealed.next_refresh_at,
            now: ctx.now,
            connect_session: None,
        };
        let effects = Effects::none()
            .audit(ctx.audit("connection.connected", "connection", Some(id.to_string()), "success", serde_json::json!({ "zoom_user_id": user.id, "server_to_server": true })))
            .event(ctx.event("connection.connected", serde_json::json!({ "connection_id": id, "user": external_id, "zoom_user_id": user.id, "can_create_meetings": true })));
        let conn = self.store.save_grant(&grant, &[], effects).await?;
        Ok(ConnectionView::new(&conn, &app, external_id))
    }

    pub async fn list_connections(
        &self,
        ctx: &Ctx,
        state: Option<ConnectionState>,
    ) -> Result<Vec<ConnectionView>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_connections(ctx.tenant(), state, after, 500)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for conn in &page {
                let app = self
                    .usable_app(ctx.tenant(), conn.zoom_app_id, ctx.now)
                    .await?;
                let external = self
                    .external_id_of(ctx.tenant(), conn.end_user_id)
                    .await
                    .unwrap_or_default();
                out.push(ConnectionView::new(conn, &app, &external));
            }
            if page.len() < 500 {
                break;
            }
        }
        Ok(out)
    }
}
