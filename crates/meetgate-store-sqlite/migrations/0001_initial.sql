-- meetgate schema for SQLite.
-- Ids are lowercase hyphenated UUID text (text order == UUID order, so ids serve as cursors),
-- timestamps are INTEGER microseconds since the Unix epoch (UTC), JSON is TEXT, sealed values are
-- BLOB. Child rows reference (tenant_id, id) of their parent so that a row can never point into
-- another tenant.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    lookup TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,
    label TEXT NOT NULL,
    environment TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
) STRICT;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE members (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'clinician')),
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER,
    UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE web_sessions (
    id_hash BLOB PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    member_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
) STRICT;
CREATE INDEX web_sessions_member ON web_sessions (tenant_id, member_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'clinician')),
    token_hash BLOB NOT NULL UNIQUE,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    FOREIGN KEY (tenant_id, created_by) REFERENCES members (tenant_id, id)
) STRICT;
CREATE INDEX invitations_tenant ON invitations (tenant_id, id);

CREATE TABLE end_users (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    external_id TEXT NOT NULL,
    email TEXT,
    name TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, external_id),
    UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE zoom_apps (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT REFERENCES tenants (id),
    name TEXT NOT NULL,
    app_type TEXT NOT NULL CHECK (app_type IN ('user_managed', 'admin_managed', 'server_to_server')),
    client_id TEXT NOT NULL,
    client_secret BLOB NOT NULL,
    account_id TEXT,
    scopes TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    webhook_secret BLOB,
    webhook_secret_next BLOB,
    auth_base_url TEXT NOT NULL,
    api_base_url TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX zoom_apps_client_id ON zoom_apps (client_id);
CREATE INDEX zoom_apps_tenant ON zoom_apps (tenant_id, created_at);

CREATE TABLE connect_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    end_user_id TEXT NOT NULL,
    zoom_app_id TEXT NOT NULL REFERENCES zoom_apps (id),
    token_hash BLOB NOT NULL UNIQUE,
    return_url TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    completed_at INTEGER,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id)
) STRICT;

CREATE TABLE oauth_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    connect_session_id TEXT NOT NULL,
    end_user_id TEXT NOT NULL,
    zoom_app_id TEXT NOT NULL REFERENCES zoom_apps (id),
    state_hash BLOB NOT NULL UNIQUE,
    browser_hash BLOB NOT NULL,
    pkce_verifier BLOB NOT NULL,
    return_url TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER,
    FOREIGN KEY (tenant_id, connect_session_id) REFERENCES connect_sessions (tenant_id, id),
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id)
) STRICT;
CREATE INDEX oauth_attempts_expiry ON oauth_attempts (expires_at);

CREATE TABLE connections (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    end_user_id TEXT NOT NULL,
    zoom_app_id TEXT NOT NULL REFERENCES zoom_apps (id),
    state TEXT NOT NULL
        CHECK (state IN ('connected', 'needs_reauth', 'revoked', 'superseded')),
    state_reason TEXT,
    zoom_user_id TEXT,
    zoom_account_id TEXT,
    zoom_email TEXT,
    scopes TEXT NOT NULL,
    api_url TEXT NOT NULL,
    access_token BLOB,
    access_expires_at INTEGER,
    refresh_token BLOB,
    version INTEGER NOT NULL,
    refresh_started_at INTEGER,
    refresh_failures INTEGER NOT NULL DEFAULT 0,
    next_refresh_at INTEGER,
    last_refreshed_at INTEGER,
    connected_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (end_user_id, zoom_app_id),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id)
) STRICT;
CREATE INDEX connections_zoom_user ON connections (zoom_app_id, zoom_user_id);
-- A create looks up its user's connections; without this SQLite walks the tenant's (tenant, id)
-- index to honour ORDER BY id and reads every connection of the tenant.
CREATE INDEX connections_end_user ON connections (tenant_id, end_user_id, id);
CREATE INDEX connections_due ON connections (next_refresh_at) WHERE state = 'connected';

CREATE TABLE meetings (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    end_user_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    zoom_meeting_id INTEGER NOT NULL,
    host_zoom_user_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('instant', 'scheduled', 'recurring')),
    status TEXT NOT NULL CHECK (status IN ('waiting', 'started', 'ended', 'deleted')),
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
CREATE INDEX meetings_tenant ON meetings (tenant_id, id);
CREATE INDEX meetings_end_user ON meetings (tenant_id, end_user_id, id);
CREATE INDEX meetings_zoom_id ON meetings (zoom_meeting_id);
CREATE INDEX meetings_connection ON meetings (tenant_id, connection_id);

CREATE TABLE idempotency_records (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
    response_status INTEGER,
    response_body BLOB,
    resource_id TEXT,
    recovery TEXT,
    created_at INTEGER NOT NULL,
    locked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (tenant_id, key)
) STRICT;
CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at);

CREATE TABLE zoom_inbox (
    id TEXT PRIMARY KEY NOT NULL,
    zoom_app_id TEXT NOT NULL REFERENCES zoom_apps (id),
    dedup_key TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    payload BLOB NOT NULL,
    event_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    processed_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT
) STRICT;
CREATE INDEX zoom_inbox_due ON zoom_inbox (next_attempt_at) WHERE processed_at IS NULL;
CREATE INDEX zoom_inbox_processed ON zoom_inbox (processed_at) WHERE processed_at IS NOT NULL;

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    url TEXT NOT NULL,
    secret BLOB NOT NULL,
    event_types TEXT NOT NULL,
    description TEXT,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER,
    UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE outbox_events (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT REFERENCES tenants (id),
    at INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT,
    outcome TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE key_fingerprints (
    key_id TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
