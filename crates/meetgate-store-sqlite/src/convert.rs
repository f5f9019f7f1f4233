//! Conversions between the trait's types and SQLite's storage classes: ids as lowercase
//! hyphenated text (so text order is UUID order), timestamps as INTEGER microseconds since the
//! Unix epoch, JSON as text, sealed values as BLOB.

use std::str::FromStr;

use meetgate_store::{OffsetDateTime, SealedValue, StoreError, StoreResult};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;
use uuid::Uuid;

use crate::sql::Row;

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

/// `t` as a read of the stored value gives it back (microseconds), for a row built from what was
/// written instead of read back with `RETURNING` (which makes SQLite fill a temporary table).
pub(crate) fn as_stored(t: OffsetDateTime) -> OffsetDateTime {
    from_ts(ts(t)).unwrap_or(t)
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
    fn opt_bytes(&self, col: &str) -> StoreResult<Option<Vec<u8>>>;
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

/// A column that is missing is a bug in the statement, reported like a bad value.
fn value<'r>(row: &'r Row, col: &str) -> StoreResult<&'r SqlValue> {
    row.value(col)
        .ok_or_else(|| corrupt(col, "no such column in the result"))
}

fn kind(v: &SqlValue) -> &'static str {
    match v {
        SqlValue::Null => "NULL",
        SqlValue::Integer(_) => "an integer",
        SqlValue::Real(_) => "a real",
        SqlValue::Text(_) => "text",
        SqlValue::Blob(_) => "a blob",
    }
}

impl RowExt for Row {
    fn text(&self, col: &str) -> StoreResult<String> {
        self.opt_text(col)?
            .ok_or_else(|| corrupt(col, "expected text, found NULL"))
    }

    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        match value(self, col)? {
            SqlValue::Null => Ok(None),
            SqlValue::Text(t) => Ok(Some(t.clone())),
            other => Err(corrupt(
                col,
                format!("expected text, found {}", kind(other)),
            )),
        }
    }

    fn int(&self, col: &str) -> StoreResult<i64> {
        self.opt_int(col)?
            .ok_or_else(|| corrupt(col, "expected an integer, found NULL"))
    }

    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        match value(self, col)? {
            SqlValue::Null => Ok(None),
            SqlValue::Integer(i) => Ok(Some(*i)),
            other => Err(corrupt(
                col,
                format!("expected an integer, found {}", kind(other)),
            )),
        }
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
        self.opt_bytes(col)?
            .ok_or_else(|| corrupt(col, "expected a blob, found NULL"))
    }

    fn opt_bytes(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        match value(self, col)? {
            SqlValue::Null => Ok(None),
            SqlValue::Blob(b) => Ok(Some(b.clone())),
            other => Err(corrupt(
                col,
                format!("expected a blob, found {}", kind(other)),
            )),
        }
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
        Ok(self.opt_bytes(col)?.map(SealedValue))
    }

    fn parsed<T: FromStr<Err = StoreError>>(&self, col: &str) -> StoreResult<T> {
        self.text(col)?.parse()
    }
}
