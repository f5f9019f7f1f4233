use meetgate_store::{KeyStore, SealedColumn, StoreError};

use super::{Keyring, VaultError};

/// Progress of a re-encryption, reported after each batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationProgress {
    pub column: Option<SealedColumn>,
    pub scanned: u64,
    pub rewritten: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{column:?} row {row}: {source}")]
    Vault {
        column: SealedColumn,
        row: String,
        source: VaultError,
    },
}

/// Re-encrypts every sealed cell not yet under the primary key. Resumable: cells already under
/// the primary are skipped, each cell is rewritten with a compare-and-swap (a concurrent write
/// wins and is already under the primary), and every cell decrypts at every moment.
pub async fn rotate_all(
    store: &dyn KeyStore,
    ring: &Keyring,
    batch: u32,
    mut progress: impl FnMut(&RotationProgress),
) -> Result<RotationProgress, RotationError> {
    let mut total = RotationProgress::default();
    for column in SealedColumn::ALL {
        total.column = Some(column);
        let mut after: Option<String> = None;
        loop {
            let cells = store.sealed_cells(column, after.as_deref(), batch).await?;
            let Some(last) = cells.last() else { break };
            after = Some(last.row_id.clone());
            for cell in &cells {
                total.scanned += 1;
                // Empty is the tombstone of data deleted on purpose (a deauthorized user's
                // meeting details, a processed Zoom event): there is nothing to re-encrypt.
                if cell.value.0.is_empty() || ring.is_primary(&cell.value) {
                    continue;
                }
                let plain = ring
                    .open(column, cell.tenant_id, &cell.row_id, &cell.value)
                    .map_err(|source| RotationError::Vault {
                        column,
                        row: cell.row_id.clone(),
                        source,
                    })?;
                let resealed = ring
                    .seal(column, cell.tenant_id, &cell.row_id, &plain)
                    .map_err(|source| RotationError::Vault {
                        column,
                        row: cell.row_id.clone(),
                        source,
                    })?;
                if store
                    .replace_sealed_cell(column, &cell.row_id, &cell.value, &resealed)
                    .await?
                {
                    total.rewritten += 1;
                }
            }
            progress(&total);
        }
    }
    Ok(total)
}
