//! The community model: what everyone's ratings say about films ([`movietalk_community`]).
//!
//! Everyone's ratings are the reviews' ratings and the ratings imported with
//! `relay-server import-ratings` ([`import`]), each imported rater an account that cannot log in.
//! A background task ([`serve::spawn_builder`]) rebuilds the model off the request path when
//! enough ratings changed or the model is old, stores it with a version (so a restart, and the
//! other instances on one PostgreSQL database, serve the same one), and [`serve::ModelServer`]
//! hands it out a page at a time. The model holds per-film figures and film-to-film weights
//! only: nothing about any one person.

pub mod import;
pub mod serve;

use movietalk_community::Model;

use crate::store::StoreError;
use crate::store::rows::{Access, NewAccount, StoredModel, Transact};

/// Ratings written per transaction by an import.
const IMPORT_BATCH: usize = 5000;

/// What an import stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Raters seen for the first time (each a new account).
    pub new_raters: u64,
    /// Ratings added or changed (a rating already stored as it is counts for nothing).
    pub changed: u64,
}

/// Where the relay keeps everyone's ratings and the community model. Implemented once, below,
/// for every store's rows.
pub trait CommunityStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores imported ratings: (the source's user id, film key, stars). Each user id becomes
    /// one account, the same one on every import of it; its handle is made from a hash of the
    /// user id, its password is none, and it is linked to no provider, so nobody can log in as
    /// it.
    fn import_ratings(
        &self,
        rows: &[(String, String, f32)],
        now_ms: u64,
    ) -> Result<Stored, StoreError>;
    /// Every rating, as (account, film key, stars).
    fn ratings(&self) -> Result<Vec<(u64, String, f32)>, StoreError>;
    /// A number that grows with every change of the ratings (and with comments; see
    /// [`crate::store::rows::CommunityRows::watermark`]).
    fn watermark(&self) -> Result<u64, StoreError>;
    /// The newest stored model, if newer than `version`.
    fn model_after(&self, version: u64) -> Result<Option<StoredModel>, StoreError>;
    /// Stores a model (the JSON of its films); its version.
    fn save_model(&self, built_at_ms: u64, watermark: u64, data: &[u8]) -> Result<u64, StoreError>;
}

/// The source's user id as stored: hashed, so the relay keeps no name from the imported file.
fn source_id(user: &str) -> String {
    crate::accounts::token_hash(&format!("import-ratings:{user}"))
}

impl<S: Transact> CommunityStore for S {
    fn import_ratings(
        &self,
        rows: &[(String, String, f32)],
        now_ms: u64,
    ) -> Result<Stored, StoreError> {
        let mut stored = Stored::default();
        for batch in rows.chunks(IMPORT_BATCH) {
            let part = self.rows(Access::TxOnce, |rows| {
                let mut part = Stored::default();
                for (user, key, stars) in batch {
                    let source = source_id(user);
                    let account = match rows.imported_rater(&source)? {
                        Some(id) => id,
                        None => {
                            let id = new_rater(rows, &source, now_ms)?;
                            rows.insert_imported_rater(&source, id)?;
                            part.new_raters += 1;
                            id
                        }
                    };
                    part.changed += u64::from(rows.put_rating(account, key, *stars)?);
                }
                Ok::<_, StoreError>(part)
            })?;
            stored.new_raters += part.new_raters;
            stored.changed += part.changed;
        }
        Ok(stored)
    }

    fn ratings(&self) -> Result<Vec<(u64, String, f32)>, StoreError> {
        self.rows(Access::Plain, |rows| rows.ratings())
    }

    fn watermark(&self) -> Result<u64, StoreError> {
        self.rows(Access::Plain, |rows| rows.watermark())
    }

    fn model_after(&self, version: u64) -> Result<Option<StoredModel>, StoreError> {
        self.rows(Access::Plain, |rows| rows.model_after(version))
    }

    fn save_model(&self, built_at_ms: u64, watermark: u64, data: &[u8]) -> Result<u64, StoreError> {
        self.rows(Access::TxOnce, |rows| {
            rows.insert_model(built_at_ms, watermark, data)
        })
    }
}

/// A new account for an imported rater: handle `rater-` and hex of its hashed id (longer if
/// that is taken), no password.
fn new_rater(
    rows: &mut dyn crate::store::rows::Rows,
    source: &str,
    now_ms: u64,
) -> Result<u64, StoreError> {
    for len in [10, 16, 24, 32] {
        let handle = format!("rater-{}", &source[..len]);
        let account = NewAccount {
            handle: &handle,
            display_name: "Imported rater",
            password_hash: "",
            now_ms,
        };
        if let Some(id) = rows.insert_account(&account)? {
            return Ok(id);
        }
    }
    Err(StoreError(format!(
        "no free handle for imported rater {source}"
    )))
}

/// Builds the model from every stored rating and stores it: the stored model.
pub fn rebuild(store: &dyn CommunityStore, now_ms: u64) -> Result<StoredModel, StoreError> {
    // Read first: a rating changed while the model is built moves the watermark past it, and
    // the next check builds again.
    let watermark = store.watermark()?;
    let ratings = store.ratings()?;
    let started = std::time::Instant::now();
    let model = Model::build(ratings);
    let films = model.to_wire();
    let data = serde_json::to_vec(&films).expect("model films serialise");
    let version = store.save_model(now_ms, watermark, &data)?;
    tracing::info!(
        version,
        films = films.len(),
        elapsed = ?started.elapsed(),
        "community model built"
    );
    Ok(StoredModel {
        version,
        built_at_ms: now_ms,
        watermark,
        data,
    })
}
