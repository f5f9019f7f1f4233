//! Events for the host app: delivered from the outbox to each webhook endpoint, signed per the
//! Standard Webhooks specification, retried with exponential backoff and jitter.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use meetgate_store::models::{
    Delivery, DeliveryJob, DeliveryOutcome, ListOrder, OutboxEvent, SecretRotation, WebhookEndpoint,
};
use meetgate_store::{DeliveryId, Effects, SealedColumn, WebhookEndpointId};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use super::{Ctx, Services};
use crate::secrets::{Secret, random_token};
use crate::{Error, Result};

pub const EVENT_TYPES: [&str; 10] = [
    "connection.connected",
    "connection.needs_reauth",
    "connection.revoked",
    "connection.superseded",
    "meeting.created",
    "meeting.updated",
    "meeting.deleted",
    "meeting.started",
    "meeting.ended",
    "meeting.participant_joined",
];

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    pub url: String,
    /// Empty or absent: every event type.
    #[serde(default)]
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookEndpointView {
    pub id: WebhookEndpointId,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// While a rotated-out secret still signs deliveries (beside the current one): until when.
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    /// Only in the answer to a create or a rotation: `whsec_...`, for verifying signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
}

/// How long the secret a rotation replaces keeps signing deliveries beside the new one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotationRequest {
    /// Seconds, 0 to 604800 (7 days); default 86400 (24 hours). 0 stops signing with the old
    /// secret at once: for a secret that leaked.
    pub keep_previous_secs: Option<u32>,
}

/// The default and the longest time a rotated-out secret keeps signing.
pub const KEEP_PREVIOUS_SECRET_SECS: u32 = 24 * 3600;
pub const MAX_KEEP_PREVIOUS_SECRET_SECS: u32 = 7 * 24 * 3600;

/// A page of the delivery log, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryView>,
    /// Send it as `cursor` for the page before this one (older deliveries); `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: DeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: String,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: format!("evt_{}", d.event_id.0.simple()),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

fn view(
    endpoint: &WebhookEndpoint,
    secret: Option<Secret>,
    now: OffsetDateTime,
) -> WebhookEndpointView {
    WebhookEndpointView {
        id: endpoint.id,
        url: endpoint.url.clone(),
        event_types: endpoint.event_types.clone(),
        description: endpoint.description.clone(),
        created_at: endpoint.created_at,
        previous_secret_expires_at: live_previous_secret(endpoint, now).map(|(_, until)| until),
        secret,
    }
}

/// The secret a rotation replaced, with until when, while it still signs: an expired one the
/// clean-up has not forgotten yet signs nothing.
fn live_previous_secret(
    endpoint: &WebhookEndpoint,
    now: OffsetDateTime,
) -> Option<(&meetgate_store::SealedValue, OffsetDateTime)> {
    let sealed = endpoint.previous_secret.as_ref()?;
    let until = endpoint
        .previous_secret_expires_at
        .filter(|until| *until > now)?;
    Some((sealed, until))
}

fn new_secret() -> String {
    format!("whsec_{}", STANDARD.encode(random_token(24).as_bytes()))
}

