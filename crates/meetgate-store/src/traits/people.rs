use crate::models::{EndUser, Invitation, Member, MemberRole, WebSession};
use crate::{Effects, EndUserId, InvitationId, MemberId, OffsetDateTime, StoreResult, TenantId};

/// Members (who sign in to the web app), their sessions and invitations, and end users (the host
/// app's users).
#[async_trait::async_trait]
pub trait PeopleStore: Send + Sync {
    async fn create_member(&self, member: &Member, effects: Effects) -> StoreResult<()>;
    /// Not tenant-scoped: sign-in starts from an email alone. Emails are unique per deployment.
    async fn find_member_by_email(&self, email: &str) -> StoreResult<Option<Member>>;
    async fn get_member(&self, tenant: TenantId, id: MemberId) -> StoreResult<Option<Member>>;
    async fn list_members(&self, tenant: TenantId) -> StoreResult<Vec<Member>>;
    async fn set_member_role(
        &self,
        tenant: TenantId,
        id: MemberId,
        role: MemberRole,
        effects: Effects,
    ) -> StoreResult<bool>;
    async fn set_member_disabled(
        &self,
        tenant: TenantId,
        id: MemberId,
        disabled_at: Option<OffsetDateTime>,
        effects: Effects,
    ) -> StoreResult<bool>;
    async fn set_member_password(
        &self,
        tenant: TenantId,
        id: MemberId,
        password_hash: &str,
        effects: Effects,
    ) -> StoreResult<bool>;

    async fn create_session(&self, session: &WebSession) -> StoreResult<()>;
    /// Not tenant-scoped: the session cookie is the credential.
    async fn get_session(&self, id_hash: &[u8]) -> StoreResult<Option<WebSession>>;
    async fn touch_session(&self, id_hash: &[u8], now: OffsetDateTime) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &[u8]) -> StoreResult<()>;
    async fn delete_member_sessions(&self, tenant: TenantId, member: MemberId) -> StoreResult<()>;
    /// Removes sessions idle since `idle_before` or past their absolute expiry.
    async fn purge_sessions(
        &self,
        now: OffsetDateTime,
        idle_before: OffsetDateTime,
    ) -> StoreResult<u64>;

    async fn create_invitation(&self, invitation: &Invitation, effects: Effects)
    -> StoreResult<()>;
    async fn list_invitations(&self, tenant: TenantId) -> StoreResult<Vec<Invitation>>;
    /// Not tenant-scoped: the invitation link is the credential.
    async fn find_invitation(&self, token_hash: &[u8]) -> StoreResult<Option<Invitation>>;
    /// Marks the invitation used and creates its member, atomically. False when it was already
    /// used (or does not exist).
    async fn accept_invitation(
        &self,
        id: InvitationId,
        member: &Member,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool>;
    /// A password reset link (an invitation made to reset `member`'s password): uses the
    /// invitation up, and the member's other unused reset links with it, sets the password and
    /// ends the member's sessions, atomically. False when
    /// the invitation was already used, does not exist, or was not made to reset `member`;
    /// `NotFound`, with nothing changed, when `member` is not an enabled member of `tenant`.
    async fn reset_password_with_invitation(
        &self,
        id: InvitationId,
        tenant: TenantId,
        member: MemberId,
        password_hash: &str,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool>;

    /// Withdraws an unused invitation (or password reset link) of `tenant`: it expires at `now`,
    /// so its link stops working and the row stays for the record. False when it does not
    /// exist in `tenant`, was used, or has already expired.
    async fn revoke_invitation(
        &self,
        tenant: TenantId,
        id: InvitationId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool>;

    /// Creates the end user or updates its email and name; the same `external_id` always maps to
    /// the same row.
    async fn upsert_end_user(
        &self,
        tenant: TenantId,
        external_id: &str,
        email: Option<&str>,
        name: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<EndUser>;
    async fn get_end_user(&self, tenant: TenantId, id: EndUserId) -> StoreResult<Option<EndUser>>;
    async fn find_end_user(
        &self,
        tenant: TenantId,
        external_id: &str,
    ) -> StoreResult<Option<EndUser>>;
}
