//! Zoom's webhooks: verified over the raw bytes, stored in an inbox (de-duplicated), processed
//! at once when possible and by the inbox job otherwise.

use meetgate_store::models::{ConnectionState, InboxItem, MeetingStatus};
use meetgate_store::{Effects, InboxItemId, SealedColumn, SealedValue, ZoomAppId};
use meetgate_zoom::{SignatureError, url_validation_response, verify_webhook_signature};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::context::{ActorKind, event_for};
use super::{Ctx, Services};
use crate::secrets::sha256;
use crate::{Error, Result};

/// What the webhook endpoint answers Zoom.
#[derive(Debug)]
pub enum WebhookReply {
    /// `endpoint.url_validation`: this JSON, 200.
    Validation(Value),
    /// Stored (or a duplicate): 204.
    Accepted,
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    event_ts: Option<Value>,
    #[serde(default)]
    payload: Value,
}

/// When Zoom says the event happened, but no later than it arrived: a status change applies
/// only if it is newer than the last one, so a time ahead would freeze the meeting's status.
fn event_time(envelope: &Envelope, received: OffsetDateTime) -> OffsetDateTime {
    let millis = match &envelope.event_ts {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    millis
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok())
        .unwrap_or(received)
        .min(received)
}

/// How long a worker holds an inbox item before another may take it.
const INBOX_LEASE: time::Duration = time::Duration::minutes(2);

/// How long a failing event is retried before it is abandoned. Three days of retries (about 40
/// attempts once the back-off reaches two hours) outlast any outage meetgate recovers from on
/// its own; a meeting's start or end that old is history, not news.
pub const INBOX_GIVE_UP_AFTER: time::Duration = time::Duration::days(3);

/// Whether a failing `item` has been retried long enough to be given up.
fn overdue(item: &InboxItem, now: OffsetDateTime) -> bool {
    now - item.received_at >= INBOX_GIVE_UP_AFTER
}

