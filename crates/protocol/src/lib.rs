//! The only serde boundary between MovieTalk processes.
//!
//! - [`relay`]: frames exchanged between a client (app or CLI) and the relay server over a
//!   WebSocket, as JSON text frames.
//! - [`command`]: the window's commands, each a name, a request and a response.
//! - [`ipc`]: values exchanged between the Tauri shell and the Yew UI through commands and events.
//! - [`film_key`]: the key of a film, computed alike by every client and the relay.
//!
//! This crate depends on serde and unicode-normalization only, so it compiles to
//! `wasm32-unknown-unknown` for the UI.

pub mod command;
pub mod film_key;
pub mod ipc;
pub mod relay;
