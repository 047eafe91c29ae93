//! Reusable view pieces, one per file.

pub mod chat;
pub mod movie_list;
pub mod status_bar;
