//! Conversions between the trait's types and SQLite's storage classes: ids as lowercase
//! hyphenated text (so text order is UUID order), timestamps as INTEGER microseconds since the
//! Unix epoch, JSON as text, sealed values as BLOB.

use std::str::FromStr;

use meetgate_store::{OffsetDateTime, SealedValue, StoreError, StoreResult};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

pub(crate) fn id(u: Uuid) -> String {
    u.hyphenated().to_string()
}

pub(crate) fn opt_id(u: Option<Uuid>) -> Option<String> {
    u.map(id)
}

/// Microseconds since the epoch; like PostgreSQL, sub-microsecond precision is dropped.
pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    let micros = t.unix_timestamp_nanos().div_euclid(1000);
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn opt_ts(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(ts)
}

pub(crate) fn from_ts(micros: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {micros} out of range: {e}")))
}

pub(crate) fn json(v: &Value) -> String {
    v.to_string()
}

pub(crate) fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {column}: {e}"))
}

/// Typed column access with decode failures reported as [`StoreError::Corrupt`].
pub(crate) trait RowExt {
    fn text(&self, col: &str) -> StoreResult<String>;
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<i64>;
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
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

impl RowExt for SqliteRow {
    fn text(&self, col: &str) -> StoreResult<String> {
        self.try_get(col).map_err(|e| corrupt(col, e))
    }

    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.try_get(col).map_err(|e| corrupt(col, e))
    }

    fn int(&self, col: &str) -> StoreResult<i64> {
        self.try_get(col).map_err(|e| corrupt(col, e))
    }

    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.try_get(col).map_err(|e| corrupt(col, e))
    }

    fn int32(&self, col: &str) -> StoreResult<i32> {
        i32::try_from(self.int(col)?).map_err(|e| corrupt(col, e))
    }

    fn opt_int32(&self, col: &str) -> StoreResult<Option<i32>> {
        self.opt_int(col)?
            .map(|v| i32::try_from(v).map_err(|e| corrupt(col, e)))
            .transpose()
    }

    fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
        self.try_get(col).map_err(|e| corrupt(col, e))
    }

    fn uuid(&self, col: &str) -> StoreResult<Uuid> {
        let text: String = self.text(col)?;
        Uuid::parse_str(&text).map_err(|e| corrupt(col, e))
    }

    fn opt_uuid(&self, col: &str) -> StoreResult<Option<Uuid>> {
        self.opt_text(col)?
            .map(|t| Uuid::parse_str(&t).map_err(|e| corrupt(col, e)))
            .transpose()
    }

    fn time(&self, col: &str) -> StoreResult<OffsetDateTime> {
        from_ts(self.int(col)?)
    }

    fn opt_time(&self, col: &str) -> StoreResult<Option<OffsetDateTime>> {
        self.opt_int(col)?.map(from_ts).transpose()
    }

    fn json(&self, col: &str) -> StoreResult<Value> {
        let text = self.text(col)?;
        serde_json::from_str(&text).map_err(|e| corrupt(col, e))
    }

    fn opt_json(&self, col: &str) -> StoreResult<Option<Value>> {
        self.opt_text(col)?
            .map(|t| serde_json::from_str(&t).map_err(|e| corrupt(col, e)))
            .transpose()
    }

    fn sealed(&self, col: &str) -> StoreResult<SealedValue> {
        self.bytes(col).map(SealedValue)
    }

    fn opt_sealed(&self, col: &str) -> StoreResult<Option<SealedValue>> {
        let v: Option<Vec<u8>> = self.try_get(col).map_err(|e| corrupt(col, e))?;
        Ok(v.map(SealedValue))
    }

    fn parsed<T: FromStr<Err = StoreError>>(&self, col: &str) -> StoreResult<T> {
        self.text(col)?.parse()
    }
}
