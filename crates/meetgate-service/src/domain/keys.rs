use meetgate_store::models::ApiKey;
use meetgate_store::{ApiKeyId, Effects, TenantId};
use rand::RngCore;
use serde::Serialize;
use time::OffsetDateTime;

use super::{Ctx, Services};
use crate::secrets::{Secret, constant_time_eq, random_token, sha256};
use crate::{Error, Result};

/// An API key as listed: never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    /// The key's public prefix, e.g. `mg_live_3f9a0c1d2e4b5a69`, to recognise it.
    pub prefix: String,
    pub label: String,
    pub environment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A key just created: the only time its secret is visible.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub view: ApiKeyView,
    pub secret: Secret,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            prefix: format!("mg_{}_{}", k.environment, k.lookup),
            label: k.label,
            environment: k.environment,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// Splits `mg_{env}_{lookup}_{secret}`.
fn parse_key(presented: &str) -> Option<(&str, &str)> {
    let rest = presented
        .strip_prefix("mg_live_")
        .or_else(|| presented.strip_prefix("mg_test_"))?;
    let (lookup, secret) = rest.split_at_checked(16)?;
    let secret = secret.strip_prefix('_')?;
    (lookup.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((lookup, secret))
}

/// At most this many active keys per tenant: the one in use and its replacement during rotation.
const MAX_ACTIVE_KEYS: u32 = 2;

impl Services {
    pub async fn create_api_key(
        &self,
        ctx: &Ctx,
        label: &str,
        live: bool,
    ) -> Result<CreatedApiKey> {
        let label = label.trim();
        if label.len() > 80 {
            return Err(Error::validation("label", "must be at most 80 characters"));
        }
        let mut lookup_bytes = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut lookup_bytes);
        let lookup = hex::encode(lookup_bytes);
        let secret_part = random_token(32);
        let environment = if live { "live" } else { "test" };
        let secret = Secret::new(format!("mg_{environment}_{lookup}_{secret_part}"));
        let key = ApiKey {
            id: ApiKeyId::new(),
            tenant_id: ctx.tenant(),
            lookup,
            secret_hash: sha256(secret_part.as_bytes()),
            label: if label.is_empty() {
                "API key".into()
            } else {
                label.to_owned()
            },
            environment: environment.into(),
            created_at: ctx.now,
            last_used_at: None,
            revoked_at: None,
        };
        let effects = Effects::none().audit(ctx.audit(
            "api_key.created",
            "api_key",
            Some(key.id.to_string()),
            "success",
            serde_json::json!({ "label": key.label, "environment": environment }),
        ));
        self.store
            .create_api_key(&key, MAX_ACTIVE_KEYS, effects)
            .await
            .map_err(|e| match e {
                meetgate_store::StoreError::Precondition {
                    what: "API key limit",
                } => Error::Conflict(format!(
                    "this tenant already has {MAX_ACTIVE_KEYS} active API keys; revoke the old one after switching to the new one"
                )),
                other => Error::from(other),
            })?;
        Ok(CreatedApiKey {
            view: key.into(),
            secret,
        })
    }

    pub async fn list_api_keys(&self, ctx: &Ctx) -> Result<Vec<ApiKeyView>> {
        Ok(self
            .store
            .list_api_keys(ctx.tenant())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn revoke_api_key(&self, ctx: &Ctx, id: ApiKeyId) -> Result<()> {
        let effects = Effects::none().audit(ctx.audit(
            "api_key.revoked",
            "api_key",
            Some(id.to_string()),
            "success",
            serde_json::json!({}),
        ));
        let revoked = self
            .store
            .revoke_api_key(ctx.tenant(), id, ctx.now, effects)
            .await?;
        self.lookups.api_keys.remove_where(|key| key.id == id);
        if revoked {
            Ok(())
        } else {
            Err(Error::NotFound { what: "API key" })
        }
    }

    /// Checks a presented key and returns the context it grants. Unknown, malformed, revoked and
    /// wrong keys all fail the same way; the hash comparison is constant-time.
    pub async fn authenticate_api_key(
        &self,
        presented: &str,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Ctx> {
        let (lookup, secret) = parse_key(presented).ok_or(Error::Unauthenticated)?;
        let key = self
            .lookups
            .api_keys
            .get_or_load(lookup.to_owned(), now, || self.store.find_api_key(lookup))
            .await?
            .ok_or(Error::Unauthenticated)?;
        let matches = constant_time_eq(&sha256(secret.as_bytes()), &key.secret_hash);
        if !matches || key.revoked_at.is_some() {
            return Err(Error::Unauthenticated);
        }
        // Writing last_used on every request would turn reads into writes; once a minute is
        // enough to tell an operator which key is in use.
        if key
            .last_used_at
            .is_none_or(|t| now - t > time::Duration::minutes(1))
        {
            let _ = self.store.touch_api_key(key.id, now).await;
            // The cached copy still has the old time; the next request reads the row again.
            self.lookups.api_keys.remove(lookup);
        }
        Ok(Ctx::for_api_key(
            key.tenant_id,
            key.id.to_string(),
            request_id,
            now,
        ))
    }

    /// The tenant of an API key, for operator tools.
    pub fn tenant_of(ctx: &Ctx) -> TenantId {
        ctx.tenant()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn parses_only_well_formed_keys() {
        assert_eq!(
            parse_key("mg_live_0123456789abcdef_s3cr3t"),
            Some(("0123456789abcdef", "s3cr3t"))
        );
        assert_eq!(
            parse_key("mg_test_0123456789abcdef_a_b-c"),
            Some(("0123456789abcdef", "a_b-c"))
        );
        assert_eq!(parse_key("mg_live_0123456789abcdef"), None);
        assert_eq!(parse_key("mg_prod_0123456789abcdef_x"), None);
        assert_eq!(parse_key("mg_live_0123456789abcdeg_x"), None);
        assert_eq!(parse_key("mg_live_é123456789abcdef_x"), None);
    }
}
