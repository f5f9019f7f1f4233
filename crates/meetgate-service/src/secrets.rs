//! Random tokens and their hashes. Credentials that meetgate hands out (API keys, session
//! cookies, connect links, `state`, invitations) are stored only as SHA-256 hashes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use meetgate_zoom::{Secret, random_token};

pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
