//! Signing members in and out of the web app: password check, rate limit, sessions stored as the
//! SHA-256 of their cookie, idle and absolute expiry, and the session's CSRF token.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use meetgate_store::models::WebSession;
use meetgate_store::{Effects, MemberId};
use time::{Duration, OffsetDateTime};

use super::members::{MemberView, member_external_id, normalize_email, verify_password};
use super::{Ctx, Services};
use crate::secrets::{Secret, constant_time_eq, random_token, sha256};
use crate::{Error, Result};

const LIMIT_WINDOW: Duration = Duration::minutes(15);
/// An address stands for everyone behind it (a clinic's NAT, a VPN): it may fail this many times
/// the per-email limit before its sign-ins are refused.
const ADDRESS_LIMIT_FACTOR: u32 = 5;
/// Past this many tracked keys, forgotten entries are swept so an attacker cycling through
/// addresses cannot grow the map without bound.
const SWEEP_ABOVE: usize = 10_000;
/// A session's `last_seen_at` is written at most this often: reads should not all be writes.
const TOUCH_EVERY: Duration = Duration::seconds(30);

/// Failed sign-ins per email and per client address over the last 15 minutes.
///
/// In memory, so per process: with several replicas each counts on its own and an attacker
/// spread over all of them gets `replicas x web.signin_attempts_per_15_min` tries. Argon2id
/// makes each try expensive regardless.
#[derive(Debug, Default)]
pub(crate) struct SignInLimiter {
    failures: Mutex<HashMap<String, VecDeque<OffsetDateTime>>>,
}

impl SignInLimiter {
    /// Counts an attempt against every key, unless one of them has reached its limit in the
    /// window (then nothing is counted and the attempt is refused). Checked and counted in one
    /// step, so that attempts sent at once cannot all pass before the first failure is counted.
    fn try_attempt(&self, keys: &[(String, u32)], now: OffsetDateTime) -> bool {
        let Ok(mut map) = self.failures.lock() else {
            return true;
        };
        let blocked = keys.iter().any(|(key, limit)| {
            map.get_mut(key).is_some_and(|times| {
                while times.front().is_some_and(|t| *t <= now - LIMIT_WINDOW) {
                    times.pop_front();
                }
                times.len() >= *limit as usize
            })
        });
        if blocked {
            return false;
        }
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, times| times.back().is_some_and(|t| *t > now - LIMIT_WINDOW));
        }
        for (key, _) in keys {
            map.entry(key.clone()).or_default().push_back(now);
        }
        true
    }

    /// A counted attempt succeeded: the email's failures are forgotten, and the attempt no
    /// longer counts against the address (everyone behind it signing in is not an attack).
    fn succeeded(&self, keys: &[(String, u32)], now: OffsetDateTime) {
        self.take_back(&keys[1..], now);
        if let (Ok(mut map), Some((email, _))) = (self.failures.lock(), keys.first()) {
            map.remove(email);
        }
    }

    /// A counted attempt that was neither a failure nor a success (meetgate could not check
    /// it) no longer counts.
    fn take_back(&self, keys: &[(String, u32)], now: OffsetDateTime) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        for (key, _) in keys {
            if let Some(times) = map.get_mut(key)
                && let Some(at) = times.iter().rposition(|t| *t == now)
            {
                times.remove(at);
            }
        }
    }
}

/// A new session: the cookie value (shown to the browser once, stored only as a hash) and who
/// signed in.
#[derive(Debug)]
pub struct SignedIn {
    pub cookie: Secret,
    pub member: MemberView,
    /// Signed in by choosing a new password through a reset link.
    pub password_reset: bool,
}

/// A live session: the member's context and what the pages need about them.
#[derive(Debug, Clone)]
pub struct MemberSession {
    pub ctx: Ctx,
    pub member: MemberView,
    /// The member as an end user of their tenant (`member:{id}`).
    pub external_id: String,
    pub tenant_name: String,
    csrf_token: Secret,
}

impl MemberSession {
    /// The token every form of this session carries.
    pub fn csrf_token(&self) -> &str {
        self.csrf_token.expose()
    }

    /// Whether a form's token is this session's, compared in constant time.
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented
            .is_some_and(|p| constant_time_eq(p.as_bytes(), self.csrf_token.expose().as_bytes()))
    }
}

