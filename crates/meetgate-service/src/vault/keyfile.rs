use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use super::{Keyring, VaultError};

/// Where the keyring came from, for the start-up message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Configured,
    ExistingFile(PathBuf),
    GeneratedFile(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("setting `vault.keys`: {0}")]
    Config(String),
    #[error("vault key file {path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error(transparent)]
    Vault(#[from] VaultError),
}

fn parse_keys(text: &str) -> Result<Vec<(String, [u8; 32])>, KeyLoadError> {
    let mut keys = Vec::new();
    for entry in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((id, material)) = entry.split_once(':') else {
            return Err(KeyLoadError::Config(
                "each key must be written key_id:base64(32 bytes)".into(),
            ));
        };
        let bytes = STANDARD.decode(material.trim()).map_err(|_| {
            KeyLoadError::Vault(VaultError::BadKey {
                key_id: id.to_owned(),
            })
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            KeyLoadError::Vault(VaultError::BadKey {
                key_id: id.to_owned(),
            })
        })?;
        keys.push((id.trim().to_owned(), bytes));
    }
    Ok(keys)
}

/// A new random key entry, `key_id:base64`.
pub fn generate_key_entry(key_id: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{key_id}:{}", STANDARD.encode(bytes))
}

/// Builds the keyring from `vault.keys` or, when that is empty, from `key_file`, creating the
/// file with a new random key (mode 0600) if it does not exist.
pub fn load_keyring(
    keys: &str,
    key_file: &Path,
    today: &str,
) -> Result<(Keyring, KeySource), KeyLoadError> {
    if !keys.trim().is_empty() {
        let parsed = parse_keys(keys)?;
        return Ok((Keyring::new(parsed)?, KeySource::Configured));
    }
    let file_error = |problem: String| KeyLoadError::File {
        path: key_file.to_owned(),
        problem,
    };
    match std::fs::read_to_string(key_file) {
        Ok(text) => {
            check_permissions(key_file).map_err(file_error)?;
            let parsed = parse_keys(&text)?;
            Ok((
                Keyring::new(parsed)?,
                KeySource::ExistingFile(key_file.to_owned()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| file_error(e.to_string()))?;
            }
            let entry = generate_key_entry(&format!("k{today}"));
            write_private(key_file, &format!("{entry}\n"))
                .map_err(|e| file_error(e.to_string()))?;
            let parsed = parse_keys(&entry)?;
            Ok((
                Keyring::new(parsed)?,
                KeySource::GeneratedFile(key_file.to_owned()),
            ))
        }
        Err(e) => Err(file_error(e.to_string())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "is readable by others (mode {:o}); run chmod 600",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_private_key_file_once_and_reads_it_back() {
        let dir = std::env::temp_dir().join(format!("meetgate-keyfile-{}", uuid::Uuid::new_v4()));
        let path = dir.join("vault.key");
        let (ring, source) = load_keyring("", &path, "20261128").unwrap();
        assert_eq!(source, KeySource::GeneratedFile(path.clone()));
        assert_eq!(ring.primary_id(), "k20261128");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let (again, source) = load_keyring("", &path, "20300101").unwrap();
        assert_eq!(source, KeySource::ExistingFile(path.clone()));
        assert_eq!(again.fingerprints(), ring.fingerprints());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn configured_keys_win_and_bad_ones_are_named() {
        let entry = generate_key_entry("prod1");
        let (ring, source) = load_keyring(
            &format!("{entry},{}", generate_key_entry("old")),
            Path::new("/nonexistent"),
            "x",
        )
        .unwrap();
        assert_eq!(source, KeySource::Configured);
        assert_eq!(ring.primary_id(), "prod1");
        let err = load_keyring("prod1:c2hvcnQ=", Path::new("/nonexistent"), "x").unwrap_err();
        assert!(err.to_string().contains("prod1"), "{err}");
        assert!(!err.to_string().contains("c2hvcnQ"), "{err}");
    }
}
