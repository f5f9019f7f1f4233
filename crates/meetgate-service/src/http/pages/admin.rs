//! The admin pages: members and invitations, API keys, the Zoom apps and the doctor, webhook
//! endpoints and their deliveries, the audit log, and the clinic's meeting policy.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use meetgate_store::models::MemberRole;
use meetgate_store::{ApiKeyId, InvitationId, MemberId, WebhookEndpointId};
use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

use super::session::{Admin, AdminForm, Fields};
use super::{Flash, app_page, describe, error_page, see_other};
use crate::Error;
use crate::domain::{
    AuditFilter, MemberSession, NewWebhookEndpoint, PolicyValue, SecretRotationRequest, Services,
    TenantSettings, member_external_id, outbox::EVENT_TYPES,
};

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

fn done_flash(done: Option<&str>) -> Option<Flash> {
    let text = match done? {
        "disabled" => "The member is disabled and signed out everywhere.",
        "enabled" => "The member can sign in again.",
        "role" => "The role is changed; it applies from the member's next page.",
        "revoked" => "The API key is revoked. Requests with it are refused from now on.",
        "invitation_revoked" => "The invitation is withdrawn: its link no longer works.",
        "webhook_deleted" => "The webhook endpoint is deleted; no more events go to it.",
        "settings" => "The clinic's settings are saved.",
        _ => return None,
    };
    Some(Flash::ok(text))
}

pub async fn index(Admin(_): Admin) -> Response {
    see_other("/admin/members")
}

fn failure(session: &MemberSession, error: &Error) -> (StatusCode, Option<Flash>) {
    let (status, text) = describe(error, session.ctx.request_id.as_deref());
    (status, Some(Flash::error(text)))
}

// ---- members and invitations ----

#[derive(Debug, Serialize)]
struct MemberRow {
    id: String,
    name: String,
    email: String,
    role: String,
    disabled: bool,
    is_self: bool,
    zoom: String,
}

#[derive(Debug, Serialize)]
struct CreatedLink {
    email: String,
    link: String,
    /// A password reset link, not an invitation.
    reset: bool,
}

async fn render_members(
    services: &Services,
    session: &MemberSession,
    status: StatusCode,
    flash: Option<Flash>,
    created: Option<CreatedLink>,
) -> Response {
    let ctx = &session.ctx;
    let rid = ctx.request_id.as_deref();
    let (members, invitations, connections) = match (
        services.list_members(ctx).await,
        services.list_invitations(ctx).await,
        services.list_connections(ctx, None).await,
    ) {
        (Ok(m), Ok(i), Ok(c)) => (m, i, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return error_page(&e, rid),
    };
    let zoom_of: HashMap<String, String> = connections
        .into_iter()
        .map(|c| {
            let text = match (c.state.as_str(), c.zoom_email.as_deref()) {
                ("connected", Some(email)) => format!("connected as {email}"),
                (state, _) => state.replace('_', " "),
            };
            (c.user, text)
        })
        .collect();
    let rows: Vec<MemberRow> = members
        .iter()
        .map(|m| MemberRow {
            id: m.id.to_string(),
            name: m.name.clone(),
            email: m.email.clone(),
            role: m.role.clone(),
            disabled: m.disabled,
            is_self: m.id == session.member.id,
            zoom: zoom_of
                .get(&member_external_id(m.id))
                .cloned()
                .unwrap_or_else(|| "not connected".into()),
        })
        .collect();
    let invitations: Vec<_> = invitations
        .iter()
        .rev()
        .map(|i| minijinja::context! { id => i.id.to_string(), email => &i.email, role => &i.role, state => &i.state, expires => rfc3339(i.expires_at) })
        .collect();
    app_page(
        session,
        status,
        "admin_members.html",
        "members",
        flash,
        minijinja::context! { members => rows, invitations, created },
    )
}

pub async fn members(
    State(services): State<Services>,
    Admin(session): Admin,
    Query(q): Query<DoneQuery>,
) -> Response {
    render_members(
        &services,
        &session,
        StatusCode::OK,
        done_flash(q.done.as_deref()),
        None,
    )
    .await
}

fn role_of(fields: &Fields) -> MemberRole {
    if fields.get("role") == Some("admin") {
        MemberRole::Admin
    } else {
        MemberRole::Clinician
    }
}

pub async fn invite(State(services): State<Services>, form: AdminForm) -> Response {
    let session = &form.session;
    match services
        .invite_member(
            &session.ctx,
            &form.fields.text("email"),
            role_of(&form.fields),
        )
        .await
    {
        Ok(created) => {
            let link = CreatedLink {
                email: created.view.email.clone(),
                link: created.link.expose().to_owned(),
                reset: false,
            };
            render_members(&services, session, StatusCode::CREATED, None, Some(link)).await
        }
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_members(&services, session, status, flash, None).await
        }
    }
}

