//! The simulated Zoom world: accounts, users and Marketplace apps.
//!
//! The same types describe the seed (TOML or the control API) and the live state.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("seed is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("invalid world: {0}")]
    Invalid(String),
}

/// Zoom plans decide the per-second rate limits (free / pro / business and above).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Pro,
    Business,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    /// Zoom's numeric account number; derived from the id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<i64>,
}

/// Owners and admins may install admin-managed apps; members may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    #[default]
    Member,
}

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    pub fn zoom_name(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }

    pub fn zoom_id(self) -> &'static str {
        match self {
            Role::Owner => "0",
            Role::Admin => "1",
            Role::Member => "2",
        }
    }
}

fn default_user_type() -> u8 {
    2
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub email: String,
    /// What the simulated user types on the consent and account pages.
    pub password: Secret,
    pub first_name: String,
    pub last_name: String,
    pub account_id: String,
    /// Zoom user type: 1 basic, 2 licensed, 99 none.
    #[serde(rename = "type", default = "default_user_type")]
    pub user_type: u8,
    #[serde(default)]
    pub role: Role,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Personal meeting id; derived from the id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmi: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    UserManaged,
    AdminManaged,
    ServerToServer,
}

impl AppType {
    pub fn label(self) -> &'static str {
        match self {
            AppType::UserManaged => "user-managed",
            AppType::AdminManaged => "admin-managed",
            AppType::ServerToServer => "server-to-server",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub client_id: String,
    pub client_secret: Secret,
    pub name: String,
    #[serde(rename = "type")]
    pub app_type: AppType,
    /// Classic (`meeting:write`) or granular (`meeting:write:meeting`) scopes, never mixed.
    pub scopes: Vec<String>,
    /// Whether the scopes are granular; decides how missing-scope errors name scopes.
    #[serde(default)]
    pub granular: bool,
    /// Exact redirect URIs. `http://127.0.0.1:*/path` (port wildcard) is a sandbox convenience.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The account that created the app; a server-to-server app only works for this account.
    pub owner_account_id: String,
    /// Zoom's per-app "Secret Token" that signs webhooks.
    pub webhook_secret_token: Secret,
    /// Event notification endpoint. A seeded URL counts as already validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Url>,
    /// Subscribed events; empty means all events the sandbox can send.
    #[serde(default)]
    pub webhook_events: Vec<String>,
}

impl App {
    pub fn subscribes_to(&self, event: &str) -> bool {
        self.webhook_events.is_empty() || self.webhook_events.iter().any(|e| e == event)
    }

    /// Exact match, except that a `:*` port in a registered URI matches any port.
    pub fn allows_redirect(&self, candidate: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|pattern| redirect_matches(pattern, candidate))
    }
}

pub(crate) fn redirect_matches(pattern: &str, candidate: &str) -> bool {
    let Some((prefix, suffix)) = pattern.split_once(":*") else {
        return pattern == candidate;
    };
    let Some(rest) = candidate.strip_prefix(prefix) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(':') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (1..=5).contains(&digits) && &rest[digits..] == suffix
}

/// The whole simulated world as seeded.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub apps: Vec<App>,
}

pub const RIVERSIDE_ACCOUNT_ID: &str = "rVd3kXq9T8ymQ1ZbLc4wHA";
pub const OTHER_ACCOUNT_ID: &str = "oP7mWn2sRf5uJ0dXa8eKtg";
/// Every seeded user signs in with this password.
pub const SEED_PASSWORD: &str = "sandbox";

impl World {
    pub fn from_toml_str(text: &str) -> Result<World, WorldError> {
        let world: World = toml::from_str(text)?;
        world.validate()?;
        Ok(world)
    }

