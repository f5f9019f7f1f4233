//! Integration tests: real HTTP over loopback against a spawned sandbox, no mocks.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod access_rules;
mod common;
mod faults;
mod limits;
mod meetings;
mod oauth_flow;
mod rooms;
mod schema;
mod webhooks;
mod world;