async fn member_action(
    services: &Services,
    session: &MemberSession,
    raw: &str,
    action: impl AsyncFnOnce(MemberId) -> crate::Result<()>,
    done: &str,
) -> Response {
    let result = match raw.parse::<MemberId>() {
        Ok(id) => action(id).await,
        Err(_) => Err(Error::NotFound { what: "member" }),
    };
    match result {
        Ok(()) => see_other(&format!("/admin/members?done={done}")),
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_members(services, session, status, flash, None).await
        }
    }
}

pub async fn disable_member(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let ctx = form.session.ctx.clone();
    member_action(
        &services,
        &form.session,
        &raw,
        async |id| services.set_member_disabled(&ctx, id, true).await,
        "disabled",
    )
    .await
}

pub async fn enable_member(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let ctx = form.session.ctx.clone();
    member_action(
        &services,
        &form.session,
        &raw,
        async |id| services.set_member_disabled(&ctx, id, false).await,
        "enabled",
    )
    .await
}

pub async fn password_reset(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let created = match raw.parse::<MemberId>() {
        Ok(id) => services.create_password_reset(&session.ctx, id).await,
        Err(_) => Err(Error::NotFound { what: "member" }),
    };
    match created {
        Ok(created) => {
            let link = CreatedLink {
                email: created.view.email.clone(),
                link: created.link.expose().to_owned(),
                reset: true,
            };
            render_members(&services, session, StatusCode::CREATED, None, Some(link)).await
        }
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_members(&services, session, status, flash, None).await
        }
    }
}

pub async fn revoke_invitation(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let result = match raw.parse::<InvitationId>() {
        Ok(id) => services.revoke_invitation(&session.ctx, id).await,
        Err(_) => Err(Error::NotFound { what: "invitation" }),
    };
    match result {
        Ok(()) => see_other("/admin/members?done=invitation_revoked"),
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_members(&services, session, status, flash, None).await
        }
    }
}

pub async fn set_role(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let ctx = form.session.ctx.clone();
    let role = role_of(&form.fields);
    member_action(
        &services,
        &form.session,
        &raw,
        async |id| services.set_member_role(&ctx, id, role).await,
        "role",
    )
    .await
}

// ---- API keys ----

#[derive(Debug, Serialize)]
struct CreatedKey {
    label: String,
    secret: Secret,
}

async fn render_keys(
    services: &Services,
    session: &MemberSession,
    status: StatusCode,
    flash: Option<Flash>,
    created: Option<CreatedKey>,
) -> Response {
    let keys = match services.list_api_keys(&session.ctx).await {
        Ok(k) => k,
        Err(e) => return error_page(&e, session.ctx.request_id.as_deref()),
    };
    let rows: Vec<_> = keys
        .iter()
        .map(|k| {
            minijinja::context! {
                id => k.id.to_string(),
                prefix => &k.prefix,
                label => &k.label,
                environment => &k.environment,
                created => rfc3339(k.created_at),
                last_used => k.last_used_at.map(rfc3339),
                revoked => k.revoked_at.map(rfc3339),
            }
        })
        .collect();
    app_page(
        session,
        status,
        "admin_keys.html",
        "keys",
        flash,
        minijinja::context! { keys => rows, created },
    )
}

pub async fn api_keys(
    State(services): State<Services>,
    Admin(session): Admin,
    Query(q): Query<DoneQuery>,
) -> Response {
    render_keys(
        &services,
        &session,
        StatusCode::OK,
        done_flash(q.done.as_deref()),
        None,
    )
    .await
}

pub async fn create_api_key(State(services): State<Services>, form: AdminForm) -> Response {
    let session = &form.session;
    let live = form.fields.get("environment") != Some("test");
    match services
        .create_api_key(&session.ctx, &form.fields.text("label"), live)
        .await
    {
        Ok(created) => {
            let shown = CreatedKey {
                label: created.view.label.clone(),
                secret: created.secret.clone(),
            };
            render_keys(&services, session, StatusCode::CREATED, None, Some(shown)).await
        }
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_keys(&services, session, status, flash, None).await
        }
    }
}

