//! Which scopes let a grant do what. Zoom has two scope vocabularies (classic and granular, the
//! latter for apps created since April 2024) and two levels (a user's own data versus any user of
//! the account, the `:admin` scopes). Both vocabularies are accepted everywhere.

/// The calls meetgate makes on a user's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateMeeting,
    ListMeetings,
    GetMeeting,
    UpdateMeeting,
    DeleteMeeting,
    GetUser,
    GetZak,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Self::CreateMeeting,
        Self::ListMeetings,
        Self::GetMeeting,
        Self::UpdateMeeting,
        Self::DeleteMeeting,
        Self::GetUser,
        Self::GetZak,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateMeeting => "create_meeting",
            Self::ListMeetings => "list_meetings",
            Self::GetMeeting => "get_meeting",
            Self::UpdateMeeting => "update_meeting",
            Self::DeleteMeeting => "delete_meeting",
            Self::GetUser => "get_user",
            Self::GetZak => "get_zak",
        }
    }

    /// The Zoom endpoint, for messages.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::CreateMeeting => "POST /users/{userId}/meetings",
            Self::ListMeetings => "GET /users/{userId}/meetings",
            Self::GetMeeting => "GET /meetings/{meetingId}",
            Self::UpdateMeeting => "PATCH /meetings/{meetingId}",
            Self::DeleteMeeting => "DELETE /meetings/{meetingId}",
            Self::GetUser => "GET /users/{userId}",
            Self::GetZak => "GET /users/{userId}/token?type=zak",
        }
    }
}

/// Whose data a call touches: the token owner's own (`me`), or any user of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Own,
    Account,
}

/// The scopes that allow an operation at a level: any one of them is enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRule {
    pub classic: &'static str,
    pub granular: &'static str,
}

impl ScopeRule {
    pub fn names(&self) -> [&'static str; 2] {
        [self.classic, self.granular]
    }
}

/// The user-level rule for an operation; [`rule`] adds `:admin` for the account level.
fn own_rule(op: Operation) -> (&'static str, &'static str) {
    match op {
        Operation::CreateMeeting => ("meeting:write", "meeting:write:meeting"),
        Operation::ListMeetings => ("meeting:read", "meeting:read:list_meetings"),
        Operation::GetMeeting => ("meeting:read", "meeting:read:meeting"),
        Operation::UpdateMeeting => ("meeting:write", "meeting:update:meeting"),
        Operation::DeleteMeeting => ("meeting:write", "meeting:delete:meeting"),
        Operation::GetUser => ("user:read", "user:read:user"),
        Operation::GetZak => ("user:read", "user:read:token"),
    }
}

/// The scopes Zoom wants for `op` at `level`.
pub fn rule(op: Operation, level: Level) -> ScopeRule {
    let (classic, granular) = own_rule(op);
    match level {
        Level::Own => ScopeRule { classic, granular },
        Level::Account => ScopeRule {
            classic: admin_of(classic),
            granular: admin_of(granular),
        },
    }
}

fn admin_of(scope: &'static str) -> &'static str {
    match scope {
        "meeting:write" => "meeting:write:admin",
        "meeting:read" => "meeting:read:admin",
        "user:read" => "user:read:admin",
        "meeting:write:meeting" => "meeting:write:meeting:admin",
        "meeting:read:list_meetings" => "meeting:read:list_meetings:admin",
        "meeting:read:meeting" => "meeting:read:meeting:admin",
        "meeting:update:meeting" => "meeting:update:meeting:admin",
        "meeting:delete:meeting" => "meeting:delete:meeting:admin",
        "user:read:user" => "user:read:user:admin",
        "user:read:token" => "user:read:token:admin",
        other => other,
    }
}

/// Splits Zoom's space-separated `scope` string.
pub fn parse(scopes: &str) -> Vec<&str> {
    scopes.split_whitespace().collect()
}

/// Whether `granted` allows `op` at `level`. An account-level scope also covers the token
/// owner's own data; `user_info:read` covers `GET /users/me`.
pub fn allows(granted: &[&str], op: Operation, level: Level) -> bool {
    let has = |s: &str| granted.contains(&s);
    let at_level = |lvl| {
        let r = rule(op, lvl);
        has(r.classic) || has(r.granular)
    };
    match level {
        Level::Account => at_level(Level::Account),
        Level::Own => {
            at_level(Level::Own)
                || at_level(Level::Account)
                || (op == Operation::GetUser && has("user_info:read"))
        }
    }
}

/// Whether the grant uses granular scopes (apps created since April 2024), to phrase fixes in
/// the vocabulary the developer sees in Zoom's Marketplace.
pub fn is_granular(granted: &[&str]) -> bool {
    granted
        .iter()
        .any(|s| s.split(':').count() >= 3 && !s.ends_with(":admin") || s.split(':').count() >= 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_user_scope_allows_own_but_not_account() {
        let granted = parse("meeting:write user:read");
        assert!(allows(&granted, Operation::CreateMeeting, Level::Own));
        assert!(!allows(&granted, Operation::CreateMeeting, Level::Account));
        assert_eq!(
            rule(Operation::CreateMeeting, Level::Account).classic,
            "meeting:write:admin"
        );
    }

    #[test]
    fn granular_scopes_are_per_operation() {
        let granted = parse("meeting:write:meeting meeting:read:meeting");
        assert!(allows(&granted, Operation::CreateMeeting, Level::Own));
        assert!(allows(&granted, Operation::GetMeeting, Level::Own));
        assert!(!allows(&granted, Operation::UpdateMeeting, Level::Own));
        assert!(!allows(&granted, Operation::DeleteMeeting, Level::Own));
        assert!(is_granular(&granted));
        assert!(!is_granular(&parse("meeting:write:admin user:read:admin")));
    }

    #[test]
    fn admin_scopes_cover_the_owner_too() {
        let granted = parse("meeting:write:meeting:admin");
        assert!(allows(&granted, Operation::CreateMeeting, Level::Own));
        assert!(allows(&granted, Operation::CreateMeeting, Level::Account));
    }
}
