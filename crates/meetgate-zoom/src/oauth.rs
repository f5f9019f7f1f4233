use std::time::Instant;

use serde::Deserialize;
use url::Url;

use crate::http::observe;
use crate::{Pkce, Secret};

/// One Zoom app's credentials and OAuth endpoints.
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: Secret,
    /// Base of `/oauth/authorize`, `/oauth/token` and `/oauth/revoke` (Zoom: https://zoom.us).
    pub auth_base: Url,
    pub redirect_uri: String,
    pub http: reqwest::Client,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("auth_base", &self.auth_base.as_str())
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What goes into the authorize URL.
#[derive(Debug)]
pub struct AuthorizeRequest<'a> {
    pub state: &'a Secret,
    pub pkce: &'a Pkce,
    /// Space separated; empty to ask for the scopes configured on the app in Zoom's Marketplace.
    pub scopes: &'a str,
}

/// A token endpoint answer. `Debug` hides the tokens.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    #[serde(default)]
    pub token_type: String,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    #[serde(default = "default_expires_in")]
    pub expires_in: i64,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub api_url: Option<String>,
}

fn default_expires_in() -> i64 {
    3599
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// Why a token call failed, sorted by what the caller must do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenErrorKind {
    /// The code or refresh token is dead (Zoom: `invalid_grant`, "Invalid Token!"). Only a new
    /// authorization helps, unless a sibling already stored a newer token.
    InvalidGrant,
    /// The client id or secret is wrong: an operator must fix the app registration.
    InvalidClient,
    /// Zoom refused the request for another reason it states (bad redirect URI, scope, grant
    /// type, app disabled). Not retried.
    Rejected,
    /// Worth retrying: 5xx, 429, a timeout, a body that is not JSON. `maybe_applied` is true when
    /// the request may have reached Zoom and been acted on (a timeout after sending), which for a
    /// refresh means the stored refresh token may already be dead.
    Transient { maybe_applied: bool },
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("Zoom token endpoint: {message}")]
pub struct TokenError {
    pub kind: TokenErrorKind,
    pub status: Option<u16>,
    /// Zoom's `error` field, or a short description.
    pub error: String,
    /// Zoom's `reason`/`error_description`, if any. Never holds a token.
    pub message: String,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

impl OAuthApp {
    /// The URL to send the user's browser to. The redirect URI is sent exactly as registered.
    pub fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, url::ParseError> {
        let mut url = self.auth_base.join("/oauth/authorize")?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("state", request.state.expose())
                .append_pair("code_challenge", &request.pkce.challenge)
                .append_pair("code_challenge_method", "S256");
            if !request.scopes.is_empty() {
                query.append_pair("scope", request.scopes);
            }
        }
        Ok(url)
    }

