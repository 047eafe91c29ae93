//! The core's typed errors.

use std::path::PathBuf;

/// An error from the core library.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no data directory: set MOVIETALK_DATA_DIR or HOME")]
    NoDataDir,
    #[error("the built-in starter catalog is invalid: {0}")]
    Starter(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
