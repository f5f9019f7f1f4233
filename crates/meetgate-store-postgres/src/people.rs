use meetgate_store::models::{EndUser, Invitation, Member, MemberRole, WebSession};
use meetgate_store::{
    Effects, EndUserId, InvitationId, MemberId, OffsetDateTime, PeopleStore, StoreResult, TenantId,
};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use crate::PgStore;
use crate::convert::{RowExt, id, opt_id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;

macro_rules! member_cols {
    () => {
        "id, tenant_id, email, name, role, password_hash, created_at, disabled_at"
    };
}

macro_rules! session_cols {
    () => {
        "id_hash, tenant_id, member_id, csrf_token, created_at, last_seen_at, expires_at"
    };
}

macro_rules! invitation_cols {
    () => {
        "id, tenant_id, email, role, token_hash, created_by, created_at, expires_at, used_at, \
         resets_member"
    };
}

/// Another enabled admin of the clinic than member `$2` of tenant `$1`.
macro_rules! keeps_an_admin {
    () => {
        "EXISTS (SELECT 1 FROM members o WHERE o.tenant_id = $1 AND o.id <> $2 \
         AND o.role = 'admin' AND o.disabled_at IS NULL)"
    };
}

macro_rules! end_user_cols {
    () => {
        "id, tenant_id, external_id, email, name, created_at"
    };
}

fn member(row: &PgRow) -> StoreResult<Member> {
    Ok(Member {
        id: MemberId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        email: row.text("email")?,
        name: row.text("name")?,
        role: row.parsed("role")?,
        password_hash: row.text("password_hash")?,
        created_at: row.time("created_at")?,
        disabled_at: row.opt_time("disabled_at")?,
    })
}

fn session(row: &PgRow) -> StoreResult<WebSession> {
    Ok(WebSession {
        id_hash: row.bytes("id_hash")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        member_id: MemberId(row.uuid("member_id")?),
        csrf_token: row.text("csrf_token")?,
        created_at: row.time("created_at")?,
        last_seen_at: row.time("last_seen_at")?,
        expires_at: row.time("expires_at")?,
    })
}

fn invitation(row: &PgRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: InvitationId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        email: row.text("email")?,
        role: row.parsed("role")?,
        token_hash: row.bytes("token_hash")?,
        created_by: row.opt_uuid("created_by")?.map(MemberId),
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
        used_at: row.opt_time("used_at")?,
        resets_member: row.opt_uuid("resets_member")?.map(MemberId),
    })
}

fn end_user(row: &PgRow) -> StoreResult<EndUser> {
    Ok(EndUser {
        id: EndUserId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        external_id: row.text("external_id")?,
        email: row.opt_text("email")?,
        name: row.opt_text("name")?,
        created_at: row.time("created_at")?,
    })
}

/// Emails are unique per deployment regardless of case, so they are stored lower-cased.
fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

async fn insert_member(conn: &mut PgConnection, m: &Member) -> StoreResult<()> {
    sqlx::query(concat!(
        "INSERT INTO members (",
        member_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(id(m.id.0))
    .bind(id(m.tenant_id.0))
    .bind(normalize_email(&m.email))
    .bind(&m.name)
    .bind(m.role.as_str())
    .bind(&m.password_hash)
    .bind(ts(m.created_at))
    .bind(opt_ts(m.disabled_at))
    .execute(conn)
    .await
    .or_store("member")?;
    Ok(())
}

impl PgStore {
    /// Runs a one-row member update with its effects; false (and nothing written) when the
    /// member is not in the tenant.
    /// [`Self::update_member`] for a change that could take a clinic's last enabled admin
    /// away: `query` is conditional on another one remaining, and refused (`Precondition`) when
    /// none does. The clinic's enabled admins are locked first, so that two admins demoting or
    /// disabling each other at once cannot both pass: the second re-reads after the first.
    async fn update_member_keeping_an_admin<'q>(
        &self,
        tenant: TenantId,
        mid: MemberId,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        effects: Effects,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "SELECT id FROM members WHERE tenant_id = $1 AND role = 'admin'
             AND disabled_at IS NULL ORDER BY id FOR UPDATE",
        )
        .bind(id(tenant.0))
        .fetch_all(&mut *tx)
        .await
        .or_store("member")?;
        let done = query.execute(&mut *tx).await.or_store("member")?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM members WHERE tenant_id = $1 AND id = $2")
                .bind(id(tenant.0))
                .bind(id(mid.0))
                .fetch_optional(&mut *tx)
                .await
                .or_store("member")?;
            return match exists {
                Some(_) => Err(meetgate_store::StoreError::Precondition {
                    what: "last administrator",
                }),
                None => Ok(false),
            };
        }
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(true)
    }

    async fn update_member<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        effects: Effects,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = query.execute(&mut *tx).await.or_store("member")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(true)
    }
}

