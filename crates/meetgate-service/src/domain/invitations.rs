//! Invitations: an admin invites a clinician (or another admin) by email; the link carries a
//! random token stored only as its hash, works once, and expires after seven days.
//!
//! A password reset is an invitation for someone who is already a member of the clinic: an admin
//! makes the link (it expires after a day), and whoever opens it chooses a new password; the
//! member's sessions end.

use meetgate_store::models::{Invitation, Member, MemberRole};
use meetgate_store::{Effects, InvitationId, MemberId};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::members::{
    MemberView, check_name, check_new_password, hash_password, normalize_email, require_admin,
};
use super::web_sessions::SignedIn;
use super::{Ctx, Services};
use crate::secrets::{Secret, random_token, sha256};
use crate::{Error, Result};

const INVITATION_TTL: Duration = Duration::days(7);
const PASSWORD_RESET_TTL: Duration = Duration::days(1);

#[derive(Debug, Clone, Serialize)]
pub struct InvitationView {
    pub id: InvitationId,
    pub email: String,
    pub role: String,
    /// `pending`, `used` or `expired`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl InvitationView {
    fn new(i: &Invitation, now: OffsetDateTime) -> Self {
        let state = if i.used_at.is_some() {
            "used"
        } else if i.expires_at <= now {
            "expired"
        } else {
            "pending"
        };
        Self {
            id: i.id,
            email: i.email.clone(),
            role: i.role.as_str().to_owned(),
            state: state.into(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// A new invitation and its link: the only time the link exists outside the invitee's inbox.
#[derive(Debug)]
pub struct CreatedInvitation {
    pub view: InvitationView,
    pub link: Secret,
}

/// What the invitation page shows before the invitee chooses a password.
#[derive(Debug, Clone, Serialize)]
pub struct OpenInvitation {
    pub email: String,
    pub role: String,
    pub tenant_name: String,
    /// A password reset for an existing member (no name to choose).
    pub reset: bool,
}

/// An invitation made by `ctx`'s admin, valid `ttl`, and the token of its link (stored only as
/// its hash).
fn new_invitation(
    ctx: &Ctx,
    email: String,
    role: MemberRole,
    ttl: Duration,
    resets_member: Option<MemberId>,
) -> (Invitation, String) {
    let token = random_token(32);
    let invitation = Invitation {
        id: InvitationId::new(),
        tenant_id: ctx.tenant(),
        email,
        role,
        token_hash: sha256(token.as_bytes()),
        created_by: ctx
            .actor
            .id
            .as_deref()
            .and_then(|id| id.parse::<MemberId>().ok()),
        created_at: ctx.now,
        expires_at: ctx.now + ttl,
        used_at: None,
        resets_member,
    };
    (invitation, token)
}

impl Services {
    /// Invites `email` as `role`. Admin only.
    pub async fn invite_member(
        &self,
        ctx: &Ctx,
        email: &str,
        role: MemberRole,
    ) -> Result<CreatedInvitation> {
        require_admin(ctx)?;
        let email = normalize_email("email", email)?;
        // Only this clinic's own members are named: whether an address belongs to another
        // clinic is not this admin's to learn. Such an invitation is made as usual, and its
        // acceptance tells the person themselves to sign in instead.
        if let Some(existing) = self.store.find_member_by_email(&email).await?
            && existing.tenant_id == ctx.tenant()
        {
            return Err(Error::Conflict(format!(
                "{email} is already a member of your clinic (to let them choose a new password, make a password reset link on their row)"
            )));
        }
        let (invitation, token) = new_invitation(ctx, email, role, INVITATION_TTL, None);
        // The email is personal data of staff, not of patients: it may sit in the audit log.
        let effects = Effects::none().audit(ctx.audit(
            "invitation.created",
            "invitation",
            Some(invitation.id.to_string()),
            "success",
            serde_json::json!({ "email": invitation.email, "role": role.as_str() }),
        ));
        self.store.create_invitation(&invitation, effects).await?;
        Ok(CreatedInvitation {
            view: InvitationView::new(&invitation, ctx.now),
            link: Secret::new(self.link(&format!("/invitations/{token}"))),
        })
    }

    /// A password reset link for one of the clinic's enabled members, valid a day. Admin only.
    pub async fn create_password_reset(
        &self,
        ctx: &Ctx,
        member: MemberId,
    ) -> Result<CreatedInvitation> {
        require_admin(ctx)?;
        let member = self
            .store
            .get_member(ctx.tenant(), member)
            .await?
            .ok_or(Error::NotFound { what: "member" })?;
        if member.disabled_at.is_some() {
            return Err(Error::Conflict(format!(
                "{} is disabled: enable them first",
                member.email
            )));
        }
        let (invitation, token) = new_invitation(
            ctx,
            member.email.clone(),
            member.role,
            PASSWORD_RESET_TTL,
            Some(member.id),
        );
        let effects = Effects::none().audit(ctx.audit(
            "member.password_reset_created",
            "member",
            Some(member.id.to_string()),
            "success",
            serde_json::json!({ "invitation_id": invitation.id }),
        ));
        self.store.create_invitation(&invitation, effects).await?;
        Ok(CreatedInvitation {
            view: InvitationView::new(&invitation, ctx.now),
            link: Secret::new(self.link(&format!("/invitations/{token}"))),
        })
    }

    /// [`Services::create_password_reset`] for the member of `ctx`'s clinic with `email`.
    pub async fn create_password_reset_for_email(
        &self,
        ctx: &Ctx,
        email: &str,
    ) -> Result<CreatedInvitation> {
        require_admin(ctx)?;
        let email = normalize_email("email", email)?;
        let member = self
            .store
            .find_member_by_email(&email)
            .await?
            .filter(|m| m.tenant_id == ctx.tenant())
            .ok_or(Error::NotFound {
                what: "member of this clinic with that email",
            })?;
        self.create_password_reset(ctx, member.id).await
    }

    /// The member a link made as a password reset is for. An invitation to join resets nothing,
    /// even when its address has become a member's since.
    async fn member_to_reset(&self, invitation: &Invitation) -> Result<Option<Member>> {
        let Some(id) = invitation.resets_member else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_member(invitation.tenant_id, id)
            .await?
            .filter(|m| m.email == invitation.email))
    }

    /// The tenant's invitations, oldest first. Admin only.
    pub async fn list_invitations(&self, ctx: &Ctx) -> Result<Vec<InvitationView>> {
        require_admin(ctx)?;
        Ok(self
            .store
            .list_invitations(ctx.tenant())
            .await?
            .iter()
            .map(|i| InvitationView::new(i, ctx.now))
            .collect())
    }

    async fn usable_invitation(&self, token: &str, now: OffsetDateTime) -> Result<Invitation> {
        let invitation = self
            .store
            .find_invitation(&sha256(token.as_bytes()))
            .await?
            .ok_or(Error::NotFound { what: "invitation" })?;
        if invitation.used_at.is_some() {
            return Err(Error::Forbidden("this invitation was already used; sign in instead, or ask your administrator for a new one".into()));
        }
        if invitation.expires_at <= now {
            return Err(Error::Forbidden(
                "this invitation has expired or was withdrawn; ask your administrator for a new one".into(),
            ));
        }
        // A link carries its maker's authority: one made by an admin who has since been
        // disabled or made a clinician (perhaps because the account was misused) must not
        // let anyone in or reset a password. Links the operator made on the command line have
        // no maker among the members.
        if let Some(maker) = invitation.created_by {
            let still_admin = self
                .store
                .get_member(invitation.tenant_id, maker)
                .await?
                .is_some_and(|m| m.role == MemberRole::Admin && m.disabled_at.is_none());
            if !still_admin {
                return Err(Error::Forbidden(
                    "this link was made by an administrator who no longer is one; ask an administrator of your clinic for a new one".into(),
                ));
            }
        }
        Ok(invitation)
    }

    /// Withdraws an unused invitation or password reset link: it stops working at once and
    /// shows as expired. Admin only.
    pub async fn revoke_invitation(&self, ctx: &Ctx, id: InvitationId) -> Result<()> {
        require_admin(ctx)?;
        let invitation = self
            .store
            .list_invitations(ctx.tenant())
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or(Error::NotFound { what: "invitation" })?;
        let refused = match InvitationView::new(&invitation, ctx.now).state.as_str() {
            "used" => Some("this invitation was already used; disable the member instead"),
            "expired" => Some("this invitation has already expired"),
            _ => None,
        };
        if let Some(why) = refused {
            return Err(Error::Conflict(why.into()));
        }
        let effects = Effects::none().audit(ctx.audit(
            "invitation.revoked",
            "invitation",
            Some(id.to_string()),
            "success",
            serde_json::json!({
                "email": invitation.email,
                "password_reset": invitation.resets_member.is_some(),
            }),
        ));
        if !self
            .store
            .revoke_invitation(ctx.tenant(), id, ctx.now, effects)
            .await?
        {
            // Used or expired between the read and the write.
            return Err(Error::Conflict(
                "this invitation was used or expired meanwhile".into(),
            ));
        }
        Ok(())
    }

    /// Checks an invitation link. Not tenant-scoped: the link's token is the credential.
    pub async fn open_invitation(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<OpenInvitation> {
        let invitation = self.usable_invitation(token, now).await?;
        let tenant = self
            .store
            .get_tenant(invitation.tenant_id)
            .await?
            .ok_or(Error::NotFound { what: "invitation" })?;
        let reset = self.member_to_reset(&invitation).await?.is_some();
        Ok(OpenInvitation {
            email: invitation.email,
            role: invitation.role.as_str().to_owned(),
            tenant_name: tenant.name,
            reset,
        })
    }

    /// Accepts an invitation: creates the member with the chosen name and password, uses the
    /// invitation up (atomically, so two tabs cannot both succeed), and signs the member in.
    pub async fn accept_invitation(
        &self,
        token: &str,
        name: &str,
        password: &str,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Result<SignedIn> {
        let invitation = self.usable_invitation(token, now).await?;
        if let Some(existing) = self.member_to_reset(&invitation).await? {
            return self
                .reset_password(&invitation, existing, password, request_id, now)
                .await;
        }
        let name = check_name(name)?;
        check_new_password(password)?;
        let member = Member {
            id: MemberId::new(),
            tenant_id: invitation.tenant_id,
            email: invitation.email.clone(),
            name,
            role: invitation.role,
            password_hash: hash_password(password).await?,
            created_at: now,
            disabled_at: None,
        };
        let view = MemberView::from(&member);
        let ctx = Ctx::of_member(&member, request_id, now);
        let effects = Effects::none().audit(ctx.audit(
            "invitation.accepted",
            "member",
            Some(member.id.to_string()),
            "success",
            serde_json::json!({ "invitation_id": invitation.id, "role": member.role.as_str() }),
        ));
        let accepted = self
            .store
            .accept_invitation(invitation.id, &member, now, effects)
            .await
            .map_err(|e| match e {
                meetgate_store::StoreError::Conflict { .. } => Error::Conflict(
                    "this invitation cannot make a new account; if you already have one on this meetgate, sign in instead, or ask your administrator".into(),
                ),
                other => Error::Store(other),
            })?;
        if !accepted {
            return Err(Error::Forbidden("this invitation was already used; sign in instead, or ask your administrator for a new one".into()));
        }
        let cookie = self.start_session(&ctx, member.id).await?;
        Ok(SignedIn {
            cookie,
            member: view,
            password_reset: false,
        })
    }

    /// The second half of a password reset: the new password, the old sessions ended, and the
    /// member signed in here.
    async fn reset_password(
        &self,
        invitation: &Invitation,
        member: Member,
        password: &str,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Result<SignedIn> {
        check_new_password(password)?;
        let view = MemberView::from(&member);
        let ctx = Ctx::of_member(&member, request_id, now);
        let effects = Effects::none().audit(ctx.audit(
            "member.password_reset",
            "member",
            Some(member.id.to_string()),
            "success",
            serde_json::json!({ "invitation_id": invitation.id }),
        ));
        let reset = self
            .store
            .reset_password_with_invitation(
                invitation.id,
                member.tenant_id,
                member.id,
                &hash_password(password).await?,
                now,
                effects,
            )
            .await
            .map_err(|e| match e {
                meetgate_store::StoreError::NotFound { .. } => {
                    Error::Forbidden("this account is disabled; ask your administrator".into())
                }
                other => Error::Store(other),
            })?;
        if !reset {
            return Err(Error::Forbidden("this link was already used; sign in instead, or ask your administrator for a new one".into()));
        }
        let cookie = self.start_session(&ctx, member.id).await?;
        Ok(SignedIn {
            cookie,
            member: view,
            password_reset: true,
        })
    }
}