    /// Checks references and the rules Zoom enforces when apps and users are created.
    pub fn validate(&self) -> Result<(), WorldError> {
        let mut ids = HashSet::new();
        for a in &self.accounts {
            if !ids.insert(a.id.as_str()) {
                return Err(invalid(format!("duplicate account id {}", a.id)));
            }
        }
        let mut user_ids = HashSet::new();
        let mut emails = HashSet::new();
        for u in &self.users {
            validate_user(u, |id| ids.contains(id))?;
            if !user_ids.insert(u.id.as_str()) {
                return Err(invalid(format!("duplicate user id {}", u.id)));
            }
            if !emails.insert(u.email.to_ascii_lowercase()) {
                return Err(invalid(format!("duplicate user email {}", u.email)));
            }
        }
        let mut clients = HashSet::new();
        for app in &self.apps {
            validate_app(app, |id| ids.contains(id))?;
            if !clients.insert(app.client_id.as_str()) {
                return Err(invalid(format!("duplicate client_id {}", app.client_id)));
            }
        }
        Ok(())
    }

    /// The documented default world (see docs/sandbox.md and seed/default-world.toml).
    pub fn default_seed() -> World {
        let pw = || Secret::new(SEED_PASSWORD);
        let user = |id: &str, email: &str, first: &str, last: &str, account: &str, role, ty| User {
            id: id.to_owned(),
            email: email.to_owned(),
            password: pw(),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            account_id: account.to_owned(),
            user_type: ty,
            role,
            timezone: if account == RIVERSIDE_ACCOUNT_ID {
                "America/New_York".to_owned()
            } else {
                "Europe/London".to_owned()
            },
            pmi: None,
        };
        let local = || {
            vec![
                "http://127.0.0.1:*/oauth/callback".to_owned(),
                "http://localhost:*/oauth/callback".to_owned(),
            ]
        };
        let strs = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        World {
            accounts: vec![
                Account {
                    id: RIVERSIDE_ACCOUNT_ID.to_owned(),
                    name: "Riverside Clinic".to_owned(),
                    plan: Plan::Pro,
                    account_number: Some(7_123_456_001),
                },
                Account {
                    id: OTHER_ACCOUNT_ID.to_owned(),
                    name: "Other Practice".to_owned(),
                    plan: Plan::Business,
                    account_number: Some(7_123_456_002),
                },
            ],
            users: vec![
                user(
                    "KDcuGIm1QgePTO8WbOqwIQ",
                    "dr.ada@riverside.example",
                    "Ada",
                    "Lovelace",
                    RIVERSIDE_ACCOUNT_ID,
                    Role::Owner,
                    2,
                ),
                user(
                    "Ux8bRz3YQk2Wf7nLpA5s0g",
                    "dr.grace@riverside.example",
                    "Grace",
                    "Hopper",
                    RIVERSIDE_ACCOUNT_ID,
                    Role::Member,
                    2,
                ),
                user(
                    "Hm4TqZ9cS1eVw6KjYb2NrA",
                    "nurse.alan@riverside.example",
                    "Alan",
                    "Turing",
                    RIVERSIDE_ACCOUNT_ID,
                    Role::Member,
                    1,
                ),
                user(
                    "Pq1LsXe8TgWk3Ry5Zn7VbQ",
                    "dr.barbara@otherpractice.example",
                    "Barbara",
                    "Liskov",
                    OTHER_ACCOUNT_ID,
                    Role::Owner,
                    2,
                ),
                user(
                    "Jf6NcYa2Rw9Hd4Mu0Tz8Lw",
                    "dr.edsger@otherpractice.example",
                    "Edsger",
                    "Dijkstra",
                    OTHER_ACCOUNT_ID,
                    Role::Member,
                    2,
                ),
            ],
            apps: vec![
                App {
                    client_id: "sbxUserManagedClient01".to_owned(),
                    client_secret: Secret::new("sbx-user-managed-secret-0001"),
                    name: "meetgate (user-managed)".to_owned(),
                    app_type: AppType::UserManaged,
                    scopes: strs(&[
                        "meeting:read",
                        "meeting:write",
                        "user:read",
                        "user_info:read",
                    ]),
                    granular: false,
                    redirect_uris: local(),
                    owner_account_id: RIVERSIDE_ACCOUNT_ID.to_owned(),
                    webhook_secret_token: Secret::new("sbx-user-managed-webhook-secret"),
                    webhook_url: None,
                    webhook_events: Vec::new(),
                },
                App {
                    client_id: "sbxAdminManagedClient01".to_owned(),
                    client_secret: Secret::new("sbx-admin-managed-secret-0001"),
                    name: "meetgate (admin-managed)".to_owned(),
                    app_type: AppType::AdminManaged,
                    scopes: strs(&[
                        "meeting:read:admin",
                        "meeting:write:admin",
                        "user:read:admin",
                    ]),
                    granular: false,
                    redirect_uris: local(),
                    owner_account_id: RIVERSIDE_ACCOUNT_ID.to_owned(),
                    webhook_secret_token: Secret::new("sbx-admin-managed-webhook-secret"),
                    webhook_url: None,
                    webhook_events: Vec::new(),
                },
                App {
                    client_id: "sbxServerToServerClient01".to_owned(),
                    client_secret: Secret::new("sbx-server-to-server-secret-0001"),
                    name: "meetgate (server-to-server)".to_owned(),
                    app_type: AppType::ServerToServer,
                    scopes: strs(&[
                        "meeting:read:admin",
                        "meeting:write:admin",
                        "user:read:admin",
                    ]),
                    granular: false,
                    redirect_uris: Vec::new(),
                    owner_account_id: RIVERSIDE_ACCOUNT_ID.to_owned(),
                    webhook_secret_token: Secret::new("sbx-server-to-server-webhook-secret"),
                    webhook_url: None,
                    webhook_events: Vec::new(),
                },
                App {
                    client_id: "sbxGranularUserClient01".to_owned(),
                    client_secret: Secret::new("sbx-granular-user-secret-0001"),
                    name: "meetgate (granular scopes)".to_owned(),
                    app_type: AppType::UserManaged,
                    scopes: strs(&[
                        "meeting:read:meeting",
                        "meeting:read:list_meetings",
                        "meeting:write:meeting",
                        "meeting:update:meeting",
                        "meeting:delete:meeting",
                        "user:read:user",
                        "user:read:token",
                    ]),
                    granular: true,
                    redirect_uris: local(),
                    owner_account_id: RIVERSIDE_ACCOUNT_ID.to_owned(),
                    webhook_secret_token: Secret::new("sbx-granular-user-webhook-secret"),
                    webhook_url: None,
                    webhook_events: Vec::new(),
                },
                // What every server-to-server app made today is: granular, admin level.
                App {
                    client_id: "sbxGranularServerToServerClient01".to_owned(),
                    client_secret: Secret::new("sbx-granular-s2s-secret-0001"),
                    name: "meetgate (server-to-server, granular scopes)".to_owned(),
                    app_type: AppType::ServerToServer,
                    scopes: strs(&[
                        "meeting:read:meeting:admin",
                        "meeting:read:list_meetings:admin",
                        "meeting:write:meeting:admin",
                        "meeting:update:meeting:admin",
                        "meeting:delete:meeting:admin",
                        "user:read:user:admin",
                        "user:read:token:admin",
                    ]),
                    granular: true,
                    redirect_uris: Vec::new(),
                    owner_account_id: RIVERSIDE_ACCOUNT_ID.to_owned(),
                    webhook_secret_token: Secret::new("sbx-granular-s2s-webhook-secret"),
                    webhook_url: None,
                    webhook_events: Vec::new(),
                },
            ],
        }
    }
}

