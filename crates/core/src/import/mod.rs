//! Importers: turn an external catalog into [`crate::Movie`]s and merge them into the catalog.
//! Each importer parses and validates a whole batch before writing it in one transaction, so
//! bad input leaves the database as it was.

pub mod letterboxd;
pub mod letterboxd_zip;
pub mod tmdb;
pub mod wikipedia;

/// Why an import failed. Record numbers count from 1 in source order.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {source_name}: {message}")]
    Read {
        source_name: String,
        message: String,
    },
    #[error("{source_name} is not valid JSON ({message}); nothing was imported from it")]
    Syntax {
        source_name: String,
        message: String,
    },
    #[error("{source_name}, record {index}{}: {message}; nothing was imported from this file", title.as_ref().map(|t| format!(" ({t:?})")).unwrap_or_default())]
    Record {
        source_name: String,
        index: usize,
        title: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Catalog(#[from] crate::CoreError),
    /// A web API answered 401: retrying cannot help, the user has to fix the key.
    #[error(
        "{endpoint}: the API key was refused (401 Unauthorized); check the key; nothing was imported"
    )]
    ApiKeyRefused { endpoint: String },
    /// The server kept answering 429 Too Many Requests after every wait it asked for.
    #[error(
        "{endpoint}: still rate-limited (429 Too Many Requests) after {attempts} attempts; try again later; nothing was imported"
    )]
    RateLimited { endpoint: String, attempts: u32 },
    #[error(
        "{endpoint}: no answer within {seconds:.1} s ({attempts} attempts); nothing was imported"
    )]
    Timeout {
        endpoint: String,
        seconds: f64,
        attempts: u32,
    },
    /// Server errors (5xx) or connection failures that outlasted the retries.
    #[error("{endpoint}: unavailable after {attempts} attempts ({message}); nothing was imported")]
    Unavailable {
        endpoint: String,
        attempts: u32,
        message: String,
    },
    /// Any other unsuccessful HTTP status (not retried: asking again gives the same answer).
    #[error("{endpoint}: the server answered HTTP {status}; nothing was imported")]
    Status { endpoint: String, status: u16 },
    /// Valid JSON of the wrong shape (a missing or mistyped field).
    #[error("{endpoint}: unexpected JSON in the answer ({message}); nothing was imported")]
    Response { endpoint: String, message: String },
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
    let fail = |message: String| ImportError::Read {
        source_name: url.to_owned(),
        message,
    };
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