#[async_trait::async_trait]
impl PeopleStore for PgStore {
    #[tracing::instrument(skip_all, fields(tenant = %m.tenant_id))]
    async fn create_member(&self, m: &Member, effects: Effects) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_member(&mut tx, m).await?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")
    }

    async fn find_member_by_email(&self, email: &str) -> StoreResult<Option<Member>> {
        sqlx::query(concat!(
            "SELECT ",
            member_cols!(),
            " FROM members WHERE email = $1"
        ))
        .bind(normalize_email(email))
        .fetch_optional(&self.pool)
        .await
        .or_store("member")?
        .as_ref()
        .map(member)
        .transpose()
    }

    async fn get_member(&self, tenant: TenantId, mid: MemberId) -> StoreResult<Option<Member>> {
        sqlx::query(concat!(
            "SELECT ",
            member_cols!(),
            " FROM members WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("member")?
        .as_ref()
        .map(member)
        .transpose()
    }

    async fn list_members(&self, tenant: TenantId) -> StoreResult<Vec<Member>> {
        sqlx::query(concat!(
            "SELECT ",
            member_cols!(),
            " FROM members WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(id(tenant.0))
        .fetch_all(&self.pool)
        .await
        .or_store("member")?
        .iter()
        .map(member)
        .collect()
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, member = %mid))]
    async fn set_member_role(
        &self,
        tenant: TenantId,
        mid: MemberId,
        role: MemberRole,
        effects: Effects,
    ) -> StoreResult<bool> {
        let q = sqlx::query(concat!(
            "UPDATE members SET role = $3 WHERE tenant_id = $1 AND id = $2
             AND ($3 = 'admin' OR role <> 'admin' OR disabled_at IS NOT NULL OR ",
            keeps_an_admin!(),
            ")"
        ))
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .bind(role.as_str());
        self.update_member_keeping_an_admin(tenant, mid, q, effects)
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, member = %mid))]
    async fn set_member_disabled(
        &self,
        tenant: TenantId,
        mid: MemberId,
        disabled_at: Option<OffsetDateTime>,
        effects: Effects,
    ) -> StoreResult<bool> {
        let q = sqlx::query(concat!(
            "UPDATE members SET disabled_at = $3 WHERE tenant_id = $1 AND id = $2
             AND ($3::timestamptz IS NULL OR role <> 'admin' OR disabled_at IS NOT NULL OR ",
            keeps_an_admin!(),
            ")"
        ))
        .bind(id(tenant.0))
        .bind(id(mid.0))
        .bind(opt_ts(disabled_at));
        self.update_member_keeping_an_admin(tenant, mid, q, effects)
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, member = %mid))]
    async fn set_member_password(
        &self,
        tenant: TenantId,
        mid: MemberId,
        password_hash: &str,
        effects: Effects,
    ) -> StoreResult<bool> {
        let q =
            sqlx::query("UPDATE members SET password_hash = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(id(tenant.0))
                .bind(id(mid.0))
                .bind(password_hash.to_owned());
        self.update_member(q, effects).await
    }

    async fn create_session(&self, s: &WebSession) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO web_sessions (",
            session_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&s.id_hash)
        .bind(id(s.tenant_id.0))
        .bind(id(s.member_id.0))
        .bind(&s.csrf_token)
        .bind(ts(s.created_at))
        .bind(ts(s.last_seen_at))
        .bind(ts(s.expires_at))
        .execute(&self.pool)
        .await
        .or_store("session")?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &[u8]) -> StoreResult<Option<WebSession>> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM web_sessions WHERE id_hash = $1"
        ))
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await
        .or_store("session")?
        .as_ref()
        .map(session)
        .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8], now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2",
        )
        .bind(id_hash)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .or_store("session")?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &[u8]) -> StoreResult<()> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .or_store("session")?;
        Ok(())
    }

    async fn delete_member_sessions(&self, tenant: TenantId, mid: MemberId) -> StoreResult<()> {
        sqlx::query("DELETE FROM web_sessions WHERE tenant_id = $1 AND member_id = $2")
            .bind(id(tenant.0))
            .bind(id(mid.0))
            .execute(&self.pool)
            .await
            .or_store("session")?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn purge_sessions(
        &self,
        now: OffsetDateTime,
        idle_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1 OR last_seen_at < $2")
                .bind(ts(now))
                .bind(ts(idle_before))
                .execute(&self.pool)
                .await
                .or_store("session")?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(tenant = %inv.tenant_id))]
    async fn create_invitation(&self, inv: &Invitation, effects: Effects) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO invitations (",
            invitation_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(id(inv.id.0))
        .bind(id(inv.tenant_id.0))
        .bind(normalize_email(&inv.email))
        .bind(inv.role.as_str())
        .bind(&inv.token_hash)
        .bind(opt_id(inv.created_by.map(|m| m.0)))
        .bind(ts(inv.created_at))
        .bind(ts(inv.expires_at))
        .bind(opt_ts(inv.used_at))
        .bind(opt_id(inv.resets_member.map(|m| m.0)))
        .execute(&mut *tx)
        .await
        .or_store("invitation")?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")
    }

    async fn list_invitations(&self, tenant: TenantId) -> StoreResult<Vec<Invitation>> {
        sqlx::query(concat!(
            "SELECT ",
            invitation_cols!(),
            " FROM invitations WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(id(tenant.0))
        .fetch_all(&self.pool)
        .await
        .or_store("invitation")?
        .iter()
        .map(invitation)
        .collect()
    }

    async fn find_invitation(&self, token_hash: &[u8]) -> StoreResult<Option<Invitation>> {
        sqlx::query(concat!(
            "SELECT ",
            invitation_cols!(),
            " FROM invitations WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .or_store("invitation")?
        .as_ref()
        .map(invitation)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(tenant = %m.tenant_id, invitation = %inv))]
    async fn accept_invitation(
        &self,
        inv: InvitationId,
        m: &Member,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // The member joins the invitation's tenant only: the tenant is part of the condition.
        let done = sqlx::query(
            "UPDATE invitations SET used_at = $3
             WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL",
        )
        .bind(id(inv.0))
        .bind(id(m.tenant_id.0))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .or_store("invitation")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_member(&mut tx, m).await?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn reset_password_with_invitation(
        &self,
        inv: InvitationId,
        tenant: TenantId,
        member: MemberId,
        password_hash: &str,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "UPDATE invitations SET used_at = $3
             WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL AND resets_member = $4",
        )
        .bind(id(inv.0))
        .bind(id(tenant.0))
        .bind(ts(now))
        .bind(id(member.0))
        .execute(&mut *tx)
        .await
        .or_store("invitation")?;
        if used.rows_affected() == 0 {
            return Ok(false);
        }
        // Any other link made to reset this member's password dies with this reset: one sent
        // earlier, perhaps to a wrong or compromised inbox, must not reset it again.
        sqlx::query(
            "UPDATE invitations SET used_at = $3
             WHERE tenant_id = $1 AND resets_member = $2 AND used_at IS NULL",
        )
        .bind(id(tenant.0))
        .bind(id(member.0))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .or_store("invitation")?;
        let set = sqlx::query(
            "UPDATE members SET password_hash = $3
             WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL",
        )
        .bind(id(tenant.0))
        .bind(id(member.0))
        .bind(password_hash)
        .execute(&mut *tx)
        .await
        .or_store("member")?;
        if set.rows_affected() == 0 {
            // Dropping the transaction rolls the invitation's use back with it.
            return Err(meetgate_store::StoreError::NotFound { what: "member" });
        }
        sqlx::query("DELETE FROM web_sessions WHERE tenant_id = $1 AND member_id = $2")
            .bind(id(tenant.0))
            .bind(id(member.0))
            .execute(&mut *tx)
            .await
            .or_store("web session")?;
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, invitation = %inv))]
    async fn revoke_invitation(
        &self,
        tenant: TenantId,
        inv: InvitationId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE invitations SET expires_at = $3
             WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(id(inv.0))
        .bind(id(tenant.0))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .or_store("invitation")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        effects::write(&mut tx, &effects).await?;
        tx.commit().await.or_store("transaction")?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn upsert_end_user(
        &self,
        tenant: TenantId,
        external_id: &str,
        email: Option<&str>,
        name: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<EndUser> {
        // A missing email or name keeps the stored one: host apps do not always send them.
        let row = sqlx::query(concat!(
            "INSERT INTO end_users (id, tenant_id, external_id, email, name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, external_id) DO UPDATE SET
                email = coalesce(excluded.email, end_users.email),
                name = coalesce(excluded.name, end_users.name)
             RETURNING ",
            end_user_cols!()
        ))
        .bind(id(EndUserId::new().0))
        .bind(id(tenant.0))
        .bind(external_id)
        .bind(email)
        .bind(name)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await
        .or_store("end user")?;
        end_user(&row)
    }

    async fn get_end_user(&self, tenant: TenantId, uid: EndUserId) -> StoreResult<Option<EndUser>> {
        sqlx::query(concat!(
            "SELECT ",
            end_user_cols!(),
            " FROM end_users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.0))
        .bind(id(uid.0))
        .fetch_optional(&self.pool)
        .await
        .or_store("end user")?
        .as_ref()
        .map(end_user)
        .transpose()
    }

    async fn find_end_user(
        &self,
        tenant: TenantId,
        external_id: &str,
    ) -> StoreResult<Option<EndUser>> {
        sqlx::query(concat!(
            "SELECT ",
            end_user_cols!(),
            " FROM end_users WHERE tenant_id = $1 AND external_id = $2"
        ))
        .bind(id(tenant.0))
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await
        .or_store("end user")?
        .as_ref()
        .map(end_user)
        .transpose()
    }
}
