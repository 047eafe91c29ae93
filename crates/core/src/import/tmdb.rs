//! Importer for the TMDB API v3 (placeholder: being written).
