use meetgate_store::models::{AppType, ZoomApp};
use meetgate_store::{Effects, SealedColumn, TenantId, ZoomAppId};
use meetgate_zoom::{OAuthApp, Secret};
use serde::Serialize;
use time::OffsetDateTime;

use super::{Ctx, Services};
use crate::{Error, Result};

/// What an operator registers: a Zoom app's credentials and where its Zoom lives.
#[derive(Debug, Clone)]
pub struct NewZoomApp {
    /// `None`: shared by every tenant of the deployment.
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub app_type: AppType,
    pub client_id: String,
    pub client_secret: Secret,
    /// Server-to-server apps: the owning Zoom account.
    pub account_id: Option<String>,
    /// Space separated; empty asks for the scopes configured in Zoom's Marketplace.
    pub scopes: String,
    pub webhook_secret: Option<Secret>,
    /// Defaults to Zoom's.
    pub auth_base_url: Option<String>,
    pub api_base_url: Option<String>,
}

/// A Zoom app as shown to operators and admins: never a secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoomAppView {
    pub id: ZoomAppId,
    pub shared: bool,
    pub name: String,
    pub app_type: String,
    pub client_id: String,
    pub account_id: Option<String>,
    pub scopes: String,
    pub redirect_uri: String,
    /// The URL to enter as the event notification endpoint in Zoom's Marketplace.
    pub webhook_url: String,
    pub has_webhook_secret: bool,
    pub auth_base_url: String,
    pub api_base_url: String,
}

