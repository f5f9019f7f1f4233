//! Members: the clinicians and admins who sign in to meetgate's own web app. In the rest of the
//! domain a member is an end user of their own tenant, `member:{id}`, so that connections and
//! meetings work for them exactly as for a host app's users.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use meetgate_store::models::{Member, MemberRole};
use meetgate_store::{Effects, MemberId};
use serde::Serialize;
use time::OffsetDateTime;

use super::{Ctx, Services};
use crate::secrets::Secret;
use crate::{Error, Result};

/// Shortest password a member may choose. Length beats composition rules (NIST SP 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_CHARS: usize = 256;

/// A member as the pages show them: never the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub id: MemberId,
    pub email: String,
    pub name: String,
    /// `admin` or `clinician`.
    pub role: String,
    pub is_admin: bool,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        Self {
            id: m.id,
            email: m.email.clone(),
            name: m.name.clone(),
            role: m.role.as_str().to_owned(),
            is_admin: m.role == MemberRole::Admin,
            disabled: m.disabled_at.is_some(),
            created_at: m.created_at,
        }
    }
}

/// A member created by an operator (the demo, a first admin) rather than through an invitation.
#[derive(Debug)]
pub struct NewMember {
    pub email: String,
    pub name: String,
    pub role: MemberRole,
    pub password: Secret,
}

const MEMBER_PREFIX: &str = "member:";

/// The id a member has as an end user of their own tenant.
pub fn member_external_id(id: MemberId) -> String {
    format!("{MEMBER_PREFIX}{id}")
}

/// The member an end-user id names (`member:{id}`), if it is one.
pub fn member_of_external_id(external_id: &str) -> Option<MemberId> {
    external_id.strip_prefix(MEMBER_PREFIX)?.parse().ok()
}

pub(crate) fn require_admin(ctx: &Ctx) -> Result<()> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only administrators of this clinic can do this".into(),
        ))
    }
}

pub(crate) fn normalize_email(field: &str, email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let well_formed = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed {
        Ok(email)
    } else {
        Err(Error::validation(
            field,
            "must be an email address like name@clinic.example",
        ))
    }
}

pub(crate) fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(Error::validation("name", "must be 1 to 120 characters"));
    }
    Ok(name.to_owned())
}

pub(crate) fn check_new_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::validation(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Error::validation(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Argon2 runs at most this many at once, one per core: each takes 19 MiB and tens of
/// milliseconds of CPU, so a burst of sign-ins (an attacker's, say) waits its turn instead of
/// taking the process's memory. A limit on the machine's work, not a setting.
static PASSWORD_WORK: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    });

/// Argon2id with the crate's defaults (19 MiB, 2 passes), which are OWASP's recommendation. Run
/// on the blocking pool: a hash takes tens of milliseconds of CPU on purpose.
pub(crate) async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    // Held by the work itself: a request that goes away must not free the turn of an Argon2
    // run that goes on.
    let turn = PASSWORD_WORK.acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password failed: {e}")))
    })
    .await
    .map_err(Error::internal)?
}

/// Checks a password against a stored PHC string. `None` verifies against a fixed dummy hash, so
/// that an unknown email costs as much time as a wrong password and the two cannot be told apart.
pub(crate) async fn verify_password(stored: Option<String>, password: &str) -> bool {
    let password = password.to_owned();
    let Ok(turn) = PASSWORD_WORK.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && hash != DUMMY_HASH
    })
    .await
    .unwrap_or(false)
}

/// An Argon2id hash of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZHVtbXktc2FsdC1mb3ItdGltaW5n$h3Y7Yk0yJ6mYkR7oXkq7r3Qm6l2q8jY7n7b0dZq1c5Q";

impl Services {
    /// Creates a member directly, without an invitation: the operator's first admin, or the
    /// demo's seeded members. Admins of the tenant may do it too.
    pub async fn create_member(&self, ctx: &Ctx, new: NewMember) -> Result<MemberView> {
        require_admin(ctx)?;
        let email = normalize_email("email", &new.email)?;
        let name = check_name(&new.name)?;
        check_new_password(new.password.expose())?;
        if self.store.find_member_by_email(&email).await?.is_some() {
            return Err(Error::Conflict(format!(
                "{email} is already a member of a clinic on this meetgate"
            )));
        }
        let member = Member {
            id: MemberId::new(),
            tenant_id: ctx.tenant(),
            email,
            name,
            role: new.role,
            password_hash: hash_password(new.password.expose()).await?,
            created_at: ctx.now,
            disabled_at: None,
        };
        let effects = Effects::none().audit(ctx.audit(
            "member.created",
            "member",
            Some(member.id.to_string()),
            "success",
            serde_json::json!({ "role": member.role.as_str() }),
        ));
        self.store
            .create_member(&member, effects)
            .await
            .map_err(|e| match e {
                meetgate_store::StoreError::Conflict { .. } => Error::Conflict(format!(
                    "{} is already a member of a clinic on this meetgate",
                    member.email
                )),
                other => Error::Store(other),
            })?;
        Ok(MemberView::from(&member))
    }

