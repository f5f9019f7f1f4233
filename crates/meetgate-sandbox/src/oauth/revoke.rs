//! `POST /oauth/revoke`: ends the whole grant an access token belongs to and tells the app.

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
        // Zoom revokes with the access token. Stricter than RFC 7009 (which takes refresh
        // tokens too and says 200 for unknown ones): a refresh token, or an unknown, foreign,
        // expired or already revoked token, is an error, so that a client revoking with the
        // wrong token finds out here rather than leave the grant alive at Zoom.
        let grant = inner
            .oauth
            .grant_of_access_token(token, now)
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
