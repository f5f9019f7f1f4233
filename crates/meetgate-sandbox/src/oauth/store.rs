//! Authorization codes, grants and tokens: the OAuth server's memory.
//!
//! Pure bookkeeping: callers pass `now` and the access-token lifetime in.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::ids;
use crate::world::AppType;

pub const CODE_TTL: Duration = Duration::minutes(5);
pub const PENDING_TTL: Duration = Duration::minutes(10);
/// ZOOM.md CONFLICT (15 years versus about 90 days): the sandbox takes the stricter 90 days, so
/// clients that let grants sit unused find out here rather than in production.
pub const REFRESH_TTL: Duration = Duration::days(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PkceMethod {
    S256,
    Plain,
}

#[derive(Clone, Debug)]
pub struct Pkce {
    pub challenge: String,
    pub method: PkceMethod,
}

impl Pkce {
    pub fn verify(&self, verifier: &str) -> bool {
        let computed = match self.method {
            PkceMethod::Plain => verifier.to_owned(),
            PkceMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        };
        crate::secret::Secret::new(computed).matches(&self.challenge)
    }
}

/// An authorize request waiting for the user on the consent page.
#[derive(Clone, Debug)]
pub struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub pkce: Option<Pkce>,
    pub expires_at: OffsetDateTime,
}

struct AuthCode {
    client_id: String,
    user_id: String,
    redirect_uri: String,
    pkce: Option<Pkce>,
    expires_at: OffsetDateTime,
    used: bool,
    grant_id: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Live,
    /// A newer authorization of the same app by the same user (Zoom error 4741).
    Superseded,
    Revoked,
    Deauthorized,
}

#[derive(Clone, Debug)]
pub struct Grant {
    pub id: u64,
    pub client_id: String,
    /// The authorizing user; `None` for server-to-server grants.
    pub user_id: Option<String>,
    /// The account the grant acts for.
    pub account_id: String,
    pub app_type: AppType,
    pub granular: bool,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub state: GrantState,
    pub refreshes: u64,
}

impl Grant {
    /// `user:client` for user grants, `account:client` for server-to-server grants.
    pub fn key(&self) -> String {
        let who = self.user_id.as_deref().unwrap_or(&self.account_id);
        format!("{who}:{}", self.client_id)
    }
}

struct AccessToken {
    grant_id: u64,
    expires_at: OffsetDateTime,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Live,
    Rotated,
    Dead,
}

struct RefreshToken {
    grant_id: u64,
    state: RefreshState,
    expires_at: OffsetDateTime,
}

/// What the token endpoint hands out.
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A token-endpoint failure, with what the counters need to attribute it.
#[derive(Debug)]
pub struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub reason: String,
    pub grant_key: Option<String>,
}

impl TokenError {
    pub fn invalid_grant(reason: impl Into<String>, grant_key: Option<String>) -> Self {
        Self {
            status: 400,
            error: "invalid_grant",
            reason: reason.into(),
            grant_key,
        }
    }

    pub fn invalid_request(reason: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: "invalid_request",
            reason: reason.into(),
            grant_key: None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum AccessError {
    Invalid,
    Expired,
}

/// Keys are live credentials, so `Debug` shows counts only.
#[derive(Default)]
pub struct OAuthStore {
    pending: HashMap<String, Pending>,
    codes: HashMap<String, AuthCode>,
    grants: BTreeMap<u64, Grant>,
    access: HashMap<String, AccessToken>,
    access_sweep_at: usize,
    refresh: HashMap<String, RefreshToken>,
    next_grant: u64,
}

#[derive(Debug)]
pub struct NewGrant {
    pub client_id: String,
    pub user_id: Option<String>,
    pub account_id: String,
    pub app_type: AppType,
    pub granular: bool,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStore")
            .field("pending", &self.pending.len())
            .field("codes", &self.codes.len())
            .field("grants", &self.grants.len())
            .field("access_tokens", &self.access.len())
            .field("refresh_tokens", &self.refresh.len())
            .finish()
    }
}

impl OAuthStore {
    pub fn add_pending(&mut self, pending: Pending, now: OffsetDateTime) -> String {
        self.pending.retain(|_, p| p.expires_at > now);
        let txn = ids::token(18);
        self.pending.insert(txn.clone(), pending);
        txn
    }