/// What a session cookie turned out to be.
#[derive(Debug)]
pub enum SessionState {
    Active(Box<MemberSession>),
    /// Signed out by time: `idle` after `web.session_idle_minutes` without activity, otherwise
    /// past `web.session_max_hours`.
    Expired {
        idle: bool,
    },
    /// No cookie, an unknown one, or a member who was disabled.
    Missing,
}

impl Services {
    /// Checks an email and password and starts a session. Refused without checking the password
    /// once the email, or the client address, has too many recent failures (an address, which
    /// may stand for a whole clinic, five times as many as an email). `client` is `None` when
    /// the address does not identify the client (a reverse proxy's own). Unknown emails, wrong
    /// passwords and disabled members fail alike and take as long.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: Option<&str>,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Result<SignedIn> {
        let email = normalize_email("email", email).map_err(|_| Error::Unauthenticated)?;
        let limit = self.config.web.signin_attempts_per_15_min;
        let mut keys = vec![(format!("email:{email}"), limit)];
        if let Some(client) = client {
            keys.push((
                format!("addr:{client}"),
                limit.saturating_mul(ADDRESS_LIMIT_FACTOR),
            ));
        }
        if !self.signins.try_attempt(&keys, now) {
            metrics::counter!("meetgate_signins_total", "outcome" => "rate_limited").increment(1);
            return Err(Error::TooManyAttempts);
        }
        let member = match self.store.find_member_by_email(&email).await {
            Ok(member) => member,
            Err(e) => {
                self.signins.take_back(&keys, now);
                return Err(e.into());
            }
        };
        let password_ok =
            verify_password(member.as_ref().map(|m| m.password_hash.clone()), password).await;
        let member = match member {
            Some(m) if password_ok && m.disabled_at.is_none() => m,
            other => {
                metrics::counter!("meetgate_signins_total", "outcome" => "failed").increment(1);
                if let Some(m) = other {
                    let ctx =
                        Ctx::for_member(m.tenant_id, m.id.to_string(), false, request_id, now);
                    let reason = if m.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "wrong_password"
                    };
                    let _ = self
                        .store
                        .append_audit(Effects::none().audit(ctx.audit(
                            "member.sign_in_failed",
                            "member",
                            Some(m.id.to_string()),
                            "failure",
                            serde_json::json!({ "reason": reason }),
                        )))
                        .await;
                }
                return Err(Error::Unauthenticated);
            }
        };
        self.signins.succeeded(&keys, now);
        metrics::counter!("meetgate_signins_total", "outcome" => "signed_in").increment(1);
        let view = MemberView::from(&member);
        let ctx = Ctx::of_member(&member, request_id, now);
        let cookie = self.start_session(&ctx, member.id).await?;
        let _ = self
            .store
            .append_audit(Effects::none().audit(ctx.audit(
                "member.signed_in",
                "member",
                Some(member.id.to_string()),
                "success",
                serde_json::json!({}),
            )))
            .await;
        Ok(SignedIn {
            cookie,
            member: view,
            password_reset: false,
        })
    }

    /// Stores a new session for a member who just proved who they are; returns the cookie value.
    pub(crate) async fn start_session(&self, ctx: &Ctx, member: MemberId) -> Result<Secret> {
        let cookie = Secret::new(random_token(32));
        let session = WebSession {
            id_hash: sha256(cookie.expose().as_bytes()),
            tenant_id: ctx.tenant(),
            member_id: member,
            csrf_token: random_token(32),
            created_at: ctx.now,
            last_seen_at: ctx.now,
            expires_at: ctx.now + Duration::hours(self.config.web.session_max_hours.max(1) as i64),
        };
        self.store.create_session(&session).await?;
        Ok(cookie)
    }

    /// The session behind a cookie. `touch` counts the request as activity; the pages' status
    /// polling passes false, so that an open tab does not keep a session alive forever.
    pub async fn member_session(
        &self,
        cookie: Option<&str>,
        touch: bool,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Result<SessionState> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 128) else {
            return Ok(SessionState::Missing);
        };
        let hash = sha256(cookie.as_bytes());
        let Some(session) = self.store.get_session(&hash).await? else {
            return Ok(SessionState::Missing);
        };
        let idle_limit = Duration::minutes(self.config.web.session_idle_minutes.max(1) as i64);
        if session.expires_at <= now || now - session.last_seen_at >= idle_limit {
            self.store.delete_session(&hash).await?;
            return Ok(SessionState::Expired {
                idle: session.expires_at > now,
            });
        }
        let Some(member) = self
            .store
            .get_member(session.tenant_id, session.member_id)
            .await?
        else {
            self.store.delete_session(&hash).await?;
            return Ok(SessionState::Missing);
        };
        if member.disabled_at.is_some() {
            self.store.delete_session(&hash).await?;
            return Ok(SessionState::Missing);
        }
        if touch && now - session.last_seen_at >= TOUCH_EVERY {
            self.store.touch_session(&hash, now).await?;
        }
        let view = MemberView::from(&member);
        let ctx = Ctx::of_member(&member, request_id, now);
        let tenant_name = self.tenant(&ctx).await?.name;
        Ok(SessionState::Active(Box::new(MemberSession {
            external_id: member_external_id(member.id),
            ctx,
            member: view,
            tenant_name,
            csrf_token: Secret::new(session.csrf_token),
        })))
    }

    /// Ends the session behind a cookie (if any).
    pub async fn sign_out(&self, cookie: &str, session: Option<&MemberSession>) -> Result<()> {
        self.store
            .delete_session(&sha256(cookie.as_bytes()))
            .await?;
        if let Some(s) = session {
            let _ = self
                .store
                .append_audit(Effects::none().audit(s.ctx.audit(
                    "member.signed_out",
                    "member",
                    Some(s.member.id.to_string()),
                    "success",
                    serde_json::json!({}),
                )))
                .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_forgets_after_fifteen_minutes() {
        let limiter = SignInLimiter::default();
        let keys = vec![("email:a@b.example".to_owned(), 3)];
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        for _ in 0..3 {
            assert!(limiter.try_attempt(&keys, t0));
        }
        assert!(!limiter.try_attempt(&keys, t0 + Duration::minutes(14)));
        assert!(limiter.try_attempt(&keys, t0 + Duration::minutes(15)));
        // A success forgets the email's failures.
        limiter.succeeded(&keys, t0 + Duration::minutes(15));
        assert!(limiter.try_attempt(&[("email:a@b.example".to_owned(), 1)], t0));
    }

    #[test]
    fn each_key_has_its_own_limit() {
        let limiter = SignInLimiter::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let address = ("addr:203.0.113.7".to_owned(), 5);
        for i in 0..4 {
            let keys = [(format!("email:{i}@b.example"), 1), address.clone()];
            assert!(limiter.try_attempt(&keys, t0));
        }
        assert!(
            !limiter.try_attempt(&[("email:0@b.example".to_owned(), 1)], t0),
            "the email's one try is used"
        );
        assert!(
            limiter.try_attempt(std::slice::from_ref(&address), t0),
            "5th"
        );
        assert!(!limiter.try_attempt(std::slice::from_ref(&address), t0));
    }

    #[test]
    fn a_success_does_not_count_against_its_address_but_a_failure_still_does() {
        let limiter = SignInLimiter::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let address = ("addr:203.0.113.7".to_owned(), 2);
        let failed = [("email:x@b.example".to_owned(), 3), address.clone()];
        assert!(limiter.try_attempt(&failed, t0));
        for i in 0..5 {
            let keys = [(format!("email:{i}@b.example"), 3), address.clone()];
            assert!(limiter.try_attempt(&keys, t0), "attempt {i}");
            limiter.succeeded(&keys, t0);
        }
        // The failure is still there: one more try, then the address is at its limit.
        assert!(limiter.try_attempt(std::slice::from_ref(&address), t0));
        assert!(!limiter.try_attempt(std::slice::from_ref(&address), t0));
        // An attempt taken back counts for nothing.
        let other = ("addr:198.51.100.1".to_owned(), 1);
        assert!(limiter.try_attempt(std::slice::from_ref(&other), t0));
        limiter.take_back(std::slice::from_ref(&other), t0);
        assert!(limiter.try_attempt(std::slice::from_ref(&other), t0));
    }
}
