use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use meetgate_store::{SealedColumn, SealedValue, TenantId};
use rand::RngCore;
use sha2::Sha256;

/// Stored format version 1: `[1, kid_len, kid..., nonce(12), ciphertext+tag(16)]`.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the keyring is empty")]
    NoKeys,
    #[error("vault key {key_id:?} is not 32 bytes of base64")]
    BadKey { key_id: String },
    #[error("vault key id {0:?} is used twice")]
    DuplicateKeyId(String),
    #[error("vault key id {0:?} must be 1 to 64 characters of [A-Za-z0-9_-]")]
    BadKeyId(String),
    #[error("encrypted value was written with key {0:?}, which is not in the keyring")]
    UnknownKey(String),
    #[error("encrypted value is malformed")]
    Malformed,
    #[error("encrypted value does not decrypt (wrong key, or copied from another row)")]
    Undecryptable,
    #[error("encryption failed")]
    EncryptFailed,
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
    fingerprint: String,
    /// Derived from the key for signing links (start links), never used to encrypt.
    link_key: [u8; 32],
}

/// One primary key that encrypts and any number of older keys that only decrypt.
pub struct Keyring {
    primary: Key,
    others: HashMap<String, Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary.id)
            .field("decrypt_only", &self.others.keys().collect::<Vec<_>>())
            .finish()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn fingerprint(key: &[u8; 32]) -> String {
    // A one-way tag of the key, safe to store beside the data it protects.
    let mut mac = match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(b"meetgate vault key fingerprint v1");
    hex::encode(&mac.finalize().into_bytes()[..16])
}

