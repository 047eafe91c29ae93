//! Importers: turn an external catalog into [`crate::Movie`]s and merge them into the catalog.
//! Each importer parses and validates a whole batch before writing it in one transaction, so
//! bad input leaves the database as it was.

pub mod tmdb;
pub mod wikipedia;

/// Why an import failed. Record numbers count from 1 in source order.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {source_name}: {message}")]
    Read { source_name: String, message: String },
    #[error("{source_name} is not valid JSON ({message}); nothing was imported from it")]
    Syntax { source_name: String, message: String },
    #[error("{source_name}, record {index}{}: {message}; nothing was imported from this file", title.as_ref().map(|t| format!(" ({t:?})")).unwrap_or_default())]
    Record { source_name: String, index: usize, title: Option<String>, message: String },
    #[error(transparent)]
    Catalog(#[from] crate::CoreError),
}

/// Progress of a long import, reported after every chunk of films.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Longest download accepted from a URL, in bytes.
pub const MAX_DOWNLOAD_BYTES: usize = 512 * 1024 * 1024;

/// Downloads `url` (http or https) into memory, refusing anything larger than
/// [`MAX_DOWNLOAD_BYTES`].
pub async fn fetch_url(url: &str) -> Result<Vec<u8>, ImportError> {
    let fail = |message: String| ImportError::Read { source_name: url.to_owned(), message };
    let mut response = reqwest::get(url).await.map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("the server answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
        if body.len() + chunk.len() > MAX_DOWNLOAD_BYTES {
            return Err(fail(format!("larger than {MAX_DOWNLOAD_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