/// The `webhook-signature` header: one `v1,...` signature per secret, space-separated, so that
/// a receiver holding either secret accepts the message during a rotation.
fn signature_header(
    secrets: &[Secret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let signatures: Option<Vec<String>> = secrets
        .iter()
        .map(|s| standard_webhook_signature(s.expose(), msg_id, timestamp, body))
        .collect();
    Some(signatures?.join(" "))
}

/// `v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))` with the key from `whsec_<base64>`.
pub fn standard_webhook_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Seconds to wait before attempt `n + 1` (n >= 1): 30 s doubling to at most 12 h, with up to 20%
/// jitter so that a recovering endpoint is not hit by every retry at once.
fn retry_delay(attempts: i32) -> time::Duration {
    let base = 30i64 * (1i64 << (attempts.clamp(1, 12) - 1));
    let base = base.min(12 * 3600);
    let jitter = rand::thread_rng().gen_range(0..=base / 5);
    time::Duration::seconds(base + jitter)
}

/// Webhook endpoints one tenant may have: every event goes to each of them, and their
/// deliveries share the delivery job with every other tenant's.
pub const MAX_WEBHOOK_ENDPOINTS: u32 = 10;

impl Services {
    pub async fn create_webhook_endpoint(
        &self,
        ctx: &Ctx,
        new: NewWebhookEndpoint,
    ) -> Result<WebhookEndpointView> {
        if new.url.len() > 2048 {
            return Err(Error::validation("url", "must be at most 2048 characters"));
        }
        if let Some(d) = &new.description
            && (d.chars().count() > 200 || d.chars().any(char::is_control))
        {
            return Err(Error::validation(
                "description",
                "must be at most 200 characters, without control characters",
            ));
        }
        let url =
            url::Url::parse(&new.url).map_err(|_| Error::validation("url", "is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::validation("url", "must be an http(s) URL"));
        }
        if !self.config.outbound.allow_private_webhooks
            && let Some(why) = super::egress::refuse_private_target(&url).await
        {
            return Err(Error::validation("url", why));
        }
        for t in &new.event_types {
            if !EVENT_TYPES.contains(&t.as_str()) {
                return Err(Error::validation(
                    "event_types",
                    format!("unknown event type {t:?}"),
                ));
            }
        }
        let id = WebhookEndpointId::new();
        let secret = new_secret();
        let endpoint = WebhookEndpoint {
            id,
            tenant_id: ctx.tenant(),
            url: url.to_string(),
            secret: self.vault.seal_str(
                SealedColumn::WebhookEndpointSecret,
                Some(ctx.tenant()),
                &id.to_string(),
                &secret,
            )?,
            previous_secret: None,
            previous_secret_expires_at: None,
            event_types: new.event_types,
            description: new.description.filter(|d| !d.trim().is_empty()),
            created_at: ctx.now,
            disabled_at: None,
        };
        let effects = Effects::none().audit(ctx.audit(
            "webhook_endpoint.created",
            "webhook_endpoint",
            Some(id.to_string()),
            "success",
            serde_json::json!({ "url": endpoint.url }),
        ));
        self.store
            .create_webhook_endpoint(&endpoint, MAX_WEBHOOK_ENDPOINTS, effects)
            .await
            .map_err(|e| match e {
                meetgate_store::StoreError::Precondition {
                    what: "webhook endpoint limit",
                } => Error::Conflict(format!(
                    "this tenant already has {MAX_WEBHOOK_ENDPOINTS} webhook endpoints; delete one first (one endpoint can take every event type)"
                )),
                other => Error::from(other),
            })?;
        Ok(view(&endpoint, Some(Secret::new(secret)), ctx.now))
    }

    pub async fn list_webhook_endpoints(&self, ctx: &Ctx) -> Result<Vec<WebhookEndpointView>> {
        let endpoints = self.store.list_webhook_endpoints(ctx.tenant()).await?;
        Ok(endpoints
            .iter()
            .filter(|e| e.disabled_at.is_none())
            .map(|e| view(e, None, ctx.now))
            .collect())
    }

    /// Gives the endpoint a new signing secret, answered once. The secret it replaces keeps
    /// signing deliveries beside the new one for `keep_previous_secs`, so that the host app can
    /// deploy the new secret without rejecting an event meanwhile; a second rotation drops it.
    pub async fn rotate_webhook_secret(
        &self,
        ctx: &Ctx,
        id: WebhookEndpointId,
        request: SecretRotationRequest,
    ) -> Result<WebhookEndpointView> {
        let keep = request
            .keep_previous_secs
            .unwrap_or(KEEP_PREVIOUS_SECRET_SECS);
        if keep > MAX_KEEP_PREVIOUS_SECRET_SECS {
            return Err(Error::validation(
                "keep_previous_secs",
                format!("must be at most {MAX_KEEP_PREVIOUS_SECRET_SECS} (7 days)"),
            ));
        }
        let not_found = || Error::NotFound {
            what: "webhook endpoint",
        };
        let mut endpoint = self
            .store
            .get_webhook_endpoint(ctx.tenant(), id)
            .await?
            .filter(|e| e.disabled_at.is_none())
            .ok_or_else(not_found)?;
        let row = id.to_string();
        let tenant = Some(ctx.tenant());
        let secret = new_secret();
        // Without a grace period the old secret is never opened: a rotation at once also
        // replaces a secret the vault can no longer read.
        let (previous, previous_expires_at) = if keep == 0 {
            (None, None)
        } else {
            let current = Secret::new(self.vault.open_string(
                SealedColumn::WebhookEndpointSecret,
                tenant,
                &row,
                &endpoint.secret,
            )?);
            let sealed = self.vault.seal_str(
                SealedColumn::WebhookEndpointPreviousSecret,
                tenant,
                &row,
                current.expose(),
            )?;
            (
                Some(sealed),
                Some(ctx.now + time::Duration::seconds(i64::from(keep))),
            )
        };
        let rotation = SecretRotation {
            expected: endpoint.secret.clone(),
            secret: self.vault.seal_str(
                SealedColumn::WebhookEndpointSecret,
                tenant,
                &row,
                &secret,
            )?,
            previous,
            previous_expires_at,
        };
        let effects = Effects::none().audit(ctx.audit(
            "webhook_endpoint.secret_rotated",
            "webhook_endpoint",
            Some(row.clone()),
            "success",
            serde_json::json!({
                "previous_secret_expires_at": previous_expires_at
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
            }),
        ));
        let rotated = self
            .store
            .rotate_webhook_endpoint_secret(ctx.tenant(), id, &rotation, effects)
            .await
            .map_err(|e| match e {
                meetgate_store::StoreError::VersionConflict { .. } => Error::Conflict(
                    "the endpoint's secret was rotated by another request at the same moment; \
                     that request's secret is the current one (rotate again for a new one)"
                        .into(),
                ),
                other => Error::from(other),
            })?;
        if !rotated {
            return Err(not_found());
        }
        endpoint.secret = rotation.secret;
        endpoint.previous_secret = rotation.previous;
        endpoint.previous_secret_expires_at = rotation.previous_expires_at;
        Ok(view(&endpoint, Some(Secret::new(secret)), ctx.now))
    }

    pub async fn delete_webhook_endpoint(&self, ctx: &Ctx, id: WebhookEndpointId) -> Result<()> {
        let effects = Effects::none().audit(ctx.audit(
            "webhook_endpoint.deleted",
            "webhook_endpoint",
            Some(id.to_string()),
            "success",
            serde_json::json!({}),
        ));
        if self
            .store
            .delete_webhook_endpoint(ctx.tenant(), id, ctx.now, effects)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound {
                what: "webhook endpoint",
            })
        }
    }

    /// Deliveries of the tenant (or of one endpoint), newest first, continuing before `cursor`
    /// (a page's `next_cursor`).
    pub async fn list_deliveries(
        &self,
        ctx: &Ctx,
        endpoint: Option<WebhookEndpointId>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<DeliveryPage> {
        let before = cursor
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.parse().map_err(|_| {
                    Error::validation("cursor", "is not a cursor from a previous page")
                })
            })
            .transpose()?;
        let limit = limit.clamp(1, 200);
        if let Some(id) = endpoint
            && self
                .store
                .get_webhook_endpoint(ctx.tenant(), id)
                .await?
                .is_none()
        {
            return Err(Error::NotFound {
                what: "webhook endpoint",
            });
        }
        let mut rows = self
            .store
            .list_deliveries(
                ctx.tenant(),
                endpoint,
                before,
                ListOrder::NewestFirst,
                limit + 1,
            )
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(DeliveryPage {
            next_cursor: rows.last().filter(|_| more).map(|d| d.id.to_string()),
            data: rows.into_iter().map(Into::into).collect(),
        })
    }

    /// One round of the delivery job, waiting for its sends: at most `limit` deliveries, oldest
    /// first, with no share per endpoint. Returns how many were attempted. The background job
    /// keeps its slots full instead ([`super::deliveries::DeliverySlots`]).
    pub async fn deliver_step(&self, now: OffsetDateTime, limit: u32) -> Result<usize> {
        let capacity = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut slots = super::deliveries::DeliverySlots::new(capacity, limit);
        let count = slots.fill(self, now).await?;
        slots.drain().await;
        Ok(count)
    }

    /// Sends one claimed delivery and records its outcome.
    pub(crate) async fn send_and_record(&self, job: DeliveryJob, now: OffsetDateTime) {
        let outcome = self.deliver(&job, now).await;
        match self
            .store
            .record_delivery(job.delivery.id, job.delivery.attempts, &outcome, now)
            .await
        {
            Ok(()) => {}
            // Its endpoint was deleted while it was being sent (which deletes the endpoint's
            // pending deliveries), or this send outlived its lease and another worker took the
            // delivery over: that one's result stands.
            Err(meetgate_store::StoreError::NotFound { .. }) => {
                tracing::debug!("a delivery ended elsewhere while it was being sent");
            }
            Err(e) => tracing::warn!(error = %e, "recording a delivery outcome failed"),
        }
    }

    async fn deliver(&self, job: &DeliveryJob, now: OffsetDateTime) -> DeliveryOutcome {
        let DeliveryJob {
            delivery,
            event,
            endpoint,
        } = job;
        if endpoint.disabled_at.is_some() {
            // Deleted while this delivery was being fanned out.
            return DeliveryOutcome::GiveUp {
                status_code: None,
                error: "the endpoint was deleted".into(),
            };
        }
        let mut secrets = match self.vault.open_string(
            SealedColumn::WebhookEndpointSecret,
            Some(endpoint.tenant_id),
            &endpoint.id.to_string(),
            &endpoint.secret,
        ) {
            Ok(s) => vec![Secret::new(s)],
            Err(e) => {
                return DeliveryOutcome::GiveUp {
                    status_code: None,
                    error: format!("endpoint secret unreadable: {e}"),
                };
            }
        };
        if let Some(previous) = self.previous_secret(endpoint, now) {
            secrets.push(previous);
        }
        // Names are checked by the client's resolver; an address in the URL never reaches it.
        if !self.config.outbound.allow_private_webhooks
            && let Ok(url) = url::Url::parse(&endpoint.url)
            && let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = url.host()
            && let Some(why) = super::egress::refuse_private_target(&url).await
        {
            return DeliveryOutcome::GiveUp {
                status_code: None,
                error: format!("the endpoint URL {why}"),
            };
        }
        let body = serde_json::to_vec(&event.payload).unwrap_or_default();
        let msg_id = msg_id(event);
        let ts = now.unix_timestamp();
        let Some(signature) = signature_header(&secrets, &msg_id, ts, &body) else {
            return DeliveryOutcome::GiveUp {
                status_code: None,
                error: "endpoint secret malformed".into(),
            };
        };
        let sent = self
            .hooks_http
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        // The claim counted this attempt already.
        let attempts = delivery.attempts;
        let (status_code, error) = match sent {
            Ok(response) if response.status().is_success() => {
                metrics::counter!("meetgate_webhook_deliveries_total", "outcome" => "delivered")
                    .increment(1);
                return DeliveryOutcome::Delivered {
                    status_code: response.status().as_u16() as i32,
                };
            }
            Ok(response) => (
                Some(response.status().as_u16() as i32),
                format!("endpoint answered HTTP {}", response.status().as_u16()),
            ),
            Err(e) => (
                None,
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    meetgate_zoom::transport_error_text(&e)
                },
            ),
        };
        if attempts >= self.config.jobs.webhook_max_attempts as i32 {
            metrics::counter!("meetgate_webhook_deliveries_total", "outcome" => "gave_up")
                .increment(1);
            DeliveryOutcome::GiveUp { status_code, error }
        } else {
            metrics::counter!("meetgate_webhook_deliveries_total", "outcome" => "retry")
                .increment(1);
            DeliveryOutcome::Retry {
                status_code,
                error,
                next_attempt_at: now + retry_delay(attempts),
            }
        }
    }
}

