use crate::models::{KeyFingerprint, SealedCell};
use crate::{SealedColumn, SealedValue, StoreResult};

/// What the vault needs from the store: the fingerprints of the keys that encrypted the data,
/// and a way to walk and rewrite every encrypted cell for rotation.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_key_fingerprints(&self) -> StoreResult<Vec<KeyFingerprint>>;
    /// Records a key; a key id already recorded with another fingerprint is a conflict.
    async fn record_key_fingerprint(&self, key: &KeyFingerprint) -> StoreResult<()>;
    /// Up to `limit` non-null cells of `column` with row id greater than `after`, in row-id order.
    async fn sealed_cells(
        &self,
        column: SealedColumn,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SealedCell>>;
    /// Replaces one cell if it still holds `old` (a concurrent write wins; rotation retries it).
    async fn replace_sealed_cell(
        &self,
        column: SealedColumn,
        row_id: &str,
        old: &SealedValue,
        new: &SealedValue,
    ) -> StoreResult<bool>;
}
