use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a Zoom webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing x-zm-signature or x-zm-request-timestamp header")]
    Missing,
    #[error("malformed signature header")]
    Malformed,
    #[error("timestamp outside the allowed window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable_mac(),
    }
}

#[cold]
fn unreachable_mac() -> HmacSha256 {
    // new_from_slice only fails for fixed-size-key MACs; keep a defined value anyway.
    <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default())
}

/// `v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))`, as Zoom signs.
pub fn sign_webhook(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(b"v0:");
    m.update(timestamp.as_bytes());
    m.update(b":");
    m.update(body);
    format!("v0={}", hex::encode(m.finalize().into_bytes()))
}

/// Verifies a Zoom webhook over its raw bytes, against any of `secrets` (the current one and,
/// during a rotation, the next), in constant time. `now` and `timestamp` are Unix seconds.
/// Returns the index in `secrets` of the secret that signed it: Zoom's URL validation must be
/// answered with that one.
pub fn verify_webhook_signature(
    secrets: &[&[u8]],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<usize, SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let ts: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if (now - ts).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    // Zoom sends lower-case hex; anything else is not Zoom's and is refused outright rather than
    // normalised, so that one body has exactly one valid signature.
    let Some(hex_part) = signature.strip_prefix("v0=") else {
        return Err(SignatureError::Malformed);
    };
    if hex_part.len() != 64
        || !hex_part
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(SignatureError::Malformed);
    }
    // Every secret is compared, whichever matches, so the time taken does not say which.
    let matches: Vec<bool> = secrets
        .iter()
        .map(|secret| {
            let expected = sign_webhook(secret, timestamp, body);
            bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
        })
        .collect();
    matches
        .iter()
        .position(|m| *m)
        .ok_or(SignatureError::Mismatch)
}

/// The answer to `endpoint.url_validation`: `encryptedToken = hex(HMAC-SHA256(secret,
/// plainToken))`. Returns `None` for a plainToken that could make this a signing oracle: one
/// holding `:` or `{` could be the prefix of a forged `v0:{ts}:{body}` signing input.
pub fn url_validation_response(secret: &[u8], plain_token: &str) -> Option<serde_json::Value> {
    if plain_token.is_empty()
        || plain_token.len() > 256
        || plain_token.contains(':')
        || plain_token.contains('{')
    {
        return None;
    }
    let mut m = mac(secret);
    m.update(plain_token.as_bytes());
    let encrypted = hex::encode(m.finalize().into_bytes());
    Some(serde_json::json!({ "plainToken": plain_token, "encryptedToken": encrypted }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn signed(secret: &[u8], body: &[u8]) -> String {
        sign_webhook(secret, &NOW.to_string(), body)
    }

    #[test]
    fn accepts_the_current_and_the_next_secret() {
        let body = br#"{"event":"meeting.started"}"#;
        let ts = NOW.to_string();
        for (index, secret) in [b"current".as_slice(), b"next".as_slice()]
            .into_iter()
            .enumerate()
        {
            let sig = signed(secret, body);
            assert_eq!(
                verify_webhook_signature(
                    &[b"current", b"next"],
                    Some(&ts),
                    Some(&sig),
                    body,
                    NOW,
                    300
                ),
                Ok(index)
            );
        }
    }

    #[test]
    fn refuses_wrong_secret_uppercase_reserialized_stale_and_prefixless() {
        let body = br#"{"event":"meeting.started","payload":{}}"#;
        let ts = NOW.to_string();
        let good = signed(b"secret", body);
        let check = |sig: &str, body: &[u8], now: i64| {
            verify_webhook_signature(&[b"secret"], Some(&ts), Some(sig), body, now, 300)
        };
        assert_eq!(
            check(&signed(b"other", body), body, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&good.to_uppercase(), body, NOW),
            Err(SignatureError::Malformed)
        );
        let reserialized = br#"{"event": "meeting.started", "payload": {}}"#;
        assert_eq!(
            check(&good, reserialized, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(check(&good, body, NOW + 301), Err(SignatureError::Stale));
        assert_eq!(check(&good, body, NOW - 301), Err(SignatureError::Stale));
        assert_eq!(
            check(good.trim_start_matches("v0="), body, NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check(&good.replace("v0=", "v1="), body, NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(check(&good, body, NOW), Ok(0));
    }

    #[test]
    fn url_validation_refuses_oracle_tokens() {
        assert!(url_validation_response(b"s", "v0:1700000000:{\"event\"").is_none());
        assert!(url_validation_response(b"s", "{").is_none());
        let answer = url_validation_response(b"s", "qgg8vlvZRS6UYooatFL8Aw").unwrap();
        assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(answer["encryptedToken"].as_str().unwrap().len(), 64);
    }
}