    #[tracing::instrument(skip_all, fields(client_id = %self.client_id))]
    pub async fn exchange_code(
        &self,
        code: &Secret,
        verifier: &Secret,
    ) -> Result<TokenResponse, TokenError> {
        self.token_call(
            "authorization_code",
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", verifier.expose()),
            ],
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(client_id = %self.client_id))]
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenResponse, TokenError> {
        self.token_call(
            "refresh_token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    /// Server-to-server OAuth: a token for the app owner's own account, no refresh token.
    #[tracing::instrument(skip_all, fields(client_id = %self.client_id))]
    pub async fn account_credentials(&self, account_id: &str) -> Result<TokenResponse, TokenError> {
        self.token_call(
            "account_credentials",
            &[
                ("grant_type", "account_credentials"),
                ("account_id", account_id),
            ],
        )
        .await
    }

    /// Revokes a grant at Zoom with its access token ("Revoking an Access Token":
    /// `token=[ACCESS TOKEN]`). Every refusal is an error, "Invalid Token!" included: Zoom
    /// gives it to a refresh token and to an expired access token as well as to a grant that is
    /// gone, so it does not show that the grant has ended.
    #[tracing::instrument(skip_all, fields(client_id = %self.client_id))]
    pub async fn revoke(&self, token: &Secret) -> Result<(), TokenError> {
        let started = Instant::now();
        let url = self.endpoint("/oauth/revoke")?;
        let response = self
            .http
            .post(url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[("token", token.expose())])
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_error)?;
        // Zoom has been seen answering 200 with an error body: only a body without an error
        // is a success.
        if status.is_success() && !names_an_error(&body) {
            observe("oauth.revoke", "ok", started);
            return Ok(());
        }
        let error = classify(status.as_u16(), &body);
        observe("oauth.revoke", outcome_label(&error.kind), started);
        Err(error)
    }

    fn endpoint(&self, path: &str) -> Result<Url, TokenError> {
        self.auth_base.join(path).map_err(|e| TokenError {
            kind: TokenErrorKind::Rejected,
            status: None,
            error: "invalid_configuration".into(),
            message: format!("the app's auth base URL cannot be joined with {path}: {e}"),
        })
    }

    async fn token_call(
        &self,
        grant: &'static str,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, TokenError> {
        let started = Instant::now();
        let endpoint = match grant {
            "authorization_code" => "oauth.token.authorization_code",
            "refresh_token" => "oauth.token.refresh_token",
            _ => "oauth.token.account_credentials",
        };
        let url = self.endpoint("/oauth/token")?;
        let result = async {
            let response = self
                .http
                .post(url)
                .basic_auth(&self.client_id, Some(self.client_secret.expose()))
                .form(form)
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(transport_error)?;
            if (200..300).contains(&status) {
                return serde_json::from_slice::<TokenResponse>(&body).map_err(|_| {
                    // Zoom has been seen answering 200 with an error body.
                    let error = classify(status, &body);
                    if error.kind == TokenErrorKind::Rejected && error.error == "unreadable" {
                        TokenError {
                            kind: TokenErrorKind::Transient {
                                maybe_applied: true,
                            },
                            ..error
                        }
                    } else {
                        error
                    }
                });
            }
            Err(classify(status, &body))
        }
        .await;
        match &result {
            Ok(_) => observe(endpoint, "ok", started),
            Err(e) => observe(endpoint, outcome_label(&e.kind), started),
        }
        result
    }
}

fn outcome_label(kind: &TokenErrorKind) -> &'static str {
    match kind {
        TokenErrorKind::InvalidGrant => "invalid_grant",
        TokenErrorKind::InvalidClient => "invalid_client",
        TokenErrorKind::Rejected => "rejected",
        TokenErrorKind::Transient { .. } => "transient",
    }
}

fn transport_error(e: reqwest::Error) -> TokenError {
    // A connect failure never reached Zoom; anything later may have.
    let maybe_applied = !e.is_connect() && !e.is_builder();
    TokenError {
        kind: TokenErrorKind::Transient { maybe_applied },
        status: None,
        error: if e.is_timeout() {
            "timeout".into()
        } else {
            "transport".into()
        },
        message: crate::http::transport_error_text(&e),
    }
}

/// A JSON body that carries an error (`error`, `reason` or a numeric `code`), whatever the
/// status said.
fn names_an_error(body: &[u8]) -> bool {
    serde_json::from_slice::<TokenErrorBody>(body)
        .is_ok_and(|b| b.error.is_some() || b.reason.is_some() || b.code.is_some())
}

