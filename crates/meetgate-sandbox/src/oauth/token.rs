//! `POST /oauth/token`: authorization_code, refresh_token and account_credentials grants.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::client_auth;
use super::params::Params;
use super::store::{Issued, NewGrant, TokenError};
use super::{no_store, token_error_response};
use crate::state::{Inner, SandboxState};
use crate::world::AppType;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    expires_in: i64,
    scope: String,
    api_url: String,
}

struct Success {
    issued: Issued,
    /// Set for a successful refresh, for the counters.
    refreshed: Option<String>,
}

pub async fn token(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    // Zoom's own docs put the grant parameters in the query string; the form body is standard.
    let mut params = Params::parse(query.unwrap_or_default().as_bytes());
    params.extend(&body);
    let grant_type = params.get("grant_type").unwrap_or("(missing)").to_owned();
    *state
        .counters()
        .token_requests
        .entry(grant_type.clone())
        .or_insert(0) += 1;
    let now = state.now();
    let result = {
        let mut inner = state.inner();
        exchange(&state, &mut inner, &headers, &params, &grant_type, now)
    };
    match result {
        Ok(success) => {
            if let Some(key) = success.refreshed {
                *state.counters().refreshes.entry(key).or_insert(0) += 1;
            }
            let mut resp = Json(TokenResponse {
                access_token: success.issued.access_token,
                token_type: "bearer",
                refresh_token: success.issued.refresh_token,
                expires_in: success.issued.expires_in,
                scope: success.issued.scope,
                api_url: state.api_url(),
            })
            .into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => {
            if e.error == "invalid_grant" {
                let mut c = state.counters();
                *c.invalid_grant_by_grant_type
                    .entry(grant_type.clone())
                    .or_insert(0) += 1;
                if let Some(key) = &e.grant_key {
                    *c.invalid_grant_by_grant.entry(key.clone()).or_insert(0) += 1;
                }
            }
            token_error_response(&e)
        }
    }
}

fn exchange(
    state: &SandboxState,
    inner: &mut Inner,
    headers: &HeaderMap,
    params: &Params,
    grant_type: &str,
    now: time::OffsetDateTime,
) -> Result<Success, TokenError> {
    let app = client_auth::authenticate(inner, headers)?;
    if let Some(dup) = &params.duplicated {
        return Err(TokenError::invalid_request(format!(
            "Parameter {dup} is repeated"
        )));
    }
    let ttl = state.access_token_ttl;
    match grant_type {
        "authorization_code" => {
            if app.app_type == AppType::ServerToServer {
                return Err(unauthorized_client());
            }
            let code = params
                .get("code")
                .ok_or_else(|| TokenError::invalid_request("Invalid authorization code"))?;
            let user_id = inner.oauth.redeem_code(
                code,
                &app.client_id,
                params.get("redirect_uri"),
                params.get("code_verifier"),
                now,
            )?;
            let user = inner
                .users
                .get(&user_id)
                .map(|r| r.user.clone())
                .ok_or_else(|| TokenError::invalid_grant("The user no longer exists", None))?;
            let grant = inner.oauth.open_grant(
                NewGrant {
                    client_id: app.client_id.clone(),
                    user_id: Some(user.id.clone()),
                    account_id: user.account_id.clone(),
                    app_type: app.app_type,
                    granular: app.granular,
                    scopes: app.scopes.clone(),
                },
                now,
            );
            inner.oauth.attach_code_grant(code, grant);
            Ok(Success {
                issued: inner.oauth.issue(grant, true, ttl, now),
                refreshed: None,
            })
        }
        "refresh_token" => {
            if app.app_type == AppType::ServerToServer {
                return Err(unauthorized_client());
            }
            let token = params
                .get("refresh_token")
                .ok_or_else(|| TokenError::invalid_request("refresh_token is required"))?;
            let (issued, key) = inner.oauth.refresh(token, &app.client_id, ttl, now)?;
            Ok(Success {
                issued,
                refreshed: Some(key),
            })
        }
        "account_credentials" => {
            if app.app_type != AppType::ServerToServer {
                return Err(unauthorized_client());
            }
            let account_id = params
                .get("account_id")
                .ok_or_else(|| TokenError::invalid_request("account_id is required"))?;
            if account_id != app.owner_account_id {
                return Err(TokenError::invalid_request(format!(
                    "Invalid account_id: {account_id}"
                )));
            }
            let grant = inner.oauth.s2s_grant(
                NewGrant {
                    client_id: app.client_id.clone(),
                    user_id: None,
                    account_id: app.owner_account_id.clone(),
                    app_type: app.app_type,
                    granular: app.granular,
                    scopes: app.scopes.clone(),
                },
                now,
            );
            Ok(Success {
                issued: inner.oauth.issue(grant, false, ttl, now),
                refreshed: None,
            })
        }
        "(missing)" => Err(TokenError::invalid_request("grant_type is required")),
        _ => Err(TokenError {
            status: 400,
            error: "unsupported_grant_type",
            reason: "Unsupported grant type".into(),
            grant_key: None,
        }),
    }
}

/// Zoom's 4705: the grant type is not one this app type may use.
fn unauthorized_client() -> TokenError {
    TokenError {
        status: 400,
        error: "unsupported_grant_type",
        reason: "The app type does not allow this grant type".into(),
        grant_key: None,
    }
}
