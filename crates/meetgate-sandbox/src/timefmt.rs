//! Zoom's date-time shapes: `yyyy-MM-ddTHH:mm:ssZ` out, that or local time plus a zone in.

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

pub const ZOOM_UTC: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const ZOOM_LOCAL: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(ZOOM_UTC)
        .unwrap_or_default()
}

/// A start time as Zoom accepts it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StartTime {
    Utc(OffsetDateTime),
    Local(jiff::civil::DateTime),
}

pub fn parse_start(s: &str) -> Option<StartTime> {
    if let Ok(p) = time::PrimitiveDateTime::parse(s, ZOOM_UTC) {
        return Some(StartTime::Utc(p.assume_utc()));
    }
    let p = time::PrimitiveDateTime::parse(s, ZOOM_LOCAL).ok()?;
    let dt = jiff::civil::DateTime::new(
        i16::try_from(p.year()).ok()?,
        i8::try_from(u8::from(p.month())).ok()?,
        i8::try_from(p.day()).ok()?,
        i8::try_from(p.hour()).ok()?,
        i8::try_from(p.minute()).ok()?,
        i8::try_from(p.second()).ok()?,
        0,
    )
    .ok()?;
    Some(StartTime::Local(dt))
}

pub fn parse_utc(s: &str) -> Option<OffsetDateTime> {
    match parse_start(s)? {
        StartTime::Utc(t) => Some(t),
        StartTime::Local(_) => None,
    }
}

/// serde helper for optional Zoom date-times.
pub mod option {
    use serde::Serializer;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(v: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_str(&super::format(*t)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = parse_utc("2024-05-01T12:30:00Z").expect("utc");
        assert_eq!(format(t), "2024-05-01T12:30:00Z");
        assert!(matches!(
            parse_start("2024-05-01T12:30:00"),
            Some(StartTime::Local(_))
        ));
        assert!(parse_start("2024-05-01 12:30").is_none());
        assert!(parse_start("2024-05-01T12:30:00+02:00").is_none());
    }
}
