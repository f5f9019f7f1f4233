//! meetgate-sandbox: an offline, strict stand-in for Zoom's OAuth server, Meetings REST API
//! and webhooks.
//!
//! Run it in-process with [`spawn`], or serve [`router`] yourself. Drive it over HTTP: OAuth
//! at `/oauth/*`, the REST API at `/v2/*`, simulated browser pages at `/j`, `/s` and
//! `/account/apps`, and the control API at `/_sandbox/*` (typed client: [`SandboxControl`]).
//! docs/sandbox.md documents the default seed, the control API and every strictness choice.

mod api;
mod client;
mod clock;
mod config;
mod control;
mod endpoint;
mod error;
mod faults;
mod ids;
mod lifecycle;
mod meetings;
mod oauth;
mod pages;
mod ratelimit;
mod recurrence;
mod revalidation;
mod scopes;
mod secret;
mod server;
mod state;
mod sweep;
mod timefmt;
mod webhooks;
mod world;

pub use client::{ControlError, SandboxControl};
pub use config::SandboxConfig;
pub use control::dto::{
    AdvanceClock, Affected, ClockState, Counters, Deauthorize, Delivery, DeliveryAttempt,
    ExpireTokens, FaultInfo, FaultKind, FaultSpec, GrantInfo, JoinParticipant, MeetingEvent,
    NewAccount, NewApp, NewUser, RedirectUris, SandboxMeeting, SetWebhook, Settings, UrlValidation,
    WebhookEndpoint,
};
pub use error::SandboxError;
pub use secret::Secret;
pub use server::{RunningSandbox, router, spawn};
pub use state::SandboxState;
pub use webhooks::{encrypted_token, signature as webhook_signature};
pub use world::{
    Account, App, AppType, OTHER_ACCOUNT_ID, Plan, RIVERSIDE_ACCOUNT_ID, Role, SEED_PASSWORD, User,
    World, WorldError,
};

/// Endpoint names used by counters and faults (`meetings.create`, `oauth.token`, ...).
pub fn endpoint_names() -> Vec<&'static str> {
    endpoint::ALL.iter().map(|e| e.name()).collect()
}
