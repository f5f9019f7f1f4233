use meetgate_store::models::{
    Delivery, DeliveryJob, DeliveryOutcome, InboxItem, ListOrder, OutboxEvent, SecretRotation,
    WebhookEndpoint,
};
use meetgate_store::{
    DeliveryId, DeliveryShare, Effects, InboxItemId, OffsetDateTime, OutboxEventId, StoreError,
    StoreResult, TenantId, WebhookEndpointId, WebhookStore, ZoomAppId,
};

use crate::SqliteStore;
use crate::convert::{RowExt, corrupt, id, opt_id, opt_ts, ts};
use crate::effects;
use crate::errors::OrStore;
use crate::sql::{QueryBuilder, Row, query};

macro_rules! inbox_cols {
    () => {
        "id, zoom_app_id, dedup_key, event_type, payload, event_at, received_at, processed_at, \
         attempts, next_attempt_at, last_error"
    };
}

macro_rules! endpoint_cols {
    () => {
        "id, tenant_id, url, secret, previous_secret, previous_secret_expires_at, event_types, \
         description, created_at, disabled_at"
    };
}

macro_rules! event_cols {
    () => {
        "id, tenant_id, event_type, payload, created_at"
    };
}

macro_rules! delivery_cols {
    () => {
        "id, tenant_id, event_id, endpoint_id, status, attempts, next_attempt_at, \
         last_status_code, last_error, created_at, delivered_at"
    };
}

fn inbox_item(row: &Row) -> StoreResult<InboxItem> {
    Ok(InboxItem {
        id: InboxItemId(row.uuid("id")?),
        zoom_app_id: ZoomAppId(row.uuid("zoom_app_id")?),
        dedup_key: row.text("dedup_key")?,
        event_type: row.text("event_type")?,
        payload: row.sealed("payload")?,
        event_at: row.time("event_at")?,
        received_at: row.time("received_at")?,
        processed_at: row.opt_time("processed_at")?,
        attempts: row.int32("attempts")?,
        next_attempt_at: row.time("next_attempt_at")?,
        last_error: row.opt_text("last_error")?,
    })
}

fn endpoint_with_prefix(row: &Row, p: &str) -> StoreResult<WebhookEndpoint> {
    let col = |c: &str| format!("{p}{c}");
    let types = row.json(&col("event_types"))?;
    Ok(WebhookEndpoint {
        id: WebhookEndpointId(row.uuid(&col("id"))?),
        tenant_id: TenantId(row.uuid(&col("tenant_id"))?),
        url: row.text(&col("url"))?,
        secret: row.sealed(&col("secret"))?,
        previous_secret: row.opt_sealed(&col("previous_secret"))?,
        previous_secret_expires_at: row.opt_time(&col("previous_secret_expires_at"))?,
        event_types: serde_json::from_value(types).map_err(|e| corrupt("event_types", e))?,
        description: row.opt_text(&col("description"))?,
        created_at: row.time(&col("created_at"))?,
        disabled_at: row.opt_time(&col("disabled_at"))?,
    })
}

fn endpoint(row: &Row) -> StoreResult<WebhookEndpoint> {
    endpoint_with_prefix(row, "")
}

fn event_with_prefix(row: &Row, p: &str) -> StoreResult<OutboxEvent> {
    let col = |c: &str| format!("{p}{c}");
    Ok(OutboxEvent {
        id: OutboxEventId(row.uuid(&col("id"))?),
        tenant_id: TenantId(row.uuid(&col("tenant_id"))?),
        event_type: row.text(&col("event_type"))?,
        payload: row.json(&col("payload"))?,
        created_at: row.time(&col("created_at"))?,
    })
}

fn delivery(row: &Row) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: DeliveryId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        event_id: OutboxEventId(row.uuid("event_id")?),
        endpoint_id: WebhookEndpointId(row.uuid("endpoint_id")?),
        status: row.parsed("status")?,
        attempts: row.int32("attempts")?,
        next_attempt_at: row.opt_time("next_attempt_at")?,
        last_status_code: row.opt_int32("last_status_code")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.time("created_at")?,
        delivered_at: row.opt_time("delivered_at")?,
    })
}