    pub fn pending(&self, txn: &str, now: OffsetDateTime) -> Option<&Pending> {
        self.pending.get(txn).filter(|p| p.expires_at > now)
    }

    pub fn take_pending(&mut self, txn: &str, now: OffsetDateTime) -> Option<Pending> {
        self.pending.remove(txn).filter(|p| p.expires_at > now)
    }

    pub fn issue_code(&mut self, pending: &Pending, user_id: &str, now: OffsetDateTime) -> String {
        self.codes
            .retain(|_, c| c.expires_at + Duration::hours(1) > now);
        let code = ids::token(24);
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: pending.client_id.clone(),
                user_id: user_id.to_owned(),
                redirect_uri: pending.redirect_uri.clone(),
                pkce: pending.pkce.clone(),
                expires_at: now + CODE_TTL,
                used: false,
                grant_id: None,
            },
        );
        code
    }

    /// Checks a code for the `authorization_code` grant and marks it used. Returns the user.
    ///
    /// A second use also revokes the grant the first use created (RFC 6749 section 10.5).
    pub fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<String, TokenError> {
        let Some(entry) = self.codes.get_mut(code) else {
            return Err(TokenError::invalid_grant(
                "Invalid authorization code",
                None,
            ));
        };
        let key = format!("{}:{}", entry.user_id, entry.client_id);
        if entry.client_id != client_id {
            return Err(TokenError::invalid_grant(
                "Invalid authorization code",
                None,
            ));
        }
        if entry.used {
            let grant = entry.grant_id;
            if let Some(id) = grant {
                self.end_grant(id, GrantState::Revoked);
            }
            return Err(TokenError::invalid_grant(
                "Authorization code has been used",
                Some(key),
            ));
        }
        if now >= entry.expires_at {
            return Err(TokenError::invalid_grant(
                "Authorization code has expired",
                Some(key),
            ));
        }
        // Any attempt past this point uses the code up, so verifiers cannot be guessed.
        entry.used = true;
        match redirect_uri {
            Some(uri) if uri == entry.redirect_uri => {}
            _ => return Err(TokenError::invalid_request("Redirect URI mismatch.")),
        }
        match (&entry.pkce, verifier) {
            (None, None) => {}
            (Some(_), Some(v)) if !super::authorize::valid_challenge(v) => {
                return Err(TokenError::invalid_grant(
                    "Invalid code_verifier: 43 to 128 characters of A-Z, a-z, 0-9, -._~",
                    Some(key),
                ));
            }
            (Some(pkce), Some(v)) if pkce.verify(v) => {}
            (Some(_), Some(_)) => {
                return Err(TokenError::invalid_grant(
                    "Invalid code_verifier",
                    Some(key),
                ));
            }
            (Some(_), None) => {
                return Err(TokenError::invalid_request("code_verifier is required"));
            }
            (None, Some(_)) => {
                return Err(TokenError::invalid_request(
                    "code_verifier sent but the authorization request had no code_challenge",
                ));
            }
        }
        Ok(entry.user_id.clone())
    }

    pub fn attach_code_grant(&mut self, code: &str, grant_id: u64) {
        if let Some(entry) = self.codes.get_mut(code) {
            entry.grant_id = Some(grant_id);
        }
    }

    /// Opens a grant, ending any live grant it replaces: one per (user, app) for user-managed
    /// apps, one per (account, app) for admin-managed installs.
    pub fn open_grant(&mut self, new: NewGrant, now: OffsetDateTime) -> u64 {
        let superseded: Vec<u64> = self
            .grants
            .values()
            .filter(|g| g.state == GrantState::Live && g.client_id == new.client_id)
            .filter(|g| match new.app_type {
                AppType::UserManaged => g.user_id == new.user_id,
                AppType::AdminManaged => g.account_id == new.account_id,
                AppType::ServerToServer => false,
            })
            .map(|g| g.id)
            .collect();
        for id in superseded {
            self.end_grant(id, GrantState::Superseded);
        }
        self.next_grant += 1;
        let id = self.next_grant;
        self.grants.insert(
            id,
            Grant {
                id,
                client_id: new.client_id,
                user_id: new.user_id,
                account_id: new.account_id,
                app_type: new.app_type,
                granular: new.granular,
                scopes: new.scopes,
                created_at: now,
                state: GrantState::Live,
                refreshes: 0,
            },
        );
        id
    }

    /// Server-to-server apps keep one long-lived grant; each call mints another access token.
    pub fn s2s_grant(&mut self, new: NewGrant, now: OffsetDateTime) -> u64 {
        let existing = self.grants.values().find(|g| {
            g.state == GrantState::Live
                && g.client_id == new.client_id
                && g.account_id == new.account_id
        });
        match existing {
            Some(g) => g.id,
            None => self.open_grant(new, now),
        }
    }

    pub fn issue(
        &mut self,
        grant_id: u64,
        with_refresh: bool,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Issued {
        crate::sweep::sweep_if_grown(&mut self.access, &mut self.access_sweep_at, |_, t| {
            t.expires_at + Duration::days(1) > now
        });
        let access_token = ids::token(48);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                grant_id,
                expires_at: now + ttl,
            },
        );
        let refresh_token = with_refresh.then(|| {
            let t = ids::token(48);
            self.refresh.insert(
                t.clone(),
                RefreshToken {
                    grant_id,
                    state: RefreshState::Live,
                    expires_at: now + REFRESH_TTL,
                },
            );
            t
        });
        let scope = self
            .grants
            .get(&grant_id)
            .map(|g| g.scopes.join(" "))
            .unwrap_or_default();
        Issued {
            access_token,
            refresh_token,
            expires_in: ttl.whole_seconds(),
            scope,
        }
    }

    /// Rotates a refresh token: the presented one dies at once, whatever happens next.
    pub fn refresh(
        &mut self,
        token: &str,
        client_id: &str,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<(Issued, String), TokenError> {
        let Some(entry) = self.refresh.get(token) else {
            return Err(TokenError::invalid_grant("Invalid Token!", None));
        };
        let grant_id = entry.grant_id;
        let state = entry.state;
        let expired = now >= entry.expires_at;
        let Some(grant) = self.grants.get(&grant_id) else {
            return Err(TokenError::invalid_grant("Invalid Token!", None));
        };
        let key = grant.key();
        if grant.client_id != client_id {
            return Err(TokenError::invalid_grant("Invalid Token!", None));
        }
        if state != RefreshState::Live || grant.state != GrantState::Live || expired {
            return Err(TokenError::invalid_grant("Invalid Token!", Some(key)));
        }
        if let Some(entry) = self.refresh.get_mut(token) {
            entry.state = RefreshState::Rotated;
        }
        if let Some(grant) = self.grants.get_mut(&grant_id) {
            grant.refreshes += 1;
        }
        Ok((self.issue(grant_id, true, ttl, now), key))
    }

    pub fn access(&self, token: &str, now: OffsetDateTime) -> Result<&Grant, AccessError> {
        let entry = self.access.get(token).ok_or(AccessError::Invalid)?;
        let grant = self
            .grants
            .get(&entry.grant_id)
            .ok_or(AccessError::Invalid)?;
        if grant.state != GrantState::Live {
            return Err(AccessError::Invalid);
        }
        if now >= entry.expires_at {
            return Err(AccessError::Expired);
        }
        Ok(grant)
    }

    /// The grant an unexpired access token speaks for: what Zoom's revoke takes ("Revoking an
    /// Access Token": `token=[ACCESS TOKEN]`). A refresh token, current or rotated out, is not
    /// one.
    pub fn grant_of_access_token(&self, token: &str, now: OffsetDateTime) -> Option<&Grant> {
        let id = self
            .access
            .get(token)
            .filter(|t| now < t.expires_at)
            .map(|t| t.grant_id)?;
        self.grants.get(&id)
    }

    pub fn end_grant(&mut self, grant_id: u64, state: GrantState) {
        if let Some(g) = self.grants.get_mut(&grant_id)
            && g.state == GrantState::Live
        {
            g.state = state;
        }
        self.access.retain(|_, t| t.grant_id != grant_id);
        for t in self.refresh.values_mut() {
            if t.grant_id == grant_id {
                t.state = RefreshState::Dead;
            }
        }
    }

    /// Makes every access token of the grant expire now, as if an hour had passed for them.
    pub fn expire_access_tokens(&mut self, grant_id: u64, now: OffsetDateTime) -> usize {
        let mut n = 0;
        for t in self.access.values_mut() {
            if t.grant_id == grant_id && t.expires_at > now {
                t.expires_at = now;
                n += 1;
            }
        }
        n
    }

    pub fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.grants.values()
    }

    pub fn live_grants(&self) -> impl Iterator<Item = &Grant> {
        self.grants.values().filter(|g| g.state == GrantState::Live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn pending(pkce: Option<Pkce>) -> Pending {
        Pending {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1:1/cb".into(),
            state: None,
            pkce,
            expires_at: now() + PENDING_TTL,
        }
    }

    #[test]
    fn s256_is_base64url_of_sha256() {
        // Computed independently: base64url(sha256(verifier)) without padding.
        let p = Pkce {
            challenge: "HMapAT3mmLVqICkb_nexVaGZbvA3Y1vIPYb_oyqDsmo".into(),
            method: PkceMethod::S256,
        };
        assert!(p.verify("dBjftJeZ4CVP-mB0unSl3hnDUrQvZvxxEb9Kd2IRuXk"));
        assert!(!p.verify("dBjftJeZ4CVP-mB0unSl3hnDUrQvZvxxEb9Kd2IRuXj"));
    }

    #[test]
    fn code_is_single_use_and_reuse_kills_the_grant() {
        let mut s = OAuthStore::default();
        let t = now();
        let code = s.issue_code(&pending(None), "u", t);
        let uri = Some("http://127.0.0.1:1/cb");
        assert_eq!(s.redeem_code(&code, "c", uri, None, t).expect("first"), "u");
        let g = s.open_grant(
            NewGrant {
                client_id: "c".into(),
                user_id: Some("u".into()),
                account_id: "a".into(),
                app_type: AppType::UserManaged,
                granular: false,
                scopes: vec!["meeting:write".into()],
            },
            t,
        );
        s.attach_code_grant(&code, g);
        let issued = s.issue(g, true, Duration::seconds(3599), t);
        assert!(s.access(&issued.access_token, t).is_ok());
        let err = s.redeem_code(&code, "c", uri, None, t).expect_err("reuse");
        assert_eq!(err.error, "invalid_grant");
        assert_eq!(
            s.access(&issued.access_token, t).err(),
            Some(AccessError::Invalid)
        );
    }

    #[test]
    fn code_expires_after_five_minutes() {
        let mut s = OAuthStore::default();
        let t = now();
        let code = s.issue_code(&pending(None), "u", t);
        let later = t + Duration::minutes(5);
        let err = s
            .redeem_code(&code, "c", Some("http://127.0.0.1:1/cb"), None, later)
            .expect_err("expired");
        assert_eq!(err.reason, "Authorization code has expired");
    }
}
