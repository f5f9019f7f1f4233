-- meetgate schema for PostgreSQL.
-- Child rows reference (tenant_id, id) of their parent so that a row can never point into another
-- tenant; the (tenant_id, id) unique indexes double as the indexes of tenant listings by id.

CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    settings jsonb NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    lookup text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    label text NOT NULL,
    environment text NOT NULL,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE members (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'clinician')),
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    disabled_at timestamptz,
    UNIQUE (tenant_id, id)
);

CREATE TABLE web_sessions (
    id_hash bytea PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    member_id uuid NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
);
CREATE INDEX web_sessions_member ON web_sessions (tenant_id, member_id);

CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'clinician')),
    token_hash bytea NOT NULL UNIQUE,
    created_by uuid,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    FOREIGN KEY (tenant_id, created_by) REFERENCES members (tenant_id, id)
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, id);

CREATE TABLE end_users (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    external_id text NOT NULL,
    email text,
    name text,
    created_at timestamptz NOT NULL,
    UNIQUE (tenant_id, external_id),
    UNIQUE (tenant_id, id)
);

CREATE TABLE zoom_apps (
    id uuid PRIMARY KEY,
    tenant_id uuid REFERENCES tenants (id),
    name text NOT NULL,
    app_type text NOT NULL
        CHECK (app_type IN ('user_managed', 'admin_managed', 'server_to_server')),
    client_id text NOT NULL,
    client_secret bytea NOT NULL,
    account_id text,
    scopes text NOT NULL,
    redirect_uri text NOT NULL,
    webhook_secret bytea,
    webhook_secret_next bytea,
    auth_base_url text NOT NULL,
    api_base_url text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX zoom_apps_client_id ON zoom_apps (client_id);
CREATE INDEX zoom_apps_tenant ON zoom_apps (tenant_id, created_at);

CREATE TABLE connect_sessions (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    end_user_id uuid NOT NULL,
    zoom_app_id uuid NOT NULL REFERENCES zoom_apps (id),
    token_hash bytea NOT NULL UNIQUE,
    return_url text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    completed_at timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id)
);

CREATE TABLE oauth_attempts (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    connect_session_id uuid NOT NULL,
    end_user_id uuid NOT NULL,
    zoom_app_id uuid NOT NULL REFERENCES zoom_apps (id),
    state_hash bytea NOT NULL UNIQUE,
    browser_hash bytea NOT NULL,
    pkce_verifier bytea NOT NULL,
    return_url text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    consumed_at timestamptz,
    FOREIGN KEY (tenant_id, connect_session_id) REFERENCES connect_sessions (tenant_id, id),
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id)
);
CREATE INDEX oauth_attempts_expiry ON oauth_attempts (expires_at);

CREATE TABLE connections (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    end_user_id uuid NOT NULL,
    zoom_app_id uuid NOT NULL REFERENCES zoom_apps (id),
    state text NOT NULL
        CHECK (state IN ('connected', 'needs_reauth', 'revoked', 'superseded')),
    state_reason text,
    zoom_user_id text,
    zoom_account_id text,
    zoom_email text,
    scopes text NOT NULL,
    api_url text NOT NULL,
    access_token bytea,
    access_expires_at timestamptz,
    refresh_token bytea,
    version bigint NOT NULL,
    refresh_started_at timestamptz,
    refresh_failures integer NOT NULL DEFAULT 0,
    next_refresh_at timestamptz,
    last_refreshed_at timestamptz,
    connected_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (end_user_id, zoom_app_id),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id)
);
CREATE INDEX connections_zoom_user ON connections (zoom_app_id, zoom_user_id);
-- A create looks up its user's connections; without this SQLite walks the tenant's (tenant, id)
-- index to honour ORDER BY id and reads every connection of the tenant.
CREATE INDEX connections_end_user ON connections (tenant_id, end_user_id, id);
CREATE INDEX connections_due ON connections (next_refresh_at) WHERE state = 'connected';

CREATE TABLE meetings (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    end_user_id uuid NOT NULL,
    connection_id uuid NOT NULL,
    zoom_meeting_id bigint NOT NULL,
    host_zoom_user_id text,
    kind text NOT NULL CHECK (kind IN ('instant', 'scheduled', 'recurring')),
    status text NOT NULL CHECK (status IN ('waiting', 'started', 'ended', 'deleted')),
    start_time timestamptz,
    duration_minutes integer,
    timezone text,
    details bytea NOT NULL,
    idempotency_key text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    status_changed_at timestamptz,
    deleted_at timestamptz,
    FOREIGN KEY (tenant_id, end_user_id) REFERENCES end_users (tenant_id, id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id)
);
CREATE INDEX meetings_tenant ON meetings (tenant_id, id);
CREATE INDEX meetings_end_user ON meetings (tenant_id, end_user_id, id);
CREATE INDEX meetings_zoom_id ON meetings (zoom_meeting_id);
CREATE INDEX meetings_connection ON meetings (tenant_id, connection_id);

CREATE TABLE idempotency_records (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    key text NOT NULL,
    request_hash bytea NOT NULL,
    state text NOT NULL CHECK (state IN ('in_progress', 'completed')),
    response_status integer,
    response_body bytea,
    resource_id text,
    recovery jsonb,
    created_at timestamptz NOT NULL,
    locked_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    UNIQUE (tenant_id, key)
);
CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at);

CREATE TABLE zoom_inbox (
    id uuid PRIMARY KEY,
    zoom_app_id uuid NOT NULL REFERENCES zoom_apps (id),
    dedup_key text NOT NULL UNIQUE,
    event_type text NOT NULL,
    payload bytea NOT NULL,
    event_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    processed_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error text
);
CREATE INDEX zoom_inbox_due ON zoom_inbox (next_attempt_at) WHERE processed_at IS NULL;
CREATE INDEX zoom_inbox_processed ON zoom_inbox (processed_at) WHERE processed_at IS NOT NULL;

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    url text NOT NULL,
    secret bytea NOT NULL,
    event_types jsonb NOT NULL,
    description text,
    created_at timestamptz NOT NULL,
    disabled_at timestamptz,
    UNIQUE (tenant_id, id)
);

CREATE TABLE outbox_events (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    event_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_status_code integer,
    last_error text,
    created_at timestamptz NOT NULL,
    delivered_at timestamptz,
    FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    tenant_id uuid REFERENCES tenants (id),
    at timestamptz NOT NULL,
    actor_kind text NOT NULL,
    actor_id text,
    action text NOT NULL,
    object_kind text NOT NULL,
    object_id text,
    outcome text NOT NULL,
    request_id text,
    details jsonb NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE key_fingerprints (
    key_id text PRIMARY KEY,
    fingerprint text NOT NULL,
    created_at timestamptz NOT NULL
);
