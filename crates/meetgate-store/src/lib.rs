//! The storage contract of meetgate: ids, row models, errors and the [`Store`] trait.
//!
//! Backends live in their own crates (`meetgate-store-sqlite`, `meetgate-store-postgres`) and are
//! chosen at run time from the database URL. Every method that touches tenant data takes the
//! [`TenantId`] it is scoped to; the few that do not (API-key lookup, webhook routing, background
//! claims) say why in their docs.
//!
//! Mutations that must not be half-written take an [`Effects`] value: the audit entries, outbox
//! events and idempotency completion that belong to the same change are written in the same
//! transaction as the change itself.

mod effects;
mod error;
mod ids;
pub mod models;
mod sealed;
#[cfg(feature = "testsuite")]
pub mod testsuite;
mod traits;

pub use effects::{CompleteIdempotency, Effects, HeldKey, NewAuditEvent, NewOutboxEvent};
pub use error::{StoreError, StoreResult};
pub use ids::*;
pub use sealed::{SealedColumn, SealedValue};
pub use traits::*;

/// Re-exported so that callers name timestamps with the same type as the store.
pub use time::OffsetDateTime;
