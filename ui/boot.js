// Loads the Yew app (wasm-bindgen output, placed beside this file by `cargo xtask ui`).
import init from './movietalk_ui.js';
await init();
