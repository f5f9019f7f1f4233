//! Names for every Zoom-facing endpoint; counters, faults and rate limits key on them.

use axum::http::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    OauthAuthorize,
    OauthToken,
    OauthRevoke,
    UsersGet,
    UsersToken,
    MeetingsCreate,
    MeetingsList,
    MeetingsGet,
    MeetingsUpdate,
    MeetingsDelete,
    PageJoin,
    PageStart,
    AccountApps,
}

/// Zoom's per-second rate-limit categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    Light,
    Medium,
    Heavy,
}

impl Category {
    pub fn label(self) -> &'static str {
        match self {
            Category::Light => "Light",
            Category::Medium => "Medium",
            Category::Heavy => "Heavy",
        }
    }
}

pub const ALL: [Endpoint; 13] = [
    Endpoint::OauthAuthorize,
    Endpoint::OauthToken,
    Endpoint::OauthRevoke,
    Endpoint::UsersGet,
    Endpoint::UsersToken,
    Endpoint::MeetingsCreate,
    Endpoint::MeetingsList,
    Endpoint::MeetingsGet,
    Endpoint::MeetingsUpdate,
    Endpoint::MeetingsDelete,
    Endpoint::PageJoin,
    Endpoint::PageStart,
    Endpoint::AccountApps,
];

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::OauthAuthorize => "oauth.authorize",
            Endpoint::OauthToken => "oauth.token",
            Endpoint::OauthRevoke => "oauth.revoke",
            Endpoint::UsersGet => "users.get",
            Endpoint::UsersToken => "users.token",
            Endpoint::MeetingsCreate => "meetings.create",
            Endpoint::MeetingsList => "meetings.list",
            Endpoint::MeetingsGet => "meetings.get",
            Endpoint::MeetingsUpdate => "meetings.update",
            Endpoint::MeetingsDelete => "meetings.delete",
            Endpoint::PageJoin => "pages.join",
            Endpoint::PageStart => "pages.start",
            Endpoint::AccountApps => "pages.account_apps",
        }
    }

    pub fn from_name(name: &str) -> Option<Endpoint> {
        ALL.into_iter().find(|e| e.name() == name)
    }

    /// Maps a routed request (method plus axum's matched path) to its endpoint.
    pub fn from_route(method: &Method, path: &str) -> Option<Endpoint> {
        let e = match (method.as_str(), path) {
            (_, "/oauth/authorize") => Endpoint::OauthAuthorize,
            ("POST", "/oauth/token") => Endpoint::OauthToken,
            ("POST", "/oauth/revoke") => Endpoint::OauthRevoke,
            ("GET", "/v2/users/{user_id}") => Endpoint::UsersGet,
            ("GET", "/v2/users/{user_id}/token") => Endpoint::UsersToken,
            ("POST", "/v2/users/{user_id}/meetings") => Endpoint::MeetingsCreate,
            ("GET", "/v2/users/{user_id}/meetings") => Endpoint::MeetingsList,
            ("GET", "/v2/meetings/{meeting_id}") => Endpoint::MeetingsGet,
            ("PATCH", "/v2/meetings/{meeting_id}") => Endpoint::MeetingsUpdate,
            ("DELETE", "/v2/meetings/{meeting_id}") => Endpoint::MeetingsDelete,
            (_, p) if p.starts_with("/j/") => Endpoint::PageJoin,
            (_, p) if p.starts_with("/s/") => Endpoint::PageStart,
            (_, p) if p.starts_with("/account/") => Endpoint::AccountApps,
            _ => return None,
        };
        Some(e)
    }

    pub fn category(self) -> Option<Category> {
        match self {
            Endpoint::UsersGet
            | Endpoint::UsersToken
            | Endpoint::MeetingsGet
            | Endpoint::MeetingsUpdate
            | Endpoint::MeetingsDelete => Some(Category::Light),
            Endpoint::MeetingsCreate | Endpoint::MeetingsList => Some(Category::Medium),
            _ => None,
        }
    }

    pub fn is_oauth(self) -> bool {
        matches!(
            self,
            Endpoint::OauthAuthorize | Endpoint::OauthToken | Endpoint::OauthRevoke
        )
    }
}
