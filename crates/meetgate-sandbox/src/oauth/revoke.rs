//! `POST /oauth/revoke`: ends the whole grant the token belongs to and tells the app.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::client_auth;
use super::params::Params;
use super::store::{GrantState, TokenError};
use super::{no_store, token_error_response};
use crate::state::SandboxState;
use crate::webhooks;

pub async fn revoke(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = Params::parse(query.unwrap_or_default().as_bytes());
    params.extend(&body);
    let now = state.now();
    let outgoing = {
        let mut inner = state.inner();
        let app = match client_auth::authenticate(&inner, &headers) {
            Ok(app) => app,
            Err(e) => return token_error_response(&e),
        };
        let Some(token) = params.get("token") else {
            return token_error_response(&TokenError::invalid_request("token is required"));
        };
        // Stricter than RFC 7009's "200 for unknown tokens": Zoom answers an unknown, foreign,
        // expired, already revoked or rotated-out token with an error, and clients must cope
        // with that.
        let grant = inner
            .oauth
            .grant_of_current_token(token, now)
            .filter(|g| g.client_id == app.client_id && g.state == GrantState::Live)
            .cloned();
        let Some(grant) = grant else {
            return token_error_response(&TokenError::invalid_request("Invalid Token!"));
        };
        inner.oauth.end_grant(grant.id, GrantState::Revoked);
        // Server-to-server grants have no user who could have "removed the app".
        grant.user_id.as_deref().and_then(|user_id| {
            webhooks::deauthorized(&inner, &app, &grant.account_id, user_id, now)
        })
    };
    if let Some(out) = outgoing {
        state.dispatch(vec![out]);
    }
    let mut resp = Json(serde_json::json!({"status": "success"})).into_response();
    no_store(&mut resp);
    resp
}
