//! Conversions between the trait's types and PostgreSQL's: mostly native (`uuid`, `timestamptz`,
//! `jsonb`, `bytea`); the helpers keep call sites uniform and narrow the integer widths.

use std::str::FromStr;

use meetgate_store::{OffsetDateTime, SealedValue, StoreError, StoreResult};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

pub(crate) fn id(u: Uuid) -> Uuid {
    u
}

pub(crate) fn opt_id(u: Option<Uuid>) -> Option<Uuid> {
    u
}

/// PostgreSQL keeps microseconds; the driver drops anything finer.
pub(crate) fn ts(t: OffsetDateTime) -> OffsetDateTime {
    t
}

pub(crate) fn opt_ts(t: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    t
}

pub(crate) fn json(v: &Value) -> Value {
    v.clone()
}

pub(crate) fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {column}: {e}"))
}

/// Typed column access with decode failures reported as [`StoreError::Corrupt`].
pub(crate) trait RowExt {
    fn text(&self, col: &str) -> StoreResult<String>;
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<i64>;
    fn int32(&self, col: &str) -> StoreResult<i32>;
    fn opt_int32(&self, col: &str) -> StoreResult<Option<i32>>;
    fn bytes(&self, col: &str) -> StoreResult<Vec<u8>>;
    fn uuid(&self, col: &str) -> StoreResult<Uuid>;
    fn opt_uuid(&self, col: &str) -> StoreResult<Option<Uuid>>;
    fn time(&self, col: &str) -> StoreResult<OffsetDateTime>;
    fn opt_time(&self, col: &str) -> StoreResult<Option<OffsetDateTime>>;
    fn json(&self, col: &str) -> StoreResult<Value>;
    fn opt_json(&self, col: &str) -> StoreResult<Option<Value>>;
    fn sealed(&self, col: &str) -> StoreResult<SealedValue>;
    fn opt_sealed(&self, col: &str) -> StoreResult<Option<SealedValue>>;
    fn parsed<T: FromStr<Err = StoreError>>(&self, col: &str) -> StoreResult<T>;
}

macro_rules! get {
    ($row:expr, $col:expr) => {
        $row.try_get($col).map_err(|e| corrupt($col, e))
    };
}

impl RowExt for PgRow {
    fn text(&self, col: &str) -> StoreResult<String> {
        get!(self, col)
    }

    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        get!(self, col)
    }

    fn int(&self, col: &str) -> StoreResult<i64> {
        get!(self, col)
    }

    fn int32(&self, col: &str) -> StoreResult<i32> {
        get!(self, col)
    }

    fn opt_int32(&self, col: &str) -> StoreResult<Option<i32>> {
        get!(self, col)
    }

    fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
        get!(self, col)
    }

    fn uuid(&self, col: &str) -> StoreResult<Uuid> {
        get!(self, col)
    }

    fn opt_uuid(&self, col: &str) -> StoreResult<Option<Uuid>> {
        get!(self, col)
    }

    fn time(&self, col: &str) -> StoreResult<OffsetDateTime> {
        get!(self, col)
    }

    fn opt_time(&self, col: &str) -> StoreResult<Option<OffsetDateTime>> {
        get!(self, col)
    }

    fn json(&self, col: &str) -> StoreResult<Value> {
        get!(self, col)
    }

    fn opt_json(&self, col: &str) -> StoreResult<Option<Value>> {
        get!(self, col)
    }

    fn sealed(&self, col: &str) -> StoreResult<SealedValue> {
        self.bytes(col).map(SealedValue)
    }

    fn opt_sealed(&self, col: &str) -> StoreResult<Option<SealedValue>> {
        let v: Option<Vec<u8>> = get!(self, col)?;
        Ok(v.map(SealedValue))
    }

    fn parsed<T: FromStr<Err = StoreError>>(&self, col: &str) -> StoreResult<T> {
        self.text(col)?.parse()
    }
}
