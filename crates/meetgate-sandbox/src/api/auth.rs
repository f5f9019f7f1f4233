//! Who is calling, and what Zoom lets that token do.

use axum::http::{HeaderMap, header};

use super::error::ApiError;
use crate::endpoint::Endpoint;
use crate::meetings::Meeting;
use crate::oauth::store::{AccessError, Grant};
use crate::scopes::{self, Level};
use crate::state::{Inner, UserRecord};
use crate::world::{Account, AppType};

/// The holder of a valid access token.
pub struct Caller {
    pub grant: Grant,
    pub account: Account,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
    query: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<Caller, ApiError> {
    if let Some(q) = query
        && url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
    {
        return Err(ApiError::token_in_query());
    }
    let token = bearer(headers).ok_or_else(ApiError::invalid_token)?;
    let grant = inner
        .oauth
        .access(token, now)
        .map_err(|e| match e {
            AccessError::Invalid => ApiError::invalid_token(),
            AccessError::Expired => ApiError::expired_token(),
        })?
        .clone();
    let account = inner
        .accounts
        .get(&grant.account_id)
        .cloned()
        .ok_or_else(ApiError::invalid_token)?;
    Ok(Caller { grant, account })
}

impl Caller {
    fn require(&self, endpoint: Endpoint, level: Level) -> Result<(), ApiError> {
        if scopes::satisfied(endpoint, level, &self.grant.scopes) {
            Ok(())
        } else {
            Err(ApiError::missing_scope(scopes::missing_message(
                endpoint,
                level,
                self.grant.granular,
            )))
        }
    }

    /// The level this token works at when it does not act on its own user.
    fn baseline(&self) -> Level {
        match self.grant.app_type {
            AppType::UserManaged => Level::User,
            AppType::AdminManaged | AppType::ServerToServer => Level::Admin,
        }
    }

    /// Resolves `{userId}` of a users endpoint: `me`, an id or an email.
    ///
    /// A user-level token must say `me`; naming any user, even itself, needs the `:admin`
    /// scopes. Account-level tokens reach users of their own account only.
    pub fn resolve_user<'a>(
        &self,
        inner: &'a Inner,
        endpoint: Endpoint,
        path_user: &str,
    ) -> Result<&'a UserRecord, ApiError> {
        if path_user == "me" {
            self.require(endpoint, Level::User)?;
            // Server-to-server tokens belong to no user: they must name one.
            let id = self.grant.user_id.as_deref().unwrap_or_default();
            return inner
                .users
                .get(id)
                .ok_or_else(|| ApiError::user_not_found("me"));
        }
        self.require(endpoint, Level::Admin)?;
        let rec = inner
            .user_by_ref(path_user)
            .ok_or_else(|| ApiError::user_not_found(path_user))?;
        if rec.user.account_id != self.grant.account_id {
            return Err(ApiError::user_not_in_account(&self.grant.account_id));
        }
        Ok(rec)
    }

    /// Checks a `/meetings/{meetingId}` call. A meeting that exists but is not this token's to
    /// act on is refused as Zoom does (400): 3003 to a change or deletion by another user of the
    /// same account ("not the meeting host"), 3000 otherwise; only a missing one is 3001.
    pub fn meeting_access(
        &self,
        endpoint: Endpoint,
        meeting: Option<&Meeting>,
        meeting_id: &str,
    ) -> Result<(), ApiError> {
        let Some(m) = meeting else {
            self.require(endpoint, self.baseline())?;
            return Err(ApiError::meeting_not_found(meeting_id));
        };
        let own = self.grant.user_id.as_deref() == Some(m.host_id.as_str());
        match self.grant.app_type {
            AppType::UserManaged => {
                self.require(endpoint, Level::User)?;
                if !own {
                    return Err(not_yours(endpoint, m.account_id == self.grant.account_id));
                }
            }
            AppType::AdminManaged | AppType::ServerToServer => {
                self.require(endpoint, if own { Level::User } else { Level::Admin })?;
                if m.account_id != self.grant.account_id {
                    return Err(not_yours(endpoint, false));
                }
            }
        }
        Ok(())
    }
}

/// Zoom's answer to a meeting that exists but is not the caller's.
fn not_yours(endpoint: Endpoint, same_account: bool) -> ApiError {
    match endpoint {
        Endpoint::MeetingsUpdate | Endpoint::MeetingsDelete if same_account => {
            ApiError::bad_request(3003, "You are not the meeting host.")
        }
        _ => ApiError::bad_request(3000, "Cannot access meeting information."),
    }
}