fn invalid(msg: String) -> WorldError {
    WorldError::Invalid(msg)
}

pub(crate) fn validate_user(
    u: &User,
    account_exists: impl Fn(&str) -> bool,
) -> Result<(), WorldError> {
    if u.id.is_empty() || u.id.contains(['@', '/', '?', '#']) || u.id == "me" {
        return Err(invalid(format!(
            "user id {:?} is not usable in a URL path",
            u.id
        )));
    }
    if !u.email.contains('@') {
        return Err(invalid(format!("user {} has no valid email", u.id)));
    }
    if !account_exists(&u.account_id) {
        return Err(invalid(format!(
            "user {} names unknown account {}",
            u.id, u.account_id
        )));
    }
    if ![1, 2, 99].contains(&u.user_type) {
        return Err(invalid(format!(
            "user {} has type {} (1, 2 or 99)",
            u.id, u.user_type
        )));
    }
    if jiff::tz::TimeZone::get(&u.timezone).is_err() {
        return Err(invalid(format!(
            "user {} has unknown timezone {}",
            u.id, u.timezone
        )));
    }
    Ok(())
}

pub(crate) fn validate_app(
    app: &App,
    account_exists: impl Fn(&str) -> bool,
) -> Result<(), WorldError> {
    if app.client_id.is_empty() || app.client_id.contains([':', '/', ' ']) {
        return Err(invalid(format!(
            "client_id {:?} is not valid",
            app.client_id
        )));
    }
    if !account_exists(&app.owner_account_id) {
        return Err(invalid(format!(
            "app {} names unknown owner account {}",
            app.client_id, app.owner_account_id
        )));
    }
    if app.scopes.is_empty() {
        return Err(invalid(format!("app {} has no scopes", app.client_id)));
    }
    for scope in &app.scopes {
        let admin = scope.ends_with(":admin");
        if app.app_type == AppType::UserManaged && admin {
            return Err(invalid(format!(
                "user-managed app {} cannot carry admin scope {scope}",
                app.client_id
            )));
        }
        if crate::scopes::is_granular(scope) != app.granular {
            return Err(invalid(format!(
                "app {} mixes classic and granular scopes ({scope}); set granular accordingly",
                app.client_id
            )));
        }
    }
    if app.app_type != AppType::ServerToServer && app.redirect_uris.is_empty() {
        return Err(invalid(format!(
            "app {} needs at least one redirect URI",
            app.client_id
        )));
    }
    for uri in &app.redirect_uris {
        let concrete = uri.replacen(":*", ":1", 1);
        if Url::parse(&concrete).is_err() {
            return Err(invalid(format!(
                "app {} has invalid redirect URI {uri}",
                app.client_id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_seed_is_valid() {
        World::default_seed().validate().expect("valid");
    }

    #[test]
    fn default_seed_matches_shipped_toml() {
        let shipped = World::from_toml_str(include_str!("../seed/default-world.toml"))
            .expect("shipped seed parses");
        assert_eq!(shipped, World::default_seed());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let world = World::default_seed();
        let shown = format!("{world:?}");
        for app in &world.apps {
            assert!(!shown.contains(app.client_secret.expose()));
            assert!(!shown.contains(app.webhook_secret_token.expose()));
        }
        assert!(!shown.contains(&format!("\"{SEED_PASSWORD}\"")));
        assert!(shown.contains("sbxUserManagedClient01"));
    }

    #[test]
    fn redirect_wildcard_only_covers_the_port() {
        let p = "http://127.0.0.1:*/oauth/callback";
        assert!(redirect_matches(p, "http://127.0.0.1:8080/oauth/callback"));
        assert!(!redirect_matches(
            p,
            "http://127.0.0.1:8080/oauth/callback/x"
        ));
        assert!(!redirect_matches(
            p,
            "http://127.0.0.1:8080/oauth/callback?x=1"
        ));
        assert!(!redirect_matches(
            p,
            "http://127.0.0.1.evil:80/oauth/callback"
        ));
        assert!(!redirect_matches(p, "http://127.0.0.1:/oauth/callback"));
        assert!(redirect_matches(
            "https://a.example/cb",
            "https://a.example/cb"
        ));
        assert!(!redirect_matches(
            "https://a.example/cb",
            "https://a.example/cb/"
        ));
    }

    #[test]
    fn user_managed_apps_cannot_have_admin_scopes() {
        let mut w = World::default_seed();
        w.apps[0].scopes.push("meeting:write:admin".to_owned());
        assert!(w.validate().is_err());
    }
}
