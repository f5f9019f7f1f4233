//! `GET /v2/users/{userId}` and `GET /v2/users/{userId}/token`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::Duration;

use super::error::{ApiError, FieldError};
use super::{call, param, query_params};
use crate::endpoint::Endpoint;
use crate::state::{SandboxState, UserRecord};
use crate::timefmt;
use crate::world::Account;

/// A stable 10-digit personal meeting id derived from the user id.
pub fn pmi_of(user: &crate::world::User) -> i64 {
    user.pmi.unwrap_or_else(|| {
        let d = Sha256::digest(user.id.as_bytes());
        let n = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        i64::try_from(1_000_000_000 + n % 9_000_000_000).unwrap_or(1_000_000_000)
    })
}

fn account_number(account: &Account) -> i64 {
    account.account_number.unwrap_or_else(|| {
        let d = Sha256::digest(account.id.as_bytes());
        i64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 900_000_000) + 100_000_000
    })
}

fn render_user(rec: &UserRecord, account: Option<&Account>, base: &url::Url) -> Value {
    let u = &rec.user;
    let pmi = pmi_of(u);
    let created = timefmt::format(rec.created_at);
    json!({
        "id": u.id,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "display_name": format!("{} {}", u.first_name, u.last_name).trim(),
        "email": u.email,
        "type": u.user_type,
        "role_name": u.role.zoom_name(),
        "role_id": u.role.zoom_id(),
        "pmi": pmi,
        "use_pmi": false,
        "personal_meeting_url": format!("{base}j/{pmi}"),
        "timezone": u.timezone,
        "verified": 1,
        "dept": "",
        "created_at": created,
        "user_created_at": created,
        "last_login_time": created,
        "pic_url": "",
        "language": "en-US",
        "phone_number": "",
        "status": "active",
        "account_id": u.account_id,
        "account_number": account.map(account_number).unwrap_or_default(),
        "cluster": "us06",
        "jid": format!("{}@xmpp.zoom.us", u.id.to_ascii_lowercase()),
        "group_ids": [],
        "im_group_ids": [],
        "login_types": [100],
    })
}

pub async fn get_user(
    State(state): State<SandboxState>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    call(
        &state,
        Endpoint::UsersGet,
        &headers,
        query.as_deref(),
        |c| {
            let rec = c.caller.resolve_user(c.inner, c.endpoint, &user_id)?;
            let account = c.inner.accounts.get(&rec.user.account_id);
            Ok(Json(render_user(rec, account, c.state.base_url())).into_response())
        },
    )
}

/// ZAKs live 2 hours unless `ttl` (seconds, at most a year) says otherwise.
pub async fn get_token(
    State(state): State<SandboxState>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = query_params(query.as_deref());
    call(
        &state,
        Endpoint::UsersToken,
        &headers,
        query.as_deref(),
        |c| {
            let user_id = c
                .caller
                .resolve_user(c.inner, c.endpoint, &user_id)?
                .user
                .id
                .clone();
            let mut errors = Vec::new();
            let kind = param(&params, "type").unwrap_or("token");
            if kind != "zak" && kind != "token" {
                errors.push(FieldError::new("type", "Invalid field."));
            }
            let ttl = match param(&params, "ttl") {
                None => None,
                Some(t) => match t.parse::<i64>() {
                    Ok(s) if (1..=31_536_000).contains(&s) => Some(Duration::seconds(s)),
                    _ => {
                        errors.push(FieldError::new("ttl", "Invalid field."));
                        None
                    }
                },
            };
            if !errors.is_empty() {
                return Err(ApiError::validation(errors));
            }
            let token = if kind == "zak" {
                let ttl = ttl.unwrap_or(crate::state::ZAK_TTL);
                c.inner.mint_zak(&user_id, ttl, c.now)
            } else {
                // The deprecated "token" type: an opaque value that starts nothing.
                crate::ids::token(64)
            };
            Ok(Json(json!({ "token": token })).into_response())
        },
    )
}