pub async fn revoke_api_key(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let result = match raw.parse::<ApiKeyId>() {
        Ok(id) => services.revoke_api_key(&session.ctx, id).await,
        Err(_) => Err(Error::NotFound { what: "API key" }),
    };
    match result {
        Ok(()) => see_other("/admin/api-keys?done=revoked"),
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_keys(&services, session, status, flash, None).await
        }
    }
}

// ---- Zoom apps and the doctor ----

pub async fn zoom(State(services): State<Services>, Admin(session): Admin) -> Response {
    let ctx = &session.ctx;
    let rid = ctx.request_id.as_deref();
    let apps = match services.list_zoom_apps(ctx).await {
        Ok(a) => a,
        Err(e) => return error_page(&e, rid),
    };
    let own = match services.member_connection(ctx, &session.external_id).await {
        Ok(c) => c,
        Err(e) => return error_page(&e, rid),
    };
    let connection = own.as_ref().map(|c| minijinja::context! { state => &c.connection.state, reason => &c.connection.state_reason, zoom_email => &c.connection.zoom_email, app_type => &c.connection.app_type });
    let diagnosis = own.and_then(|c| c.diagnosis);
    app_page(
        &session,
        StatusCode::OK,
        "admin_zoom.html",
        "zoom",
        None,
        minijinja::context! { apps, connection, diagnosis, redirect_uri => services.redirect_uri() },
    )
}

// ---- webhook endpoints and deliveries ----

#[derive(Debug, Default, Deserialize)]
pub struct WebhooksQuery {
    done: Option<String>,
    endpoint: Option<String>,
}

/// A secret shown once: of a new endpoint, or of a rotation (with when the old one stops).
#[derive(Debug, Serialize)]
struct CreatedSecret {
    url: String,
    secret: Secret,
    rotated: bool,
    previous_until: Option<String>,
}

async fn render_webhooks(
    services: &Services,
    session: &MemberSession,
    status: StatusCode,
    flash: Option<Flash>,
    created: Option<CreatedSecret>,
    filter: Option<WebhookEndpointId>,
) -> Response {
    let ctx = &session.ctx;
    let rid = ctx.request_id.as_deref();
    let endpoints = match services.list_webhook_endpoints(ctx).await {
        Ok(e) => e,
        Err(e) => return error_page(&e, rid),
    };
    let deliveries = match services.list_deliveries(ctx, filter, None, 50).await {
        Ok(d) => d.data,
        Err(e) => return error_page(&e, rid),
    };
    let url_of: HashMap<String, String> = endpoints
        .iter()
        .map(|e| (e.id.to_string(), e.url.clone()))
        .collect();
    let rows: Vec<_> = deliveries
        .iter()
        .map(|d| {
            minijinja::context! {
                event_id => &d.event_id,
                endpoint => url_of.get(&d.endpoint_id.to_string()).cloned().unwrap_or_else(|| "(deleted endpoint)".into()),
                status => &d.status,
                attempts => d.attempts,
                last_status_code => d.last_status_code,
                last_error => &d.last_error,
                created => rfc3339(d.created_at),
                next_attempt => d.next_attempt_at.map(rfc3339),
            }
        })
        .collect();
    app_page(
        session,
        status,
        "admin_webhooks.html",
        "webhooks",
        flash,
        minijinja::context! { endpoints, deliveries => rows, event_types => EVENT_TYPES, created, filter => filter.map(|f| f.to_string()) },
    )
}

pub async fn webhooks(
    State(services): State<Services>,
    Admin(session): Admin,
    Query(q): Query<WebhooksQuery>,
) -> Response {
    let filter = q
        .endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
        .and_then(|e| e.parse::<WebhookEndpointId>().ok());
    render_webhooks(
        &services,
        &session,
        StatusCode::OK,
        done_flash(q.done.as_deref()),
        None,
        filter,
    )
    .await
}

pub async fn create_webhook(State(services): State<Services>, form: AdminForm) -> Response {
    let session = &form.session;
    let new = NewWebhookEndpoint {
        url: form.fields.text("url"),
        event_types: form.fields.all("event_types"),
        description: form.fields.optional("description"),
    };
    match services.create_webhook_endpoint(&session.ctx, new).await {
        Ok(view) => {
            let created = CreatedSecret {
                url: view.url.clone(),
                secret: view.secret.clone().unwrap_or_default(),
                rotated: false,
                previous_until: None,
            };
            render_webhooks(
                &services,
                session,
                StatusCode::CREATED,
                None,
                Some(created),
                None,
            )
            .await
        }
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_webhooks(&services, session, status, flash, None, None).await
        }
    }
}

