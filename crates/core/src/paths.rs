//! Where MovieTalk keeps its data: one directory shared by the app and the CLI.

use std::path::PathBuf;

use crate::error::{CoreError, Result};

/// Environment variable that overrides the data directory (tests and scripts use it).
pub const DATA_DIR_ENV: &str = "MOVIETALK_DATA_DIR";

/// File name of the local catalog and user-data database inside the data directory.
pub const DB_FILE: &str = "movietalk.sqlite3";

/// The data directory: `$MOVIETALK_DATA_DIR` when set and non-empty, else the OS data
/// directory (`~/.local/share/movietalk` on Linux, `~/Library/Application Support/org.movietalk.MovieTalk`
/// on macOS, `%APPDATA%\movietalk\MovieTalk\data` on Windows).
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("org", "movietalk", "MovieTalk")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or(CoreError::NoDataDir)
}

/// Creates `dir` if needed and returns the database path inside it.
pub fn ensure_db_path(dir: &std::path::Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| CoreError::DataDir {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(dir.join(DB_FILE))
}
