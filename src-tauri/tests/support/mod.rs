//! What the end-to-end tests share (the window benchmark includes `window.rs` too).

pub mod window;