fn check_base_url(field: &str, value: &str) -> Result<String> {
    let url =
        url::Url::parse(value).map_err(|e| Error::validation(field, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::validation(field, "must be an http(s) URL"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

impl Services {
    /// The one OAuth callback of this deployment; register it in every Zoom app.
    pub fn redirect_uri(&self) -> String {
        self.link("/oauth/callback")
    }

    pub fn zoom_app_view(&self, app: &ZoomApp) -> ZoomAppView {
        ZoomAppView {
            id: app.id,
            shared: app.tenant_id.is_none(),
            name: app.name.clone(),
            app_type: app.app_type.as_str().to_owned(),
            client_id: app.client_id.clone(),
            account_id: app.account_id.clone(),
            scopes: app.scopes.clone(),
            redirect_uri: app.redirect_uri.clone(),
            webhook_url: self.link(&format!("/zoom/webhooks/{}", app.id)),
            has_webhook_secret: app.webhook_secret.is_some(),
            auth_base_url: app.auth_base_url.clone(),
            api_base_url: app.api_base_url.clone(),
        }
    }

    /// Registers a Zoom app. Operator action.
    pub async fn register_zoom_app(
        &self,
        new: NewZoomApp,
        now: OffsetDateTime,
    ) -> Result<ZoomAppView> {
        if new.client_id.trim().is_empty() {
            return Err(Error::validation("client_id", "is required"));
        }
        if new.client_secret.is_empty() {
            return Err(Error::validation("client_secret", "is required"));
        }
        if new.app_type == AppType::ServerToServer
            && new.account_id.as_deref().is_none_or(str::is_empty)
        {
            return Err(Error::validation(
                "account_id",
                "is required for server-to-server apps",
            ));
        }
        // Zoom keeps one live grant per (Zoom user, app) and sends an app's webhooks to one URL:
        // two registrations of one client id would supersede each other's connections and
        // miss each other's deauthorizations. The check spans every tenant, so its answer names
        // none.
        let client_id = new.client_id.trim();
        if !self
            .store
            .find_zoom_apps_by_client_id(client_id)
            .await?
            .is_empty()
        {
            return Err(Error::Conflict(format!(
                "the Zoom app with client id {client_id} is already registered in this meetgate; \
                 each tenant needs its own Zoom app (Zoom keeps one grant per user and app, and \
                 sends an app's webhooks to one URL): create another app in Zoom's App \
                 Marketplace for this tenant"
            )));
        }
        let auth_base_url = check_base_url(
            "auth_base_url",
            new.auth_base_url
                .as_deref()
                .unwrap_or(meetgate_zoom::ZOOM_AUTH_BASE),
        )?;
        let api_base_url = check_base_url(
            "api_base_url",
            new.api_base_url
                .as_deref()
                .unwrap_or(meetgate_zoom::ZOOM_API_BASE),
        )?;
        let id = ZoomAppId::new();
        let row = id.to_string();
        let client_secret = self.vault.seal_str(
            SealedColumn::ZoomAppClientSecret,
            new.tenant_id,
            &row,
            new.client_secret.expose(),
        )?;
        let webhook_secret = new
            .webhook_secret
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                self.vault.seal_str(
                    SealedColumn::ZoomAppWebhookSecret,
                    new.tenant_id,
                    &row,
                    s.expose(),
                )
            })
            .transpose()?;
        let app = ZoomApp {
            id,
            tenant_id: new.tenant_id,
            name: if new.name.trim().is_empty() {
                "Zoom".into()
            } else {
                new.name.trim().to_owned()
            },
            app_type: new.app_type,
            client_id: new.client_id.trim().to_owned(),
            client_secret,
            account_id: new.account_id.filter(|a| !a.is_empty()),
            scopes: new.scopes.split_whitespace().collect::<Vec<_>>().join(" "),
            redirect_uri: self.redirect_uri(),
            webhook_secret,
            webhook_secret_next: None,
            auth_base_url,
            api_base_url,
            created_at: now,
        };
        let audit = meetgate_store::NewAuditEvent {
            id: meetgate_store::AuditEventId::new(),
            tenant_id: new.tenant_id,
            at: now,
            actor_kind: "operator".into(),
            actor_id: None,
            action: "zoom_app.registered".into(),
            object_kind: "zoom_app".into(),
            object_id: Some(id.to_string()),
            outcome: "success".into(),
            request_id: None,
            details: serde_json::json!({ "app_type": app.app_type.as_str(), "client_id": app.client_id }),
        };
        self.store
            .create_zoom_app(&app, Effects::none().audit(audit))
            .await?;
        Ok(self.zoom_app_view(&app))
    }

    pub async fn list_zoom_apps(&self, ctx: &Ctx) -> Result<Vec<ZoomAppView>> {
        let apps = self.store.list_zoom_apps_for(ctx.tenant()).await?;
        Ok(apps.iter().map(|a| self.zoom_app_view(a)).collect())
    }

    /// A Zoom app this tenant may use: its own or a shared one.
    pub(crate) async fn usable_app(
        &self,
        tenant: TenantId,
        id: ZoomAppId,
        now: OffsetDateTime,
    ) -> Result<ZoomApp> {
        let app = self
            .lookups
            .apps
            .get_or_load(id, now, || self.store.get_zoom_app(id))
            .await?;
        match app {
            Some(app) if app.tenant_id.is_none_or(|t| t == tenant) => Ok(app),
            _ => Err(Error::NotFound { what: "Zoom app" }),
        }
    }

    /// The app a connect session uses when none is named: the tenant's own first, then the
    /// deployment's shared one (oldest first).
    pub(crate) async fn default_app(&self, tenant: TenantId) -> Result<ZoomApp> {
        let apps = self.store.list_zoom_apps_for(tenant).await?;
        let own = apps.iter().find(|a| a.tenant_id == Some(tenant)).cloned();
        own.or_else(|| apps.into_iter().next()).ok_or_else(|| {
            Error::AppMisconfigured("no Zoom app is registered for this tenant; register one with `meetgate zoom-app add`".into())
        })
    }

    pub(crate) fn oauth_app(&self, app: &ZoomApp) -> Result<OAuthApp> {
        let secret = self.vault.open_string(
            SealedColumn::ZoomAppClientSecret,
            app.tenant_id,
            &app.id.to_string(),
            &app.client_secret,
        )?;
        let auth_base = url::Url::parse(&app.auth_base_url)
            .map_err(|e| Error::AppMisconfigured(format!("auth base URL: {e}")))?;
        Ok(OAuthApp {
            client_id: app.client_id.clone(),
            client_secret: Secret::new(secret),
            auth_base,
            redirect_uri: app.redirect_uri.clone(),
            http: self.zoom_http.clone(),
        })
    }

    /// The app's webhook secrets (current, then next), for signature checks.
    pub(crate) fn webhook_secrets(&self, app: &ZoomApp) -> Result<Vec<Secret>> {
        let row = app.id.to_string();
        let mut secrets = Vec::new();
        if let Some(s) = &app.webhook_secret {
            secrets.push(Secret::new(self.vault.open_string(
                SealedColumn::ZoomAppWebhookSecret,
                app.tenant_id,
                &row,
                s,
            )?));
        }
        if let Some(s) = &app.webhook_secret_next {
            secrets.push(Secret::new(self.vault.open_string(
                SealedColumn::ZoomAppWebhookSecretNext,
                app.tenant_id,
                &row,
                s,
            )?));
        }
        Ok(secrets)
    }

    /// Verifies the app's credentials against Zoom's token endpoint (`meetgate zoom-app check`).
    /// Only server-to-server apps can get a token without a user; for the others a wrong secret
    /// is still told apart by Zoom's `invalid_client`.
    pub async fn check_zoom_app(&self, id: ZoomAppId) -> Result<String> {
        let app = self
            .store
            .get_zoom_app(id)
            .await?
            .ok_or(Error::NotFound { what: "Zoom app" })?;
        let oauth = self.oauth_app(&app)?;
        match app.app_type {
            AppType::ServerToServer => {
                let account = app.account_id.clone().unwrap_or_default();
                let token = oauth
                    .account_credentials(&account)
                    .await
                    .map_err(|e| Error::AppMisconfigured(e.message))?;
                Ok(format!(
                    "credentials work: got a token with scopes [{}]",
                    token.scope
                ))
            }
            _ => {
                // An authorization code nobody issued: Zoom answers invalid_grant when the client
                // credentials are right and invalid_client when they are not.
                let probe = oauth
                    .exchange_code(
                        &Secret::new("meetgate-credential-probe"),
                        &Secret::new("x".repeat(43)),
                    )
                    .await;
                match probe {
                    Err(e) if e.kind == meetgate_zoom::TokenErrorKind::InvalidClient => {
                        Err(Error::AppMisconfigured(format!(
                            "Zoom refused the client id or secret: {}",
                            e.message
                        )))
                    }
                    Err(e) if matches!(e.kind, meetgate_zoom::TokenErrorKind::Transient { .. }) => {
                        Err(Error::ZoomUnavailable(e.message))
                    }
                    _ => Ok("client id and secret accepted by Zoom's token endpoint".into()),
                }
            }
        }
    }
}
