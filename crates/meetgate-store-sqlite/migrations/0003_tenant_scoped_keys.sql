-- Meetings, idempotency records and outbox events are found only through their tenant, so each
-- keeps one key index instead of two.
--
-- A rowid table whose `id TEXT PRIMARY KEY` is not its rowid carries a hidden index on `id`
-- (`sqlite_autoindex_*`). Every query on these three tables already names the tenant and goes
-- through `(tenant_id, id)` or `(tenant_id, key)`, so that index only cost a page written per
-- create (of about 24: docs/performance.md, ninth round). `meetings (tenant_id, id)` becomes
-- UNIQUE in its place; ids are UUIDv7 made by meetgate, unique across tenants as well. Rebuilt
-- with the documented twelve-step procedure: the runner turns foreign keys off around the
-- migrations and checks them all before committing, since webhook deliveries reference
-- outbox events by `(tenant_id, id)`, which stays UNIQUE.

CREATE TABLE meetings_new (
    id TEXT NOT NULL,
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
CREATE UNIQUE INDEX meetings_tenant ON meetings (tenant_id, id);
CREATE INDEX meetings_end_user ON meetings (tenant_id, end_user_id, id);
CREATE INDEX meetings_zoom_id ON meetings (zoom_meeting_id);
CREATE INDEX meetings_connection ON meetings (tenant_id, connection_id);

CREATE TABLE idempotency_records_new (
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state = 'in_progress' OR state = 'completed'),
    response_status INTEGER,
    response_body BLOB,
    resource_id TEXT,
    recovery TEXT,
    created_at INTEGER NOT NULL,
    locked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (tenant_id, key)
) STRICT;
INSERT INTO idempotency_records_new SELECT * FROM idempotency_records;
DROP TABLE idempotency_records;
ALTER TABLE idempotency_records_new RENAME TO idempotency_records;
CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at);

CREATE TABLE outbox_events_new (
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, id)
) STRICT;
INSERT INTO outbox_events_new SELECT * FROM outbox_events;
DROP TABLE outbox_events;
ALTER TABLE outbox_events_new RENAME TO outbox_events;
