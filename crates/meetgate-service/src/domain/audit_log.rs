use meetgate_store::AuditEventId;
use meetgate_store::models::{AuditEvent, AuditQuery};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Ctx, Services};
use crate::{Error, Result};

/// An audit entry as read back. Never holds tokens or patient data.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEventView {
    pub id: AuditEventId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `member`, `api_key`, `zoom`, `system` or `operator`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            action: e.action,
            object_kind: e.object_kind,
            object_id: e.object_id,
            outcome: e.outcome,
            request_id: e.request_id,
            details: e.details,
        }
    }
}

/// Filters for reading the audit log.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Entries whose action starts with this, e.g. `meeting.` or `connection.connected`.
    pub action: Option<String>,
    pub object_id: Option<String>,
    pub actor_id: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
    /// `asc` (oldest first, the default) or `desc` (newest first). A cursor from a newest-first
    /// page goes on newest first without it.
    pub order: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

/// How a newest-first page's `next_cursor` begins; an oldest-first one is the bare entry id.
const NEWEST_FIRST_CURSOR: &str = "d.";

/// An optional RFC 3339 filter. Empty means absent, as for the other filters (a form or a query
/// string built from one sends `since=` when the field is left blank).
fn time_param(field: &str, value: &Option<String>) -> Result<Option<OffsetDateTime>> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        // Range-checked in UTC too: a valid local time can fall outside what the database
        // stores once converted, and the driver panics on it.
        .map(|v| super::meetings::parse_time(field, v))
        .transpose()
}

impl Services {
    /// The tenant's audit log, a page at a time: oldest first unless the filter asks otherwise.
    pub async fn audit_events(&self, ctx: &Ctx, filter: &AuditFilter) -> Result<AuditPage> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 500);
        let asked = match filter.order.as_deref().filter(|o| !o.is_empty()) {
            None => None,
            Some("asc") => Some(false),
            Some("desc") => Some(true),
            Some(_) => return Err(Error::validation("order", "must be asc or desc")),
        };
        // A newest-first page's cursor says so, so that the next page goes the same way
        // whether or not the request repeats `order`.
        let (cursor, cursor_newest_first) = match filter.cursor.as_deref().filter(|c| !c.is_empty())
        {
            None => (None, None),
            Some(c) => {
                let (id, newest_first) = match c.strip_prefix(NEWEST_FIRST_CURSOR) {
                    Some(id) => (id, Some(true)),
                    None => (c, None),
                };
                let id: AuditEventId = id.parse().map_err(|_| {
                    Error::validation("cursor", "is not a cursor from a previous page")
                })?;
                (Some(id), newest_first)
            }
        };
        let newest_first = match (asked, cursor_newest_first) {
            (Some(false), Some(true)) => {
                return Err(Error::validation(
                    "order",
                    "the cursor continues a newest-first listing: send order=desc, or no order",
                ));
            }
            (asked, from_cursor) => from_cursor.or(asked).unwrap_or(false),
        };
        let query = AuditQuery {
            tenant_id: Some(ctx.tenant()),
            action_prefix: filter.action.clone().filter(|a| !a.is_empty()),
            object_id: filter.object_id.clone().filter(|a| !a.is_empty()),
            actor_id: filter.actor_id.clone().filter(|a| !a.is_empty()),
            since: time_param("since", &filter.since)?,
            until: time_param("until", &filter.until)?,
            after: cursor.filter(|_| !newest_first),
            before: cursor.filter(|_| newest_first),
            newest_first,
            limit: limit + 1,
        };
        let mut rows = self.store.list_audit(&query).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = match rows.last() {
            Some(last) if more && newest_first => Some(format!("{NEWEST_FIRST_CURSOR}{}", last.id)),
            Some(last) if more => Some(last.id.to_string()),
            _ => None,
        };
        Ok(AuditPage {
            data: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// Every audit entry (all tenants, or one), for `meetgate audit export`. Calls `each` per page.
    pub async fn export_audit(
        &self,
        tenant: Option<meetgate_store::TenantId>,
        mut each: impl FnMut(Vec<AuditEventView>),
    ) -> Result<u64> {
        let mut after = None;
        let mut total = 0u64;
        loop {
            let query = AuditQuery {
                tenant_id: tenant,
                after,
                limit: 1000,
                ..AuditQuery::default()
            };
            let rows = self.store.list_audit(&query).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id);
            total += rows.len() as u64;
            let done = rows.len() < 1000;
            each(rows.into_iter().map(Into::into).collect());
            if done {
                break;
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::time_param;

    #[test]
    fn an_empty_time_filter_is_absent_and_a_bad_one_is_refused() {
        assert_eq!(time_param("since", &None).unwrap(), None);
        assert_eq!(time_param("since", &Some(String::new())).unwrap(), None);
        let at = time_param("since", &Some("2026-11-30T06:00:00Z".into())).unwrap();
        assert_eq!(at.map(|t| t.unix_timestamp()), Some(1_796_018_400));
        assert!(time_param("since", &Some("yesterday".into())).is_err());
    }
}