impl Services {
    /// Handles one webhook delivery for app `app_id`. The signature is checked over the raw
    /// body, in constant time, against the current and the next secret, before anything is
    /// parsed.
    #[tracing::instrument(skip_all, fields(app = %app_id))]
    pub async fn receive_zoom_webhook(
        &self,
        app_id: ZoomAppId,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        request_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<WebhookReply> {
        let app = self
            .store
            .get_zoom_app(app_id)
            .await?
            .ok_or(Error::NotFound { what: "Zoom app" })?;
        let secrets = self.webhook_secrets(&app)?;
        if secrets.is_empty() {
            return Err(Error::Forbidden(
                "this Zoom app has no webhook secret token configured".into(),
            ));
        }
        let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose().as_bytes()).collect();
        let signed_with = verify_webhook_signature(
            &keys,
            timestamp,
            signature,
            body,
            now.unix_timestamp(),
            self.config.zoom.webhook_tolerance_secs,
        )
        .map_err(|e| {
            metrics::counter!("meetgate_zoom_webhooks_total", "outcome" => "rejected").increment(1);
            Error::Forbidden(match e {
                SignatureError::Stale => "webhook timestamp is too old or in the future".into(),
                other => format!("webhook signature rejected: {other}"),
            })
        })?;
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|_| Error::validation("body", "is not a Zoom event"))?;
        if envelope.event == "endpoint.url_validation" {
            let plain = envelope
                .payload
                .get("plainToken")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // During a rotation Zoom signs with the secret it holds, which may be the next one;
            // its validation only passes when answered with that same secret.
            let secret = keys.get(signed_with).copied().unwrap_or_default();
            let answer = url_validation_response(secret, plain).ok_or_else(|| {
                Error::validation("payload.plainToken", "is not an acceptable token")
            })?;
            return Ok(WebhookReply::Validation(answer));
        }
        let id = InboxItemId::new();
        let event_at = event_time(&envelope, now);
        // Zoom redelivers the same event with the same body; the body hash is the dedup key.
        let dedup_key = format!("{}:{}", app.id, hex::encode(sha256(body)));
        let item = InboxItem {
            id,
            zoom_app_id: app.id,
            dedup_key,
            event_type: envelope.event.clone(),
            payload: self
                .vault
                .seal(SealedColumn::InboxPayload, None, &id.to_string(), body)?,
            event_at,
            received_at: now,
            processed_at: None,
            attempts: 0,
            // Processed inline below; the job takes it only if this process dies first.
            next_attempt_at: now + INBOX_LEASE,
            last_error: None,
        };
        if !self.store.insert_inbox_item(&item).await? {
            metrics::counter!("meetgate_zoom_webhooks_total", "outcome" => "duplicate")
                .increment(1);
            return Ok(WebhookReply::Accepted);
        }
        metrics::counter!("meetgate_zoom_webhooks_total", "outcome" => "accepted").increment(1);
        // Deauthorization must take effect at once; the rest is cheap too. If processing fails
        // here, the inbox job retries it.
        if let Err(e) = self.process_inbox_item(&item, request_id, now).await {
            tracing::warn!(error = %e, event = %item.event_type, "processing a Zoom event failed; the inbox job will retry");
            let _ = self
                .store
                .fail_inbox_item(
                    item.id,
                    item.attempts,
                    &e.to_string(),
                    now + time::Duration::seconds(30),
                )
                .await;
        }
        Ok(WebhookReply::Accepted)
    }

    /// One round of the inbox job.
    pub async fn inbox_step(&self, now: OffsetDateTime, limit: u32) -> Result<usize> {
        let items = self
            .store
            .claim_inbox_items(now, INBOX_LEASE, limit)
            .await?;
        let count = items.len();
        for item in items {
            let Err(e) = self.process_inbox_item(&item, None, now).await else {
                continue;
            };
            // A deauthorization is never abandoned: giving up would keep the data Zoom told
            // meetgate to delete, so it stays due (and logs an error at every attempt) until an
            // operator mends what makes it fail.
            let overdue = overdue(&item, now);
            if overdue && item.event_type != "app_deauthorized" {
                tracing::error!(error = %e, event = %item.event_type, item = %item.id, attempts = item.attempts, "abandoning a Zoom event that kept failing");
                metrics::counter!("meetgate_zoom_events_abandoned_total").increment(1);
                let _ = self
                    .store
                    .abandon_inbox_item(item.id, &e.to_string(), now)
                    .await;
                continue;
            }
            if overdue {
                tracing::error!(error = %e, item = %item.id, attempts = item.attempts, "a Zoom deauthorization keeps failing; the user's data stays until it succeeds");
            }
            let delay = time::Duration::seconds(30 * (1 << item.attempts.clamp(0, 8)) as i64);
            let _ = self
                .store
                .fail_inbox_item(item.id, item.attempts, &e.to_string(), now + delay)
                .await;
        }
        Ok(count)
    }

    /// `request_id`: the webhook request that delivered the item, when processed inline; the
    /// audit entries it writes carry it.
    async fn process_inbox_item(
        &self,
        item: &InboxItem,
        request_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let body = self.vault.open(
            SealedColumn::InboxPayload,
            None,
            &item.id.to_string(),
            &item.payload,
        )?;
        let envelope: Envelope = serde_json::from_slice(&body).map_err(Error::internal)?;
        let mut effects = Effects::none();
        match envelope.event.as_str() {
            "app_deauthorized" => {
                self.deauthorize(item, &envelope.payload, request_id, now)
                    .await?
            }
            "meeting.started" | "meeting.ended" => {
                let status = if envelope.event == "meeting.started" {
                    MeetingStatus::Started
                } else {
                    MeetingStatus::Ended
                };
                self.meeting_status_changed(item, &envelope.payload, status, request_id)
                    .await?;
            }
            "meeting.participant_joined" => {
                // Forwarded without the participant's name or email (health data).
                if let Some(zoom_id) = zoom_meeting_id(&envelope.payload) {
                    for meeting in self
                        .store
                        .find_meetings_by_zoom_id(item.zoom_app_id, zoom_id)
                        .await?
                    {
                        effects = effects.event(event_for(
                            meeting.tenant_id,
                            "meeting.participant_joined",
                            json!({ "meeting_id": meeting.id, "zoom_meeting_id": zoom_id }),
                            now,
                        ));
                    }
                }
            }
            _ => {}
        }
        // False: another worker got there first and wrote the effects.
        self.store.finish_inbox_item(item.id, now, effects).await?;
        Ok(())
    }

    /// `app_deauthorized`: delete that user's tokens at once (the version bump stops a refresh in
    /// flight from writing them back), forget the Zoom-derived data, tell the tenants. Replaying
    /// it changes nothing.
    async fn deauthorize(
        &self,
        item: &InboxItem,
        payload: &Value,
        request_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let Some(user_id) = payload.get("user_id").and_then(Value::as_str) else {
            return Ok(());
        };
        for conn in self
            .store
            .find_connections_by_zoom_user(item.zoom_app_id, user_id)
            .await?
        {
            if let Some(reconnected) = conn.connected_at.filter(|at| *at > item.event_at) {
                // Connected again since the user removed the app (this is a late retry): the
                // new grant is not the one Zoom ended. The meetings made before it are purged
                // still, in case an earlier attempt ended the grant and failed before its purge.
                // The cutoff is the reconnection, on meetgate's clock like the meetings' times
                // (Zoom's event time is on Zoom's).
                self.purge_meetings_of(conn.tenant_id, conn.id, Some(reconnected), now)
                    .await?;
                continue;
            }
            let ctx = Ctx::system(conn.tenant_id, ActorKind::Zoom, now).with_request_id(request_id);
            let already = conn.state == ConnectionState::Revoked
                && conn.access_token.is_none()
                && conn.refresh_token.is_none();
            if already {
                // Ended by an earlier attempt whose purge may have failed: purging again is
                // harmless, and the retry must not skip it.
                self.purge_meetings_of(conn.tenant_id, conn.id, None, now)
                    .await?;
                continue;
            }
            let effects = Effects::none()
                .audit(ctx.audit("connection.deauthorized", "connection", Some(conn.id.to_string()), "success", json!({ "zoom_user_id": user_id })))
                .event(ctx.event("connection.revoked", json!({ "connection_id": conn.id, "end_user_id": conn.end_user_id, "reason": "the user removed the app in Zoom" })));
            self.store
                .end_connection(
                    conn.tenant_id,
                    conn.id,
                    ConnectionState::Revoked,
                    "the user removed the app in Zoom (app_deauthorized)",
                    true,
                    now,
                    effects,
                )
                .await?;
            self.purge_meetings_of(conn.tenant_id, conn.id, None, now)
                .await?;
        }
        Ok(())
    }

    /// Replaces the sealed details of every meeting of a connection with an empty document.
    async fn purge_meetings_of(
        &self,
        tenant: meetgate_store::TenantId,
        connection: meetgate_store::ConnectionId,
        created_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        // Details are sealed per row, so one replacement cannot be sealed for all of them; an
        // empty value is the explicit "purged" tombstone that `open_details` reads as empty.
        let purged = SealedValue(Vec::new());
        self.store
            .purge_meeting_details(tenant, connection, &purged, created_before, now)
            .await?;
        Ok(())
    }

    async fn meeting_status_changed(
        &self,
        item: &InboxItem,
        payload: &Value,
        status: MeetingStatus,
        request_id: Option<&str>,
    ) -> Result<()> {
        let Some(zoom_id) = zoom_meeting_id(payload) else {
            return Ok(());
        };
        for meeting in self
            .store
            .find_meetings_by_zoom_id(item.zoom_app_id, zoom_id)
            .await?
        {
            let ctx = Ctx::system(meeting.tenant_id, ActorKind::Zoom, item.event_at)
                .with_request_id(request_id);
            let event_type = if status == MeetingStatus::Started {
                "meeting.started"
            } else {
                "meeting.ended"
            };
            let external = self
                .external_id_of(meeting.tenant_id, meeting.end_user_id)
                .await;
            let effects = Effects::none().event(ctx.event(
                event_type,
                json!({ "meeting_id": meeting.id, "user": external, "zoom_meeting_id": zoom_id }),
            ));
            self.store
                .set_meeting_status(
                    meeting.tenant_id,
                    meeting.id,
                    status,
                    item.event_at,
                    effects,
                )
                .await?;
        }
        Ok(())
    }
}

/// `payload.object.id`: a string in webhooks (an integer in the REST API).
fn zoom_meeting_id(payload: &Value) -> Option<i64> {
    match payload.get("object")?.get("id")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}