    /// The tenant's members, oldest first. Admin only.
    pub async fn list_members(&self, ctx: &Ctx) -> Result<Vec<MemberView>> {
        require_admin(ctx)?;
        Ok(self
            .store
            .list_members(ctx.tenant())
            .await?
            .iter()
            .map(MemberView::from)
            .collect())
    }

    /// The member acting in `ctx`.
    pub async fn current_member(&self, ctx: &Ctx) -> Result<MemberView> {
        let id = ctx
            .actor
            .id
            .as_deref()
            .and_then(|id| id.parse::<MemberId>().ok())
            .ok_or(Error::NotFound { what: "member" })?;
        let member = self
            .store
            .get_member(ctx.tenant(), id)
            .await?
            .ok_or(Error::NotFound { what: "member" })?;
        Ok(MemberView::from(&member))
    }

    /// Disables (signing them out everywhere) or re-enables a member. Admins cannot disable
    /// themselves, so that a clinic always keeps someone who can undo it.
    pub async fn set_member_disabled(&self, ctx: &Ctx, id: MemberId, disabled: bool) -> Result<()> {
        require_admin(ctx)?;
        if disabled && ctx.actor.id.as_deref() == Some(id.to_string().as_str()) {
            return Err(Error::Conflict(
                "you cannot disable your own account".into(),
            ));
        }
        let action = if disabled {
            "member.disabled"
        } else {
            "member.enabled"
        };
        let effects = Effects::none().audit(ctx.audit(
            action,
            "member",
            Some(id.to_string()),
            "success",
            serde_json::json!({}),
        ));
        if !self
            .store
            .set_member_disabled(ctx.tenant(), id, disabled.then_some(ctx.now), effects)
            .await
            .map_err(keeps_an_admin)?
        {
            return Err(Error::NotFound { what: "member" });
        }
        if disabled {
            self.store.delete_member_sessions(ctx.tenant(), id).await?;
        }
        Ok(())
    }

    /// Makes a member an admin or a clinician. Admins cannot demote themselves, for the same
    /// reason they cannot disable themselves.
    pub async fn set_member_role(&self, ctx: &Ctx, id: MemberId, role: MemberRole) -> Result<()> {
        require_admin(ctx)?;
        if role != MemberRole::Admin && ctx.actor.id.as_deref() == Some(id.to_string().as_str()) {
            return Err(Error::Conflict(
                "you cannot remove your own administrator role".into(),
            ));
        }
        let effects = Effects::none().audit(ctx.audit(
            "member.role_changed",
            "member",
            Some(id.to_string()),
            "success",
            serde_json::json!({ "role": role.as_str() }),
        ));
        if !self
            .store
            .set_member_role(ctx.tenant(), id, role, effects)
            .await
            .map_err(keeps_an_admin)?
        {
            return Err(Error::NotFound { what: "member" });
        }
        // Sessions read the member's role at every request, so the change applies at once.
        Ok(())
    }
}

/// The store refuses to take a clinic's last enabled admin away (two admins demoting each
/// other at once would otherwise both succeed).
fn keeps_an_admin(e: meetgate_store::StoreError) -> Error {
    match e {
        meetgate_store::StoreError::Precondition { .. } => Error::Conflict(
            "a clinic keeps at least one enabled administrator: make someone else an administrator first".into(),
        ),
        other => Error::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_and_the_dummy_never_does() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(hash.clone()), "correct horse battery").await);
        assert!(!verify_password(Some(hash), "wrong horse battery").await);
        assert!(!verify_password(None, "anything at all").await);
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("email", "  Dr.Ada@Clinic.Example ").unwrap(),
            "dr.ada@clinic.example"
        );
        for bad in [
            "",
            "ada",
            "@clinic.example",
            "ada@clinic",
            "ada@.example",
            "a da@clinic.example",
        ] {
            assert!(normalize_email("email", bad).is_err(), "{bad}");
        }
    }
}