pub async fn rotate_webhook_secret(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let request = SecretRotationRequest {
        keep_previous_secs: form.fields.checked("at_once").then_some(0),
    };
    let result = match raw.parse::<WebhookEndpointId>() {
        Ok(id) => {
            services
                .rotate_webhook_secret(&session.ctx, id, request)
                .await
        }
        Err(_) => Err(Error::NotFound {
            what: "webhook endpoint",
        }),
    };
    let (status, flash, created) = match result {
        Ok(view) => (
            StatusCode::OK,
            None,
            Some(CreatedSecret {
                url: view.url.clone(),
                secret: view.secret.clone().unwrap_or_default(),
                rotated: true,
                previous_until: view.previous_secret_expires_at.map(rfc3339),
            }),
        ),
        Err(e) => {
            let (status, flash) = failure(session, &e);
            (status, flash, None)
        }
    };
    render_webhooks(&services, session, status, flash, created, None).await
}

pub async fn delete_webhook(
    State(services): State<Services>,
    Path(raw): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    let result = match raw.parse::<WebhookEndpointId>() {
        Ok(id) => services.delete_webhook_endpoint(&session.ctx, id).await,
        Err(_) => Err(Error::NotFound {
            what: "webhook endpoint",
        }),
    };
    match result {
        Ok(()) => see_other("/admin/webhooks?done=webhook_deleted"),
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_webhooks(&services, session, status, flash, None, None).await
        }
    }
}