impl Services {
    /// The secret a rotation replaced, while it still signs. One that cannot be opened is left
    /// out (the delivery is still signed with the current secret) and logged.
    fn previous_secret(&self, endpoint: &WebhookEndpoint, now: OffsetDateTime) -> Option<Secret> {
        let (sealed, _) = live_previous_secret(endpoint, now)?;
        match self.vault.open_string(
            SealedColumn::WebhookEndpointPreviousSecret,
            Some(endpoint.tenant_id),
            &endpoint.id.to_string(),
            sealed,
        ) {
            Ok(s) => Some(Secret::new(s)),
            Err(e) => {
                tracing::warn!(endpoint = %endpoint.id, error = %e, "a webhook endpoint's previous secret is unreadable; signing with the current one only");
                None
            }
        }
    }
}

/// The Standard Webhooks message id: the event's id, stable across retries.
fn msg_id(event: &OutboxEvent) -> String {
    format!("evt_{}", event.id.0.simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_signs_with_both_secrets_each_verifiable_alone() {
        let new = Secret::new("whsec_bmV3LXNlY3JldC12YWx1ZQ==");
        let old = Secret::new("whsec_b2xkLXNlY3JldC12YWx1ZQ==");
        let body = br#"{"type":"meeting.created"}"#;
        let header =
            signature_header(&[new.clone(), old.clone()], "evt_1", 1_700_000_000, body).unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        let alone = |s: &Secret| {
            standard_webhook_signature(s.expose(), "evt_1", 1_700_000_000, body).unwrap()
        };
        assert_eq!(parts[0], alone(&new));
        assert_eq!(parts[1], alone(&old));
        assert_ne!(parts[0], parts[1]);
        assert_eq!(
            signature_header(std::slice::from_ref(&new), "evt_1", 1_700_000_000, body).unwrap(),
            alone(&new)
        );
        assert!(signature_header(&[new, Secret::new("not-a-secret")], "evt_1", 1, body).is_none());
    }

    #[test]
    fn a_new_endpoints_secret_is_in_its_json_and_never_in_debug() {
        let endpoint = WebhookEndpoint {
            id: WebhookEndpointId::new(),
            tenant_id: meetgate_store::TenantId::new(),
            url: "https://host.example/hooks".into(),
            secret: meetgate_store::SealedValue(Vec::new()),
            previous_secret: None,
            previous_secret_expires_at: None,
            event_types: Vec::new(),
            description: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            disabled_at: None,
        };
        let shown = view(
            &endpoint,
            Some(Secret::new("whsec_c2VjcmV0LXZhbHVl")),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert!(!format!("{shown:?}").contains("whsec_"));
        let json = serde_json::to_value(&shown).unwrap();
        assert_eq!(json["secret"], "whsec_c2VjcmV0LXZhbHVl");
        assert!(
            serde_json::to_value(view(&endpoint, None, OffsetDateTime::UNIX_EPOCH))
                .unwrap()
                .get("secret")
                .is_none()
        );
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test vectors.
        let sig = standard_webhook_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        assert!(retry_delay(1).whole_seconds() >= 30 && retry_delay(1).whole_seconds() <= 36);
        assert!(retry_delay(5).whole_seconds() >= 480);
        assert!(retry_delay(40).whole_seconds() <= 12 * 3600 * 6 / 5);
    }
}
