//! The MovieTalk desktop app's entry point.
//!
//! Environment: `MOVIETALK_DATA_DIR` (data folder; default the OS data directory),
//! `MOVIETALK_RELAY_URL` (connect to this relay instead of hosting one on loopback),
//! `MOVIETALK_USER_NAME` (the name shown in chat; default the OS user name).

// Keeps a console window from opening next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    lean_webkit();
    movietalk_app::run();
}

/// On Linux the page is drawn in software unless `MOVIETALK_GPU` is set (see
/// `software_rendering` in lib.rs); then WebKit needs neither its DMA-BUF renderer (there are
/// no GPU buffers to share) nor JavaScriptCore's JIT compilers (the UI's script is small and
/// mostly waits). Without them the window's idle memory drops by about 20 MiB, and it still
/// scrolls a 14,000-film list at 60 frames per second (docs/benchmarks.md). Variables the user
/// set are left alone.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // setting the environment; see SAFETY below
fn lean_webkit() {
    if std::env::var_os("MOVIETALK_GPU").is_some() {
        return;
    }
    for (name, value) in [
        ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
        ("JSC_useJIT", "false"),
    ] {
        if std::env::var_os(name).is_none() {
            // SAFETY: this runs first thing in `main`, before any other thread exists, so
            // nothing can read or write the environment at the same time.
            unsafe { std::env::set_var(name, value) };
        }
    }
}
