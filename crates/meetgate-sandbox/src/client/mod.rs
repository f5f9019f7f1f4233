//! `SandboxControl`: a typed client for the control API, plus a headless "browser" that
//! completes the consent page over HTTP.

mod form;

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::control::dto::*;
use crate::world::{Account, App, User, World};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("HTTP request to the sandbox failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("sandbox answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("the consent page refused: {0}")]
    Consent(String),
    #[error("unexpected page: {0}")]
    Page(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// Typed client for `/_sandbox/...`.
#[derive(Clone, Debug)]
pub struct SandboxControl {
    base: Url,
    http: reqwest::Client,
}

impl SandboxControl {
    pub fn new(base_url: Url) -> Self {
        let mut base = base_url;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        // Redirects are data here (the consent page answers with one), never followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { base, http }
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, ControlError> {
        Ok(self.base.join(&format!("_sandbox/{path}"))?)
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ControlError> {
        let mut req = self.http.request(method, self.url(path)?);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<ControlErrorBody>(&text)
                .map(|b| b.error)
                .unwrap_or(text);
            return Err(ControlError::Status {
                status: status.as_u16(),
                message,
            });
        }
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_value(serde_json::Value::Null)
                .map_err(|e| ControlError::Page(e.to_string()));
        }
        Ok(resp.json().await?)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ControlError> {
        self.send::<(), T>(Method::GET, path, None).await
    }

    pub async fn health(&self) -> Result<(), ControlError> {
        self.get::<serde_json::Value>("health").await.map(|_| ())
    }

    pub async fn world(&self) -> Result<World, ControlError> {
        self.get("world").await
    }

    pub async fn counters(&self) -> Result<Counters, ControlError> {
        self.get("counters").await
    }

    pub async fn reset_counters(&self) -> Result<(), ControlError> {
        self.send::<(), ()>(Method::DELETE, "counters", None).await
    }

    pub async fn clock(&self) -> Result<ClockState, ControlError> {
        self.get("clock").await
    }

    /// Moves the sandbox clock forward; every expiry and due webhook retry follows it.
    pub async fn advance_clock(&self, by: Duration) -> Result<ClockState, ControlError> {
        let body = AdvanceClock {
            seconds: by.as_secs(),
        };
        self.send(Method::POST, "clock/advance", Some(&body)).await
    }

    pub async fn set_fault(&self, spec: FaultSpec) -> Result<FaultInfo, ControlError> {
        self.send(Method::POST, "faults", Some(&spec)).await
    }

    pub async fn faults(&self) -> Result<Vec<FaultInfo>, ControlError> {
        self.get("faults").await
    }

    pub async fn remove_fault(&self, id: u64) -> Result<(), ControlError> {
        self.send::<(), ()>(Method::DELETE, &format!("faults/{id}"), None)
            .await
    }

    pub async fn clear_faults(&self) -> Result<(), ControlError> {
        self.send::<(), ()>(Method::DELETE, "faults", None).await
    }

    pub async fn add_account(&self, account: NewAccount) -> Result<Account, ControlError> {
        self.send(Method::POST, "accounts", Some(&account)).await
    }

    pub async fn add_user(&self, user: NewUser) -> Result<User, ControlError> {
        self.send(Method::POST, "users", Some(&user)).await
    }

    pub async fn add_app(&self, app: NewApp) -> Result<App, ControlError> {
        self.send(Method::POST, "apps", Some(&app)).await
    }

    /// Replaces an app's redirect URI allow list (exact URIs such as
    /// `http://127.0.0.1:PORT/oauth/callback`).
    pub async fn set_app_redirect_uris(
        &self,
        client_id: &str,
        redirect_uris: Vec<String>,
    ) -> Result<App, ControlError> {
        let body = RedirectUris { redirect_uris };
        self.send(
            Method::PUT,
            &format!("apps/{client_id}/redirect_uris"),
            Some(&body),
        )
        .await
    }

    /// Registers the app's event endpoint; the sandbox sends `endpoint.url_validation` and
    /// reports whether the endpoint answered it correctly.
    pub async fn set_app_webhook(
        &self,
        client_id: &str,
        url: &Url,
    ) -> Result<UrlValidation, ControlError> {
        let body = SetWebhook { url: url.clone() };
        self.send(
            Method::PUT,
            &format!("apps/{client_id}/webhook"),
            Some(&body),
        )
        .await
    }

    /// The app's endpoint: validated, failed or disabled, and its next revalidation.
    pub async fn app_webhook(&self, client_id: &str) -> Result<WebhookEndpoint, ControlError> {
        self.send::<(), _>(Method::GET, &format!("apps/{client_id}/webhook"), None)
            .await
    }

    pub async fn remove_app_webhook(&self, client_id: &str) -> Result<(), ControlError> {
        self.send::<(), ()>(Method::DELETE, &format!("apps/{client_id}/webhook"), None)
            .await
    }

    /// The user removes the app: its grant dies and `app_deauthorized` is sent.
    pub async fn deauthorize(
        &self,
        user_id_or_email: &str,
        client_id: &str,
    ) -> Result<Affected, ControlError> {
        let body = Deauthorize {
            user: user_id_or_email.to_owned(),
            client_id: client_id.to_owned(),
        };
        self.send(Method::POST, "deauthorize", Some(&body)).await
    }

    /// Makes the live access tokens of a (user, app) grant expire now. For server-to-server
    /// apps pass the account id as the user.
    pub async fn expire_access_tokens_of(
        &self,
        user_id_or_email: &str,
        client_id: &str,
    ) -> Result<Affected, ControlError> {
        let body = ExpireTokens {
            user: user_id_or_email.to_owned(),
            client_id: client_id.to_owned(),
        };
        self.send(Method::POST, "tokens/expire", Some(&body)).await
    }

    pub async fn grants(&self) -> Result<Vec<GrantInfo>, ControlError> {
        self.get("grants").await
    }

    pub async fn start_meeting(&self, meeting_id: i64) -> Result<MeetingEvent, ControlError> {
        self.send::<(), _>(Method::POST, &format!("meetings/{meeting_id}/start"), None)
            .await
    }

    pub async fn end_meeting(&self, meeting_id: i64) -> Result<MeetingEvent, ControlError> {
        self.send::<(), _>(Method::POST, &format!("meetings/{meeting_id}/end"), None)
            .await
    }

    pub async fn participant_joined(
        &self,
        meeting_id: i64,
        name: &str,
    ) -> Result<MeetingEvent, ControlError> {
        let body = JoinParticipant {
            name: name.to_owned(),
            email: None,
        };
        self.send(
            Method::POST,
            &format!("meetings/{meeting_id}/participants"),
            Some(&body),
        )
        .await
    }

    /// Every meeting the user hosts, deleted and expired ones included.
    pub async fn meetings_of(
        &self,
        user_id_or_email: &str,
    ) -> Result<Vec<SandboxMeeting>, ControlError> {
        self.get(&format!("users/{user_id_or_email}/meetings"))
            .await
    }

    pub async fn webhook_deliveries(&self) -> Result<Vec<Delivery>, ControlError> {
        self.get("webhooks/deliveries").await
    }

    pub async fn clear_webhook_deliveries(&self) -> Result<(), ControlError> {
        self.send::<(), ()>(Method::DELETE, "webhooks/deliveries", None)
            .await
    }

    /// Polls until the delivery reaches a final state (delivered, failed, gave_up).
    pub async fn wait_for_delivery(
        &self,
        id: u64,
        timeout: Duration,
    ) -> Result<Delivery, ControlError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self
                .webhook_deliveries()
                .await?
                .into_iter()
                .find(|d| d.id == id);
            if let Some(d) = found
                && matches!(d.state.as_str(), "delivered" | "failed" | "gave_up")
            {
                return Ok(d);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControlError::Timeout(format!("webhook delivery {id}")));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn set_rate_limits(&self, on: bool) -> Result<Settings, ControlError> {
        let body = Settings { rate_limits: on };
        self.send(Method::PUT, "settings", Some(&body)).await
    }

    /// Opens `authorize_url`, signs in on the consent page and clicks Allow, like a browser.
    /// Returns the redirect (with `code` and `state`, or with `error` when the authorize
    /// request itself was refused back to the redirect URI).
    pub async fn authorize_headless(
        &self,
        authorize_url: &Url,
        email: &str,
        password: &str,
    ) -> Result<Url, ControlError> {
        self.consent(authorize_url, Some((email, password)), "allow")
            .await
    }

    /// Opens `authorize_url` and clicks Decline; returns the `error=access_denied` redirect.
    pub async fn deny_headless(&self, authorize_url: &Url) -> Result<Url, ControlError> {
        self.consent(authorize_url, None, "deny").await
    }

    async fn consent(
        &self,
        authorize_url: &Url,
        credentials: Option<(&str, &str)>,
        decision: &str,
    ) -> Result<Url, ControlError> {
        let resp = self.http.get(authorize_url.clone()).send().await?;
        if let Some(location) = redirect_target(&resp, authorize_url)? {
            return Ok(location);
        }
        let status = resp.status();
        let page_url = resp.url().clone();
        let html = resp.text().await?;
        if !status.is_success() {
            return Err(ControlError::Page(
                form::error_text(&html).unwrap_or_else(|| format!("HTTP {status}")),
            ));
        }
        let consent = form::first_post_form(&html)
            .ok_or_else(|| ControlError::Page("no consent form on the page".into()))?;
        let action = page_url.join(consent.action.as_deref().unwrap_or(""))?;
        let mut fields: Vec<(String, String)> = consent
            .fields
            .into_iter()
            .map(|(k, v)| match (k.as_str(), credentials) {
                ("email", Some((email, _))) => (k, email.to_owned()),
                ("password", Some((_, password))) => (k, password.to_owned()),
                _ => (k, v),
            })
            .collect();
        let button = consent
            .buttons
            .into_iter()
            .find(|(_, v)| v == decision)
            .ok_or_else(|| ControlError::Page(format!("no {decision} button on the page")))?;
        fields.push(button);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let resp = self
            .http
            .post(action.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        if let Some(location) = redirect_target(&resp, &action)? {
            return Ok(location);
        }
        let status = resp.status();
        let html = resp.text().await?;
        Err(ControlError::Consent(
            form::error_text(&html).unwrap_or_else(|| format!("HTTP {status}")),
        ))
    }
}

fn redirect_target(resp: &reqwest::Response, base: &Url) -> Result<Option<Url>, ControlError> {
    if !resp.status().is_redirection() {
        return Ok(None);
    }
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ControlError::Page("redirect without Location".into()))?;
    Ok(Some(base.join(location)?))
}
