//! Tauri's build step: reads tauri.conf.json, the capabilities and the icons, and declares the
//! app's commands so that a capability must grant each one (`allow-<command>`) before the
//! webview may call it.

/// Every command the window may call, each defined once in `movietalk_protocol::command`.
use movietalk_protocol::command::NAMES;

/// The capability granting the main window its commands, written from [`NAMES`].
const CAPABILITY: &str = "capabilities/default.json";

/// Where `cargo xtask ui` lays out the built UI (`build.frontendDist` in tauri.conf.json).
const UI_DIST: &str = "../ui/dist";

fn main() {
    // Tauri embeds the UI at compile time and refuses a folder that is not there. So that a
    // plain `cargo build` / `cargo check` works on a fresh clone, a missing UI becomes a page
    // saying how to build it; `cargo xtask ui` (run by `cargo xtask run|test`) replaces it.
    let dist = std::path::Path::new(UI_DIST);
    if !dist.join("index.html").exists() {
        std::fs::create_dir_all(dist).expect("creating ui/dist");
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>MovieTalk</title></head>\
             <body><h1>MovieTalk</h1><p>The window's UI was not built. Run <code>cargo xtask run</code>.</p>\
             <p>화면(UI)이 빌드되지 않았습니다. <code>cargo xtask run</code>을 실행하세요.</p></body></html>\n",
        )
        .expect("writing a placeholder ui/dist/index.html");
    }
    // `generate_context!` embeds the UI when the crate compiles, and a macro cannot tell cargo
    // that; without this, a UI rebuilt by `cargo xtask ui` leaves the app's crate fresh and it
    // goes on serving the old (or a half-replaced) UI.
    println!("cargo:rerun-if-changed={UI_DIST}");
    grant_every_command();
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(NAMES)),
    )
    .expect("the Tauri build step failed");
}

/// Writes the main window's capability: event listening and exactly the app's own commands, each
/// granted by name (`allow-<command>`). Rewritten only when a command was added or removed.
fn grant_every_command() {
    let mut permissions = vec![
        "core:event:allow-listen".to_owned(),
        "core:event:allow-unlisten".to_owned(),
    ];
    permissions.extend(
        NAMES
            .iter()
            .map(|n| format!("allow-{}", n.replace('_', "-"))),
    );
    let capability = serde_json::json!({
        "$schema": "../gen/schemas/desktop-schema.json",
        "identifier": "main-window",
        "description": "What the main window's webview may call: event listening and exactly the app's own commands, each granted by name. Written by build.rs from movietalk_protocol::command::NAMES.",
        "windows": ["main"],
        "permissions": permissions,
    });
    let json = serde_json::to_string_pretty(&capability).expect("a capability serialises") + "\n";
    if std::fs::read_to_string(CAPABILITY).ok().as_deref() != Some(json.as_str()) {
        std::fs::write(CAPABILITY, json).expect("writing the window's capability");
    }
}
