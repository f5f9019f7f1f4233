//! Encryption at rest: AES-256-GCM with a key id in every ciphertext and associated data that
//! binds it to its table, column, tenant and row. There is no plaintext fallback: a value that
//! does not decrypt is an error, never "probably plaintext".

mod keyfile;
mod keyring;
mod rotate;

pub use keyfile::{KeyLoadError, KeySource, generate_key_entry, load_keyring};
pub use keyring::{Keyring, VaultError};
pub use rotate::{RotationError, RotationProgress, rotate_all};
