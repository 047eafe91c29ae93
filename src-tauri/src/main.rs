//! The MovieTalk desktop app's entry point.
//!
//! Environment: `MOVIETALK_DATA_DIR` (data folder; default the OS data directory),
//! `MOVIETALK_RELAY_URL` (connect to this relay instead of hosting one on loopback),
//! `MOVIETALK_USER_NAME` (the name shown in chat; default the OS user name).

// Keeps a console window from opening next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    movietalk_app::run();
}
