//! meetgate end to end: a real meetgate, a real sandbox, a real database (SQLite, and PostgreSQL
//! when MEETGATE_TEST_POSTGRES_URL is set; CI always sets it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod api;
mod connect;
mod logs;
mod meetings;
mod pages;
mod refresh;
mod webhooks;