fn derive(key: &[u8; 32], purpose: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(key) {
        mac.update(purpose);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// `keys[0]` is the primary.
    pub fn new(keys: Vec<(String, [u8; 32])>) -> Result<Self, VaultError> {
        let mut built: Vec<Key> = Vec::with_capacity(keys.len());
        for (id, bytes) in keys {
            if !valid_key_id(&id) {
                return Err(VaultError::BadKeyId(id));
            }
            if built.iter().any(|k| k.id == id) {
                return Err(VaultError::DuplicateKeyId(id));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| VaultError::BadKey { key_id: id.clone() })?;
            built.push(Key {
                fingerprint: fingerprint(&bytes),
                link_key: derive(&bytes, b"meetgate link signing v1"),
                id,
                cipher,
            });
        }
        let mut iter = built.into_iter();
        let primary = iter.next().ok_or(VaultError::NoKeys)?;
        let others = iter.map(|k| (k.id.clone(), k)).collect();
        Ok(Self { primary, others })
    }

    pub fn primary_id(&self) -> &str {
        &self.primary.id
    }

    /// `(key id, fingerprint)` of every key, primary first.
    pub fn fingerprints(&self) -> Vec<(String, String)> {
        std::iter::once(&self.primary)
            .chain(self.others.values())
            .map(|k| (k.id.clone(), k.fingerprint.clone()))
            .collect()
    }

    fn key(&self, id: &str) -> Option<&Key> {
        if self.primary.id == id {
            Some(&self.primary)
        } else {
            self.others.get(id)
        }
    }

    fn associated_data(column: SealedColumn, tenant: Option<TenantId>, row: &str) -> Vec<u8> {
        let (table, col) = column.location();
        let tenant = tenant.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        format!("meetgate:v1|{table}.{col}|{tenant}|{row}").into_bytes()
    }

    /// Encrypts `plaintext` for one cell: `row` is the row's primary key as text.
    pub fn seal(
        &self,
        column: SealedColumn,
        tenant: Option<TenantId>,
        row: &str,
        plaintext: &[u8],
    ) -> Result<SealedValue, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        // The thread's CSPRNG (ChaCha, seeded from the OS): a random 96-bit nonce needs a
        // cryptographically secure source, not a system call per seal (two per meeting create).
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = Self::associated_data(column, tenant, row);
        let ciphertext = self
            .primary
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::EncryptFailed)?;
        let kid = self.primary.id.as_bytes();
        let mut out = Vec::with_capacity(2 + kid.len() + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.push(kid.len() as u8);
        out.extend_from_slice(kid);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(SealedValue(out))
    }

    /// The key id a sealed value names, without decrypting it.
    pub fn key_id_of(value: &SealedValue) -> Result<&str, VaultError> {
        let bytes = &value.0;
        if bytes.len() < 2 || bytes[0] != FORMAT_V1 {
            return Err(VaultError::Malformed);
        }
        let kid_len = bytes[1] as usize;
        let kid = bytes.get(2..2 + kid_len).ok_or(VaultError::Malformed)?;
        std::str::from_utf8(kid).map_err(|_| VaultError::Malformed)
    }

    pub fn open(
        &self,
        column: SealedColumn,
        tenant: Option<TenantId>,
        row: &str,
        value: &SealedValue,
    ) -> Result<Vec<u8>, VaultError> {
        let kid = Self::key_id_of(value)?;
        let key = self
            .key(kid)
            .ok_or_else(|| VaultError::UnknownKey(kid.to_owned()))?;
        let rest = &value.0[2 + kid.len()..];
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(VaultError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = Self::associated_data(column, tenant, row);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Undecryptable)
    }

    pub fn seal_str(
        &self,
        column: SealedColumn,
        tenant: Option<TenantId>,
        row: &str,
        plaintext: &str,
    ) -> Result<SealedValue, VaultError> {
        self.seal(column, tenant, row, plaintext.as_bytes())
    }

    pub fn open_string(
        &self,
        column: SealedColumn,
        tenant: Option<TenantId>,
        row: &str,
        value: &SealedValue,
    ) -> Result<String, VaultError> {
        String::from_utf8(self.open(column, tenant, row, value)?).map_err(|_| VaultError::Malformed)
    }

    /// Signs `message` for a link (with the primary key's link key); `key_id.hexmac`.
    pub fn sign_link(&self, message: &str) -> String {
        format!(
            "{}.{}",
            self.primary.id,
            hex::encode(link_mac(&self.primary.link_key, message))
        )
    }

    /// Checks a link signature made by any key in the ring, in constant time.
    pub fn verify_link(&self, message: &str, signature: &str) -> bool {
        let Some((kid, mac_hex)) = signature.split_once('.') else {
            return false;
        };
        let Some(key) = self.key(kid) else {
            return false;
        };
        let Ok(presented) = hex::decode(mac_hex) else {
            return false;
        };
        crate::secrets::constant_time_eq(&link_mac(&key.link_key, message), &presented)
    }

    pub fn is_primary(&self, value: &SealedValue) -> bool {
        Self::key_id_of(value)
            .map(|k| k == self.primary.id)
            .unwrap_or(false)
    }
}