#[async_trait::async_trait]
impl WebhookStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(event_type = %item.event_type))]
    async fn insert_inbox_item(&self, item: &InboxItem) -> StoreResult<bool> {
        let done = query(concat!(
            "INSERT INTO zoom_inbox (",
            inbox_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (dedup_key) DO NOTHING"
        ))
        .bind(id(item.id.0))
        .bind(id(item.zoom_app_id.0))
        .bind(&item.dedup_key)
        .bind(&item.event_type)
        .bind(&item.payload.0)
        .bind(ts(item.event_at))
        .bind(ts(item.received_at))
        .bind(opt_ts(item.processed_at))
        .bind(item.attempts)
        .bind(ts(item.next_attempt_at))
        .bind(&item.last_error)
        .execute(&self.writer)
        .await
        .or_store("inbox item")?;
        Ok(done.rows_affected() == 1)
    }

    /// Leasing pushes `next_attempt_at` to `now + lease` and counts the attempt, so an item
    /// whose worker keeps dying is still seen to be failing. Items come back oldest event first.
    #[tracing::instrument(skip_all)]
    async fn claim_inbox_items(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<InboxItem>> {
        let rows = query(concat!(
            "UPDATE zoom_inbox SET next_attempt_at = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM zoom_inbox
                          WHERE processed_at IS NULL AND next_attempt_at <= $1
                          ORDER BY next_attempt_at, id LIMIT $3)
             RETURNING ",
            inbox_cols!()
        ))
        .bind(ts(now))
        .bind(ts(now.saturating_add(lease)))
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await
        .or_store("inbox item")?;
        let mut items = rows
            .iter()
            .map(inbox_item)
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|i| (i.event_at, i.id));
        Ok(items)
    }

    #[tracing::instrument(skip_all, fields(inbox_item = %item))]
    async fn finish_inbox_item(
        &self,
        item: InboxItemId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let done = query(
                // Zoom's body (topics, participants' names and emails) is not kept once it has
                // been acted on; the dedup key is the body's hash, not the body.
                "UPDATE zoom_inbox SET processed_at = $2, last_error = NULL, payload = X''
                 WHERE id = $1 AND processed_at IS NULL",
            )
            .bind(id(item.0))
            .bind(ts(now))
            .run(tx)
            .or_store("inbox item")?;
            if done.rows_affected() == 0 {
                let exists = query("SELECT 1 AS one FROM zoom_inbox WHERE id = $1")
                    .bind(id(item.0))
                    .optional(tx)
                    .or_store("inbox item")?;
                return match exists {
                    Some(_) => Ok(false),
                    None => Err(StoreError::NotFound { what: "inbox item" }),
                };
            }
            effects::write(tx, &effects)?;
            Ok(true)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(inbox_item = %item))]
    async fn fail_inbox_item(
        &self,
        item: InboxItemId,
        claimed_attempts: i32,
        error: &str,
        next_attempt_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let done = query(
            "UPDATE zoom_inbox SET last_error = $2, next_attempt_at = $3
             WHERE id = $1 AND processed_at IS NULL AND attempts = $4",
        )
        .bind(id(item.0))
        .bind(error)
        .bind(ts(next_attempt_at))
        .bind(claimed_attempts)
        .execute(&self.writer)
        .await
        .or_store("inbox item")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "inbox item" });
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn abandon_inbox_item(
        &self,
        item: InboxItemId,
        error: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = query(
            "UPDATE zoom_inbox SET processed_at = $3, last_error = $2, payload = X''
             WHERE id = $1 AND processed_at IS NULL",
        )
        .bind(id(item.0))
        .bind(format!("abandoned: {error}"))
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .or_store("inbox item")?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn purge_inbox(&self, processed_before: OffsetDateTime) -> StoreResult<u64> {
        let done =
            query("DELETE FROM zoom_inbox WHERE processed_at IS NOT NULL AND processed_at < $1")
                .bind(ts(processed_before))
                .execute(&self.writer)
                .await
                .or_store("inbox item")?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(skip_all, fields(tenant = %e.tenant_id))]
    async fn create_webhook_endpoint(
        &self,
        e: &WebhookEndpoint,
        max_active: u32,
        effects: Effects,
    ) -> StoreResult<()> {
        let types = serde_json::to_string(&e.event_types)
            .map_err(|err| StoreError::Database(err.to_string()))?;
        let e = e.to_owned();
        // The single writer makes the count and the insert one step.
        self.write(move |tx| {
            let done = query(concat!(
                "INSERT INTO webhook_endpoints (",
                endpoint_cols!(),
                ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 WHERE (SELECT count(*) FROM \
                 webhook_endpoints WHERE tenant_id = $2 AND disabled_at IS NULL) < $11"
            ))
            .bind(id(e.id.0))
            .bind(id(e.tenant_id.0))
            .bind(&e.url)
            .bind(&e.secret.0)
            .bind(e.previous_secret.as_ref().map(|s| &s.0))
            .bind(opt_ts(e.previous_secret_expires_at))
            .bind(&types)
            .bind(&e.description)
            .bind(ts(e.created_at))
            .bind(opt_ts(e.disabled_at))
            .bind(i64::from(max_active))
            .run(tx)
            .or_store("webhook endpoint")?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Precondition {
                    what: "webhook endpoint limit",
                });
            }
            effects::write(tx, &effects)?;
            Ok(())
        })
        .await
    }

    /// Active endpoints only: a disabled endpoint is a deleted one.
    async fn list_webhook_endpoints(&self, tenant: TenantId) -> StoreResult<Vec<WebhookEndpoint>> {
        query(concat!(
            "SELECT ",
            endpoint_cols!(),
            " FROM webhook_endpoints WHERE tenant_id = $1 AND disabled_at IS NULL ORDER BY id"
        ))
        .bind(id(tenant.0))
        .fetch_all(&self.reader)
        .await
        .or_store("webhook endpoint")?
        .iter()
        .map(endpoint)
        .collect()
    }

    /// Also finds a disabled endpoint, so that its delivery history can still name it.
    async fn get_webhook_endpoint(
        &self,
        tenant: TenantId,
        eid: WebhookEndpointId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        query(concat!(
            "SELECT ",
            endpoint_cols!(),
            " FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.0))
        .bind(id(eid.0))
        .fetch_optional_now(&self.reader)
        .await
        .or_store("webhook endpoint")?
        .as_ref()
        .map(endpoint)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, endpoint = %eid))]
    async fn rotate_webhook_endpoint_secret(
        &self,
        tenant: TenantId,
        eid: WebhookEndpointId,
        rotation: &SecretRotation,
        effects: Effects,
    ) -> StoreResult<bool> {
        let rotation = rotation.clone();
        self.write(move |tx| {
            let done = query(
                "UPDATE webhook_endpoints
                 SET secret = $4, previous_secret = $5, previous_secret_expires_at = $6
                 WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL AND secret = $3",
            )
            .bind(id(tenant.0))
            .bind(id(eid.0))
            .bind(&rotation.expected.0)
            .bind(&rotation.secret.0)
            .bind(rotation.previous.as_ref().map(|s| &s.0))
            .bind(opt_ts(rotation.previous_expires_at))
            .run(tx)
            .or_store("webhook endpoint")?;
            if done.rows_affected() == 0 {
                let active = query(
                    "SELECT 1 AS one FROM webhook_endpoints
                     WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL",
                )
                .bind(id(tenant.0))
                .bind(id(eid.0))
                .optional(tx)
                .or_store("webhook endpoint")?;
                return match active {
                    Some(_) => Err(StoreError::VersionConflict {
                        what: "webhook endpoint secret",
                    }),
                    None => Ok(false),
                };
            }
            effects::write(tx, &effects)?;
            Ok(true)
        })
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn clear_expired_webhook_secrets(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = query(
            "UPDATE webhook_endpoints SET previous_secret = NULL, previous_secret_expires_at = NULL
             WHERE previous_secret_expires_at <= $1",
        )
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .or_store("webhook endpoint")?;
        Ok(done.rows_affected())
    }

    /// False when the endpoint is not in the tenant or already disabled.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, endpoint = %eid))]
    async fn delete_webhook_endpoint(
        &self,
        tenant: TenantId,
        eid: WebhookEndpointId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let done = query(
                "UPDATE webhook_endpoints SET disabled_at = $3
                 WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL",
            )
            .bind(id(tenant.0))
            .bind(id(eid.0))
            .bind(ts(now))
            .run(tx)
            .or_store("webhook endpoint")?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            query(
                "DELETE FROM webhook_deliveries
                 WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'pending'",
            )
            .bind(id(tenant.0))
            .bind(id(eid.0))
            .run(tx)
            .or_store("webhook delivery")?;
            effects::write(tx, &effects)?;
            Ok(true)
        })
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn append_events(&self, effects: Effects) -> StoreResult<()> {
        if effects::is_empty(&effects) {
            return Ok(());
        }
        self.write(move |tx| {
            effects::write(tx, &effects)?;
            Ok(())
        })
        .await
    }

    async fn list_events(
        &self,
        tenant: TenantId,
        after: Option<OutboxEventId>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>> {
        query(concat!(
            "SELECT ",
            event_cols!(),
            " FROM outbox_events WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2)
              ORDER BY id LIMIT $3"
        ))
        .bind(id(tenant.0))
        .bind(opt_id(after.map(|a| a.0)))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .or_store("outbox event")?
        .iter()
        .map(|r| event_with_prefix(r, ""))
        .collect()
    }

    /// Leasing pushes `next_attempt_at` to `now + lease` and counts the attempt. The endpoints
    /// with pending deliveries are walked on the due index (`endpoint_id`, `next_attempt_at`),
    /// one probe each, and each gives its oldest due ones up to its share: a claim reads the
    /// deliveries it may take, never a backlog it passes over.
    #[tracing::instrument(skip_all)]
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
        share: &DeliveryShare<'_>,
    ) -> StoreResult<Vec<DeliveryJob>> {
        let in_flight: Vec<(String, u32)> =
            share.in_flight.iter().map(|(e, n)| (id(e.0), *n)).collect();
        let per_endpoint = share.per_endpoint;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        self.write(move |tx| {
            let mut picked: Vec<(i64, String)> = Vec::new();
            // Ids are hyphenated UUIDs: the empty text sorts before every one.
            let mut after = String::new();
            let next_endpoint = query(
                "SELECT endpoint_id FROM webhook_deliveries
                 WHERE status = 'pending' AND endpoint_id > $1
                 ORDER BY endpoint_id LIMIT 1",
            );
            let due_of = query(
                "SELECT id, next_attempt_at FROM webhook_deliveries
                 WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at <= $2
                 ORDER BY next_attempt_at, id LIMIT $3",
            );
            while let Some(row) = next_endpoint
                .clone()
                .bind(after.as_str())
                .optional(tx)
                .or_store("webhook delivery")?
            {
                after = row.text("endpoint_id")?;
                let taken: u32 = in_flight
                    .iter()
                    .filter(|(e, _)| *e == after)
                    .map(|(_, n)| *n)
                    .sum();
                let left = per_endpoint.saturating_sub(taken);
                if left == 0 {
                    continue;
                }
                for due in due_of
                    .clone()
                    .bind(after.as_str())
                    .bind(ts(now))
                    .bind(i64::from(left))
                    .all(tx)
                    .or_store("webhook delivery")?
                {
                    picked.push((due.int("next_attempt_at")?, due.text("id")?));
                }
            }
            picked.sort();
            picked.truncate(limit);
            if picked.is_empty() {
                return Ok(Vec::new());
            }
            let mut lease_them = QueryBuilder::new("UPDATE webhook_deliveries SET next_attempt_at = ");
            lease_them
                .push_bind(ts(now.saturating_add(lease)))
                .push(", attempts = attempts + 1 WHERE id IN (");
            let mut list = lease_them.separated(", ");
            for (_, delivery) in &picked {
                list.push_bind(delivery.as_str());
            }
            // The writer's transaction holds the picked rows: each one is leased, no RETURNING
            // needed to learn which.
            lease_them.push(")");
            lease_them
                .build()
                .run(tx)
                .or_store("webhook delivery")?;
            let mut qb = QueryBuilder::new(
                "SELECT d.id, d.tenant_id, d.event_id, d.endpoint_id, d.status, d.attempts,
                    d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.delivered_at,
                    e.id AS e_id, e.tenant_id AS e_tenant_id, e.event_type AS e_event_type,
                    e.payload AS e_payload, e.created_at AS e_created_at,
                    w.id AS w_id, w.tenant_id AS w_tenant_id, w.url AS w_url, w.secret AS w_secret,
                    w.previous_secret AS w_previous_secret,
                    w.previous_secret_expires_at AS w_previous_secret_expires_at,
                    w.event_types AS w_event_types, w.description AS w_description,
                    w.created_at AS w_created_at, w.disabled_at AS w_disabled_at
                 FROM webhook_deliveries d
                 JOIN outbox_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
                 JOIN webhook_endpoints w ON w.id = d.endpoint_id
                 WHERE d.id IN (",
            );
            let mut list = qb.separated(", ");
            for (_, delivery) in &picked {
                list.push_bind(delivery.as_str());
            }
            qb.push(") ORDER BY e.created_at, d.id");
            let rows = qb
                .build()
                .all(tx)
                .or_store("webhook delivery")?;
            rows.iter()
                .map(|r| {
                    Ok(DeliveryJob {
                        delivery: delivery(r)?,
                        event: event_with_prefix(r, "e_")?,
                        endpoint: endpoint_with_prefix(r, "w_")?,
                    })
                })
                .collect()
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(delivery = %did))]
    async fn record_delivery(
        &self,
        did: DeliveryId,
        claimed_attempts: i32,
        outcome: &DeliveryOutcome,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (status, code, error, next, delivered_at) = match outcome {
            DeliveryOutcome::Delivered { status_code } => {
                ("delivered", Some(*status_code), None, None, Some(now))
            }
            DeliveryOutcome::Retry {
                status_code,
                error,
                next_attempt_at,
            } => (
                "pending",
                *status_code,
                Some(error.as_str()),
                Some(*next_attempt_at),
                None,
            ),
            DeliveryOutcome::GiveUp { status_code, error } => {
                ("failed", *status_code, Some(error.as_str()), None, None)
            }
        };
        let done = query(
            "UPDATE webhook_deliveries SET status = $2, last_status_code = $3, last_error = $4,
                next_attempt_at = $5, delivered_at = $6
             WHERE id = $1 AND status = 'pending' AND attempts = $7",
        )
        .bind(id(did.0))
        .bind(status)
        .bind(code)
        .bind(error)
        .bind(opt_ts(next))
        .bind(opt_ts(delivered_at))
        .bind(claimed_attempts)
        .execute(&self.writer)
        .await
        .or_store("webhook delivery")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "webhook delivery",
            });
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Option<WebhookEndpointId>,
        after: Option<DeliveryId>,
        order: ListOrder,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let sql = match order {
            ListOrder::OldestFirst => concat!(
                "SELECT ",
                delivery_cols!(),
                " FROM webhook_deliveries WHERE tenant_id = $1 AND ($2 IS NULL OR endpoint_id = $2)
                  AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
            ),
            ListOrder::NewestFirst => concat!(
                "SELECT ",
                delivery_cols!(),
                " FROM webhook_deliveries WHERE tenant_id = $1 AND ($2 IS NULL OR endpoint_id = $2)
                  AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
            ),
        };
        query(sql)
            .bind(id(tenant.0))
            .bind(opt_id(endpoint.map(|e| e.0)))
            .bind(opt_id(after.map(|a| a.0)))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .or_store("webhook delivery")?
            .iter()
            .map(delivery)
            .collect()
    }

    /// Events are stored in time order, so rowid order is time order: the scan starts at the
    /// oldest event and ends at the first one inside retention, instead of reading the table
    /// through an index on `created_at` that every create would have to write.
    #[tracing::instrument(skip_all)]
    async fn purge_events(&self, created_before: OffsetDateTime, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| {
            let doomed = query(
                "SELECT e.rowid AS r, e.id FROM outbox_events e
                 WHERE e.rowid < coalesce((SELECT rowid FROM outbox_events
                                           WHERE created_at >= $1 ORDER BY rowid LIMIT 1),
                                          9223372036854775807)
                   AND e.created_at < $1
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                   WHERE d.event_id = e.id AND d.tenant_id = e.tenant_id
                                     AND d.status = 'pending')
                 ORDER BY e.rowid LIMIT $2",
            )
            .bind(ts(created_before))
            .bind(i64::from(limit))
            .all(tx)
            .or_store("outbox event")?;
            if doomed.is_empty() {
                return Ok(0);
            }
            let mut deliveries =
                QueryBuilder::new("DELETE FROM webhook_deliveries WHERE event_id IN (");
            let mut events = QueryBuilder::new("DELETE FROM outbox_events WHERE rowid IN (");
            {
                let (mut d, mut e) = (deliveries.separated(", "), events.separated(", "));
                for row in &doomed {
                    d.push_bind(row.text("id")?);
                    e.push_bind(row.int("r")?);
                }
            }
            deliveries.push(")");
            events.push(")");
            deliveries.build().run(tx).or_store("webhook delivery")?;
            let done = events.build().run(tx).or_store("outbox event")?;
            Ok(done.rows_affected())
        })
        .await
    }
}
