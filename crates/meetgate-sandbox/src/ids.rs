//! Identifiers and opaque tokens in the shapes Zoom uses.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;

/// User and account ids look like `KDcuGIm1QgePTO8WbOqwIQ`: 16 random bytes, base64url.
pub fn zoom_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::thread_rng().r#gen::<[u8; 16]>())
}

/// Meeting UUIDs are standard base64 of 16 bytes, padding included (`4444AAAiAAAAAiAiAiiAii==`).
pub fn meeting_uuid() -> String {
    STANDARD.encode(rand::thread_rng().r#gen::<[u8; 16]>())
}

/// Meeting numbers are 10 or 11 digits; the sandbox uses 11 so they exceed `i32`.
pub fn meeting_number() -> i64 {
    rand::thread_rng().gen_range(10_000_000_000..100_000_000_000)
}

/// An opaque bearer credential; callers must treat tokens as opaque, as with Zoom.
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(buf.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn digits(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

pub fn alphanumeric(len: usize) -> String {
    const SET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(SET[rng.gen_range(0..SET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(zoom_id().len(), 22);
        assert!(meeting_uuid().ends_with("=="));
        let n = meeting_number();
        assert_eq!(n.to_string().len(), 11);
        assert!(digits(6).chars().all(|c| c.is_ascii_digit()));
    }
}