/// Sorts a non-success token endpoint answer into what to do about it.
fn classify(status: u16, body: &[u8]) -> TokenError {
    let parsed: Option<TokenErrorBody> = serde_json::from_slice(body).ok();
    let (error, message, code) = match &parsed {
        Some(b) => (
            b.error.clone().unwrap_or_default(),
            b.reason
                .clone()
                .or_else(|| b.error_description.clone())
                .or_else(|| b.message.clone())
                .unwrap_or_default(),
            b.code,
        ),
        None => (String::new(), String::new(), None),
    };
    let kind = if status == 429 || status >= 500 {
        TokenErrorKind::Transient {
            maybe_applied: status >= 500,
        }
    } else if (300..400).contains(&status) {
        TokenErrorKind::Rejected
    } else if parsed.is_none() || (error.is_empty() && code.is_none()) {
        if (200..300).contains(&status) {
            TokenErrorKind::Rejected
        } else {
            TokenErrorKind::Transient {
                maybe_applied: true,
            }
        }
    } else if error == "invalid_grant"
        || matches!(code, Some(4733 | 4734 | 4735 | 4741))
        || (error == "invalid_request" && message.to_ascii_lowercase().contains("invalid token"))
    {
        TokenErrorKind::InvalidGrant
    } else if error == "invalid_client" || matches!(code, Some(4702 | 4704)) {
        TokenErrorKind::InvalidClient
    } else {
        TokenErrorKind::Rejected
    };
    let error = if error.is_empty() {
        match (&kind, parsed.is_some()) {
            (_, false) if (200..300).contains(&status) => "unreadable".to_owned(),
            (_, false) => format!("http_{status}"),
            _ => code
                .map(|c| format!("zoom_{c}"))
                .unwrap_or_else(|| format!("http_{status}")),
        }
    } else {
        error
    };
    let message = if (300..400).contains(&status) {
        format!("refused to follow a {status} redirect from the token endpoint")
    } else if message.is_empty() {
        format!("HTTP {status}")
    } else {
        message
    };
    TokenError {
        kind,
        status: Some(status),
        error,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_grant_in_its_current_and_older_shapes() {
        let now = classify(
            400,
            br#"{"reason":"Invalid Token!","error":"invalid_grant"}"#,
        );
        assert_eq!(now.kind, TokenErrorKind::InvalidGrant);
        let older = classify(
            401,
            br#"{"reason":"Invalid Token!","error":"invalid_request"}"#,
        );
        assert_eq!(older.kind, TokenErrorKind::InvalidGrant);
        let superseded = classify(400, br#"{"code":4741,"message":"Token has been revoked"}"#);
        assert_eq!(superseded.kind, TokenErrorKind::InvalidGrant);
    }

    #[test]
    fn a_revoke_succeeds_only_without_an_error_in_its_body() {
        assert!(!names_an_error(br#"{"status":"success"}"#));
        assert!(!names_an_error(b""));
        assert!(names_an_error(
            br#"{"reason":"Invalid Token!","error":"invalid_request"}"#
        ));
        assert!(names_an_error(
            br#"{"code":4700,"message":"Invalid token"}"#
        ));
    }

    #[test]
    fn server_errors_and_garbage_are_transient_not_dead() {
        assert!(matches!(
            classify(502, b"<html>bad gateway</html>").kind,
            TokenErrorKind::Transient { .. }
        ));
        assert!(matches!(
            classify(400, b"<xml/>").kind,
            TokenErrorKind::Transient { .. }
        ));
        assert!(matches!(
            classify(429, b"{}").kind,
            TokenErrorKind::Transient { .. }
        ));
    }

    #[test]
    fn redirects_and_client_errors_are_not_retried() {
        assert_eq!(classify(302, b"").kind, TokenErrorKind::Rejected);
        assert_eq!(
            classify(
                401,
                br#"{"error":"invalid_client","reason":"Invalid client_id or client_secret"}"#
            )
            .kind,
            TokenErrorKind::InvalidClient
        );
    }

    #[test]
    fn token_response_debug_hides_tokens() {
        let response: TokenResponse = serde_json::from_str(
            r#"{"access_token":"AT-secret","refresh_token":"RT-secret","expires_in":3599,"scope":"meeting:write","token_type":"bearer","api_url":"https://api.zoom.us"}"#,
        )
        .unwrap();
        let debug = format!("{response:?}");
        assert!(
            !debug.contains("AT-secret") && !debug.contains("RT-secret"),
            "{debug}"
        );
    }
}
