-- CHECK constraints written as comparisons instead of `IN (...)` lists.
--
-- SQLite evaluates `x IN ('a', 'b', 'c')` (three constants or more) by building a temporary
-- b-tree of the list, on every execution of every INSERT into the table: on the hot tables that
-- was about a twentieth of the CPU a meeting create costs. Comparisons (`x = 'a' OR ...`) mean
-- the same and allocate nothing. SQLite cannot change a CHECK constraint in place, so the two
-- tables written on every create are rebuilt (the documented twelve-step procedure; nothing
-- references either table, so dropping the old one checks no foreign key).

CREATE TABLE meetings_new (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    end_user_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    zoom_meeting_id INTEGER NOT NULL,
    host_zoom_user_id TEXT,
    kind TEXT NOT NULL CHECK (kind = 'instant' OR kind = 'scheduled' OR kind = 'recurring'),
    status TEXT NOT NULL
        CHECK (status = 'waiting' OR status = 'started' OR status = 'ended' OR status = 'deleted'),
    start_time INTEGER,
    duration_minutes INTEGER,
    timezone TEXT,
    details BLOB NOT NULL,
    idempotency_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    status_changed_at INTEGER,
    deleted_at INTEGER,
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id)
) STRICT;
INSERT INTO meetings_new SELECT * FROM meetings;
DROP TABLE meetings;
ALTER TABLE meetings_new RENAME TO meetings;
CREATE INDEX meetings_tenant ON meetings (tenant_id, id);
CREATE INDEX meetings_end_user ON meetings (tenant_id, end_user_id, id);
CREATE INDEX meetings_zoom_id ON meetings (zoom_meeting_id);
CREATE INDEX meetings_connection ON meetings (tenant_id, connection_id);

CREATE TABLE webhook_deliveries_new (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
) STRICT;
INSERT INTO webhook_deliveries_new SELECT * FROM webhook_deliveries;
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