// ---- audit log ----

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AuditQuery {
    action: Option<String>,
    actor_id: Option<String>,
    object_id: Option<String>,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    since: Option<String>,
    /// `YYYY-MM-DD`, to the end of that day (UTC).
    until: Option<String>,
    cursor: Option<String>,
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The audit log narrowed to one actor or object, over all time.
fn audit_filter_link(key: &str, value: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("since", "")
        .append_pair(key, value)
        .finish();
    format!("/admin/audit?{query}")
}

/// An instant as the templates' `moment` filter takes it.
fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub async fn audit(
    State(services): State<Services>,
    Admin(session): Admin,
    Query(mut q): Query<AuditQuery>,
) -> Response {
    let ctx = &session.ctx;
    // A first visit shows the last week, so an old clinic's log does not open on its first day.
    if q.since.is_none() && q.until.is_none() && q.action.is_none() && q.cursor.is_none() {
        q.since = Some((ctx.now - time::Duration::days(7)).date().to_string());
    }
    let filter = AuditFilter {
        action: blank(&q.action),
        object_id: blank(&q.object_id),
        actor_id: blank(&q.actor_id),
        since: blank(&q.since).map(|d| format!("{d}T00:00:00Z")),
        until: blank(&q.until).map(|d| format!("{d}T23:59:59Z")),
        cursor: blank(&q.cursor),
        limit: Some(50),
        order: Some("desc".into()),
    };
    let (status, flash, page) = match services.audit_events(ctx, &filter).await {
        Ok(page) => (StatusCode::OK, None, Some(page)),
        Err(e) => {
            let (status, flash) = failure(&session, &e);
            (status, flash, None)
        }
    };
    let names: HashMap<String, String> = services
        .list_members(ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.id.to_string(), m.name))
        .collect();
    let entries: Vec<_> = page
        .as_ref()
        .map(|p| {
            p.data
                .iter()
                .map(|e| {
                    let actor = match (e.actor_kind.as_str(), e.actor_id.as_deref()) {
                        ("member", Some(id)) => names.get(id).cloned().unwrap_or_else(|| format!("member {id}")),
                        (kind, Some(id)) => format!("{} {id}", kind.replace('_', " ")),
                        (kind, None) => kind.replace('_', " "),
                    };
                    minijinja::context! {
                        at => rfc3339(e.at),
                        actor,
                        actor_href => e.actor_id.as_deref().map(|id| audit_filter_link("actor_id", id)),
                        action => &e.action,
                        object_kind => e.object_kind.replace('_', " "),
                        object_id => &e.object_id,
                        object_href => e.object_id.as_deref().map(|id| audit_filter_link("object_id", id)),
                        outcome => &e.outcome,
                        details => if e.details.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { e.details.to_string() },
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let next = page
        .as_ref()
        .and_then(|p| p.next_cursor.clone())
        .map(|cursor| {
            let mut out = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("action", &q.action),
                ("actor_id", &q.actor_id),
                ("object_id", &q.object_id),
                ("since", &q.since),
                ("until", &q.until),
            ] {
                out.append_pair(k, v.as_deref().unwrap_or_default());
            }
            out.append_pair("cursor", &cursor);
            format!("/admin/audit?{}", out.finish())
        });
    let prefixes = [
        "member.",
        "invitation.",
        "api_key.",
        "connection.",
        "meeting.",
        "webhook_endpoint.",
        "tenant.",
        "zoom_app.",
    ];
    app_page(
        &session,
        status,
        "admin_audit.html",
        "audit",
        flash,
        minijinja::context! { entries, next, q => &q, prefixes },
    )
}

// ---- clinic settings ----

const POLICY_FLAGS: [(&str, &str); 5] = [
    ("waiting_room", "Waiting room"),
    ("join_before_host", "Clients may join before the host"),
    ("mute_upon_entry", "Mute clients when they join"),
    ("host_video", "Host video on at start"),
    ("participant_video", "Client video on at start"),
];

fn policy_flag<'a>(s: &'a TenantSettings, name: &str) -> Option<&'a PolicyValue<bool>> {
    let p = &s.meeting_policy;
    match name {
        "waiting_room" => Some(&p.waiting_room),
        "join_before_host" => Some(&p.join_before_host),
        "mute_upon_entry" => Some(&p.mute_upon_entry),
        "host_video" => Some(&p.host_video),
        "participant_video" => Some(&p.participant_video),
        _ => None,
    }
}

fn render_settings(
    session: &MemberSession,
    settings: &TenantSettings,
    status: StatusCode,
    flash: Option<Flash>,
) -> Response {
    let flags: Vec<_> = POLICY_FLAGS
        .iter()
        .filter_map(|(name, label)| {
            policy_flag(settings, name)
                .map(|v| minijinja::context! { name, label, value => v.value, locked => v.locked })
        })
        .collect();
    app_page(
        session,
        status,
        "admin_settings.html",
        "settings",
        flash,
        minijinja::context! {
            flags,
            recording => &settings.meeting_policy.auto_recording,
            label_in_topic => settings.client_label_in_topic,
            default_topic => &settings.default_topic,
            return_urls => settings.return_urls.join("\n"),
        },
    )
}

pub async fn settings(
    State(services): State<Services>,
    Admin(session): Admin,
    Query(q): Query<DoneQuery>,
) -> Response {
    match services.tenant_settings(&session.ctx).await {
        Ok(s) => render_settings(&session, &s, StatusCode::OK, done_flash(q.done.as_deref())),
        Err(e) => error_page(&e, session.ctx.request_id.as_deref()),
    }
}

/// The settings form as `TenantSettings`: a blank default topic means the built-in one.
fn settings_from(fields: &Fields) -> TenantSettings {
    let flag = |name: &str| PolicyValue {
        value: fields.checked(name),
        locked: fields.checked(&format!("{name}_locked")),
    };
    let defaults = TenantSettings::default();
    let mut s = TenantSettings {
        return_urls: fields
            .text("return_urls")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        client_label_in_topic: fields.checked("client_label_in_topic"),
        default_topic: fields
            .optional("default_topic")
            .unwrap_or(defaults.default_topic),
        ..defaults
    };
    s.meeting_policy.waiting_room = flag("waiting_room");
    s.meeting_policy.join_before_host = flag("join_before_host");
    s.meeting_policy.mute_upon_entry = flag("mute_upon_entry");
    s.meeting_policy.host_video = flag("host_video");
    s.meeting_policy.participant_video = flag("participant_video");
    s.meeting_policy.auto_recording = PolicyValue {
        value: fields.text("auto_recording"),
        locked: fields.checked("auto_recording_locked"),
    };
    s
}

pub async fn save_settings(State(services): State<Services>, form: AdminForm) -> Response {
    let session = &form.session;
    let wanted = settings_from(&form.fields);
    match services
        .update_tenant_settings(&session.ctx, wanted.clone())
        .await
    {
        Ok(_) => see_other("/admin/settings?done=settings"),
        Err(e) => {
            let (status, flash) = failure(session, &e);
            render_settings(session, &wanted, status, flash)
        }
    }
}
