//! Which scopes each REST endpoint accepts, classic and granular, user and admin level.

use crate::endpoint::Endpoint;

/// Granular scopes are `service:action:data_claim[:admin]`; classic ones are
/// `service:action[:admin]` (a third segment, if any, is `admin`).
pub fn is_granular(scope: &str) -> bool {
    let parts: Vec<&str> = scope.split(':').collect();
    parts.len() >= 3 && parts[2] != "admin"
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The token names its own user with `me` (or acts on its own meetings).
    User,
    /// The token names a user by id or email, or acts on another user's meetings.
    Admin,
}

/// Scopes that satisfy `endpoint` at `level`, in either style. The first entry of each style
/// is the one Zoom names in its "does not contain scopes" message.
pub fn accepted(endpoint: Endpoint, level: Level, granular: bool) -> &'static [&'static str] {
    use Endpoint as E;
    use Level as L;
    match (endpoint, level, granular) {
        (E::MeetingsCreate, L::User, false) => &["meeting:write"],
        (E::MeetingsCreate, L::User, true) => &["meeting:write:meeting"],
        (E::MeetingsCreate, L::Admin, false) => &["meeting:write:admin"],
        (E::MeetingsCreate, L::Admin, true) => &["meeting:write:meeting:admin"],
        (E::MeetingsList, L::User, false) => &["meeting:read"],
        (E::MeetingsList, L::User, true) => &["meeting:read:list_meetings"],
        (E::MeetingsList, L::Admin, false) => &["meeting:read:admin"],
        (E::MeetingsList, L::Admin, true) => &["meeting:read:list_meetings:admin"],
        (E::MeetingsGet, L::User, false) => &["meeting:read"],
        (E::MeetingsGet, L::User, true) => &["meeting:read:meeting"],
        (E::MeetingsGet, L::Admin, false) => &["meeting:read:admin"],
        (E::MeetingsGet, L::Admin, true) => &["meeting:read:meeting:admin"],
        (E::MeetingsUpdate, L::User, false) => &["meeting:write"],
        (E::MeetingsUpdate, L::User, true) => &["meeting:update:meeting"],
        (E::MeetingsUpdate, L::Admin, false) => &["meeting:write:admin"],
        (E::MeetingsUpdate, L::Admin, true) => &["meeting:update:meeting:admin"],
        (E::MeetingsDelete, L::User, false) => &["meeting:write"],
        (E::MeetingsDelete, L::User, true) => &["meeting:delete:meeting"],
        (E::MeetingsDelete, L::Admin, false) => &["meeting:write:admin"],
        (E::MeetingsDelete, L::Admin, true) => &["meeting:delete:meeting:admin"],
        (E::UsersGet, L::User, false) => &["user:read", "user_info:read"],
        (E::UsersGet, L::User, true) => &["user:read:user"],
        (E::UsersGet, L::Admin, false) => &["user:read:admin"],
        (E::UsersGet, L::Admin, true) => &["user:read:user:admin"],
        (E::UsersToken, L::User, false) => &["user:read", "user_zak:read"],
        (E::UsersToken, L::User, true) => &["user:read:token", "user:read:zak"],
        (E::UsersToken, L::Admin, false) => &["user:read:admin", "user_zak:read:admin"],
        (E::UsersToken, L::Admin, true) => &["user:read:token:admin", "user:read:zak:admin"],
        _ => &[],
    }
}

/// Whether `held` satisfies the endpoint at `level`. Admin scopes also cover the user level.
pub fn satisfied(endpoint: Endpoint, level: Level, held: &[String]) -> bool {
    let mut wanted: Vec<&str> = Vec::new();
    for granular in [false, true] {
        wanted.extend_from_slice(accepted(endpoint, Level::Admin, granular));
        if level == Level::User {
            wanted.extend_from_slice(accepted(endpoint, Level::User, granular));
        }
    }
    held.iter().any(|h| wanted.contains(&h.as_str()))
}

/// `Invalid access token, does not contain scopes: [meeting:write:admin]`.
pub fn missing_message(endpoint: Endpoint, level: Level, granular: bool) -> String {
    let first = accepted(endpoint, level, granular)
        .first()
        .copied()
        .unwrap_or("unknown");
    format!("Invalid access token, does not contain scopes: [{first}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        assert!(!is_granular("meeting:write:admin"));
        assert!(!is_granular("meeting:write"));
        assert!(!is_granular("user_info:read"));
        assert!(is_granular("meeting:write:meeting"));
        assert!(is_granular("meeting:write:meeting:admin"));
    }

    #[test]
    fn user_scopes_do_not_cover_admin_level() {
        let held = vec!["meeting:write".to_owned()];
        assert!(satisfied(Endpoint::MeetingsCreate, Level::User, &held));
        assert!(!satisfied(Endpoint::MeetingsCreate, Level::Admin, &held));
        let admin = vec!["meeting:write:admin".to_owned()];
        assert!(satisfied(Endpoint::MeetingsCreate, Level::User, &admin));
        assert_eq!(
            missing_message(Endpoint::MeetingsCreate, Level::Admin, false),
            "Invalid access token, does not contain scopes: [meeting:write:admin]"
        );
    }
}