fn link_mac(key: &[u8; 32], message: &str) -> Vec<u8> {
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(vec![("k2".into(), [2u8; 32]), ("k1".into(), [1u8; 32])]).unwrap()
    }

    #[test]
    fn round_trip_carries_the_key_id() {
        let ring = ring();
        let tenant = Some(TenantId::new());
        let sealed = ring
            .seal(
                SealedColumn::ConnectionAccessToken,
                tenant,
                "row-1",
                b"token",
            )
            .unwrap();
        assert_eq!(Keyring::key_id_of(&sealed).unwrap(), "k2");
        assert!(!sealed.0.windows(5).any(|w| w == b"token"));
        let opened = ring
            .open(
                SealedColumn::ConnectionAccessToken,
                tenant,
                "row-1",
                &sealed,
            )
            .unwrap();
        assert_eq!(opened, b"token");
    }

    #[test]
    fn every_seal_draws_its_own_nonce() {
        let ring = ring();
        let col = SealedColumn::ConnectionAccessToken;
        let nonce_at = 2 + "k2".len();
        let nonces: std::collections::HashSet<Vec<u8>> = (0..1000)
            .map(|_| {
                let sealed = ring.seal(col, None, "row", b"same plaintext").unwrap();
                sealed.0[nonce_at..nonce_at + NONCE_LEN].to_vec()
            })
            .collect();
        assert_eq!(nonces.len(), 1000, "a nonce repeated under one key");
        // And from another thread, whose generator is seeded on its own.
        let ring = std::sync::Arc::new(ring);
        let other = std::thread::spawn({
            let ring = ring.clone();
            move || ring.seal(col, None, "row", b"same plaintext").unwrap().0
        })
        .join()
        .unwrap();
        assert!(!nonces.contains(&other[nonce_at..nonce_at + NONCE_LEN]));
    }

    #[test]
    fn a_value_moved_to_another_row_column_or_tenant_does_not_open() {
        let ring = ring();
        let tenant = Some(TenantId::new());
        let col = SealedColumn::ConnectionAccessToken;
        let sealed = ring.seal(col, tenant, "row-1", b"token").unwrap();
        assert!(matches!(
            ring.open(col, tenant, "row-2", &sealed),
            Err(VaultError::Undecryptable)
        ));
        assert!(matches!(
            ring.open(
                SealedColumn::ConnectionRefreshToken,
                tenant,
                "row-1",
                &sealed
            ),
            Err(VaultError::Undecryptable)
        ));
        assert!(matches!(
            ring.open(col, Some(TenantId::new()), "row-1", &sealed),
            Err(VaultError::Undecryptable)
        ));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let ring = ring();
        let col = SealedColumn::MeetingDetails;
        let sealed = ring.seal(col, None, "r", b"{\"topic\":\"x\"}").unwrap();
        for i in 0..sealed.0.len() * 8 {
            let mut bad = sealed.clone();
            bad.0[i / 8] ^= 1 << (i % 8);
            assert!(
                ring.open(col, None, "r", &bad).is_err(),
                "bit {i} flip went unnoticed"
            );
        }
    }

    #[test]
    fn old_keys_decrypt_and_unknown_keys_are_named() {
        let old = Keyring::new(vec![("k1".into(), [1u8; 32])]).unwrap();
        let col = SealedColumn::ConnectionRefreshToken;
        let sealed = old.seal(col, None, "r", b"rt").unwrap();
        assert_eq!(ring().open(col, None, "r", &sealed).unwrap(), b"rt");
        let other = Keyring::new(vec![("k9".into(), [9u8; 32])]).unwrap();
        assert!(
            matches!(other.open(col, None, "r", &sealed), Err(VaultError::UnknownKey(k)) if k == "k1")
        );
    }

    #[test]
    fn no_plaintext_fallback() {
        let col = SealedColumn::ConnectionAccessToken;
        assert!(
            ring()
                .open(col, None, "r", &SealedValue(b"plain-token".to_vec()))
                .is_err()
        );
        assert!(
            ring()
                .open(col, None, "r", &SealedValue(Vec::new()))
                .is_err()
        );
    }

    #[test]
    fn link_signatures_verify_with_any_key_and_fail_when_changed() {
        let old = Keyring::new(vec![("k1".into(), [1u8; 32])]).unwrap();
        let sig = old.sign_link("meeting:abc:1700000000");
        assert!(ring().verify_link("meeting:abc:1700000000", &sig));
        assert!(!ring().verify_link("meeting:abd:1700000000", &sig));
        assert!(!ring().verify_link("meeting:abc:1700000000", &sig.replace("k1.", "k2.")));
        assert!(!ring().verify_link("meeting:abc:1700000000", "garbage"));
    }

    #[test]
    fn debug_shows_ids_only() {
        let debug = format!("{:?}", ring());
        assert!(debug.contains("k2") && !debug.contains("[2, 2"));
    }
}
