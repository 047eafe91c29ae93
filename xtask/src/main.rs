//! `cargo xtask`: the project's automation, so a fresh Debian/Ubuntu machine needs two commands.
//!
//! - `cargo xtask run`   — install what running the app needs, build the UI, run the app.
//! - `cargo xtask test`  — install what the tests need, build everything, run every test
//!   (end-to-end ones under Xvfb with a private D-Bus session and an unlocked gnome-keyring).
//! - `cargo xtask setup [run|test]` — only the installs; `cargo xtask ui` — only the UI build.
//! - `cargo xtask dist` — the app's packages this machine can make (deb, rpm), with their paths
//!   and sizes; `cargo xtask icons` — the icon set from `icons/app-icon.png`.
//! - `cargo xtask postgres` — a throwaway PostgreSQL server for the relay's tests, until Enter.
//!
//! Installs are skipped when already present; nothing is downloaded except from Debian's
//! package archive, crates.io and the npm registry (Tauri's CLI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod dist;
mod postgres;

/// Debian packages the app needs to build and run (WebKitGTK and friends).
const RUN_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "curl",
    "wget",
    "file",
    "libwebkit2gtk-4.1-dev",
    "libssl-dev",
    "libxdo-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    // The keyring crate talks to the Secret Service through libdbus.
    "libdbus-1-dev",
    "libsoup-3.0-dev",
    // Hangul glyphs: without a Korean font the UI's Korean text renders as empty boxes.
    "fonts-nanum",
];

/// Extra Debian packages for the tests: a virtual X server, the WebKit WebDriver, a D-Bus
/// session and the Secret Service (gnome-keyring) for keyring tests.
const TEST_PACKAGES: &[&str] = &[
    "xvfb",
    "xauth",
    "webkit2gtk-driver",
    "dbus",
    "dbus-x11",
    "gnome-keyring",
    "libsecret-1-dev",
    "libsecret-tools",
    // A throwaway server for the relay's tests on its PostgreSQL store (xtask/src/postgres.rs).
    "postgresql",
    // The C compiler for Windows, so the app type-checks for Windows here (SQLite's C sources
    // build for the target even in `cargo check`).
    "gcc-mingw-w64-x86-64",
];

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The Windows target the app is type-checked for, so Windows-only breakage shows here.
const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
const TAURI_DRIVER_VERSION: &str = "^2";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Run,
    Test,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    let started = Instant::now();
    match args.first().map(String::as_str) {
        Some("run") => {
            setup(Purpose::Run)?;
            build_ui(&root)?;
            step("run the app", || {
                run(cmd(cargo())
                    .args(["run", "-p", "movietalk-app"])
                    .args(&args[1..]))
            })?;
        }
        Some("test") => {
            setup(Purpose::Test)?;
            build_ui(&root)?;
            test(&root)?;
        }
        Some("setup") => match args.get(1).map(String::as_str) {
            None | Some("test") => setup(Purpose::Test)?,
            Some("run") => setup(Purpose::Run)?,
            Some(other) => bail!("unknown setup purpose {other:?}: use run or test"),
        },
        Some("ui") => build_ui(&root)?,
        Some("dist") => {
            setup(Purpose::Run)?;
            dist::dist(&root, &args[1..])?;
        }
        Some("icons") => dist::icons(&root)?,
        // The packaging check alone (`cargo xtask test` runs it last).
        Some("check-package") => {
            setup(Purpose::Test)?;
            dist::check_package(&root)?;
        }
        Some("postgres") => {
            // For running the relay's PostgreSQL tests by hand: serves until Enter (or the end
            // of the input), then stops the server and removes its files.
            let pg = step(
                "start a throwaway PostgreSQL",
                postgres::TestPostgres::start,
            )?;
            println!("MOVIETALK_TEST_POSTGRES='{}'", pg.url);
            eprintln!("xtask: press Enter to stop it");
            let _ = std::io::stdin().read_line(&mut String::new());
            drop(pg);
        }
        Some("bench-window") => {
            setup(Purpose::Test)?;
            build_ui(&root)?;
            let mut bench = windowed(
                &root,
                &["bench", "-p", "movietalk-app", "--bench", "window"],
            )?;
            step("measure the window", || run(&mut bench))?;
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <run|test|setup [run|test]|ui|dist [--bundles LIST] [--debug]|icons|check-package|postgres|bench-window>"
            );
            std::process::exit(2);
        }
    }
    eprintln!("xtask: done in {:.0?}", started.elapsed());
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// PATH for child processes, with `$CARGO_HOME/bin` first: tools that `cargo install` puts
/// there (wasm-bindgen, tauri-driver) must be found even when the caller's PATH lacks it.
fn child_path() -> &'static std::ffi::OsString {
    static PATH: std::sync::OnceLock<std::ffi::OsString> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let current = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&current).collect();
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
        if let Some(bin) = cargo_home.map(|h| h.join("bin"))
            && !dirs.contains(&bin)
        {
            dirs.insert(0, bin);
        }
        std::env::join_paths(dirs).unwrap_or(current)
    })
}

/// A command for `program` that sees [`child_path`].
fn cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env("PATH", child_path());
    c
}

fn step<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("xtask: {what}…");
    let started = Instant::now();
    let out = f().with_context(|| format!("xtask: {what} failed"))?;
    eprintln!("xtask: {what}: ok ({:.1?})", started.elapsed());
    Ok(out)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    if !status.success() {
        bail!(
            "{:?} {:?} exited with {status}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>()
        );
    }
    Ok(())
}

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Installing what is missing

fn setup(purpose: Purpose) -> Result<()> {
    step("Debian packages", || debian_packages(purpose))?;
    step("wasm32 target", || rust_target(WASM_TARGET))?;
    step("wasm-bindgen CLI", wasm_bindgen_cli)?;
    if purpose == Purpose::Test {
        step("Windows target", || rust_target(WINDOWS_TARGET))?;
        step("tauri-driver", tauri_driver)?;
        step("rustfmt and clippy", lint_components)?;
    }
    Ok(())
}

/// rustfmt and clippy, which the test run's first steps use (rustup's default profile has both;
/// a minimal one does not).
fn lint_components() -> Result<()> {
    let installed =
        output(cmd("rustup").args(["component", "list", "--installed"])).unwrap_or_default();
    let missing: Vec<&str> = ["rustfmt", "clippy"]
        .into_iter()
        .filter(|c| !installed.lines().any(|l| l.starts_with(c)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(cmd("rustup").args(["component", "add"]).args(&missing))
}

fn debian_packages(purpose: Purpose) -> Result<()> {
    let mut wanted: Vec<&str> = RUN_PACKAGES.to_vec();
    if purpose == Purpose::Test {
        wanted.extend_from_slice(TEST_PACKAGES);
    }
    if output(cmd("dpkg-query").arg("--version")).is_none() {
        eprintln!(
            "xtask: not a Debian/Ubuntu system; make sure these are installed: {}",
            wanted.join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|p| {
            output(cmd("dpkg-query").args(["-W", "-f=${db:Status-Status}", p])).as_deref()
                != Some("installed")
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let as_root = output(cmd("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if as_root { cmd("apt-get") } else { sudo_apt() };
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    run(&mut apt(&["update", "-qq"]))?;
    run(apt(&["install", "-y", "-qq", "--no-install-recommends"]).args(&missing))
}

fn sudo_apt() -> Command {
    let mut c = cmd("sudo");
    c.arg("apt-get");
    c
}

fn rust_target(target: &str) -> Result<()> {
    let installed =
        output(cmd("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    run(cmd("rustup").args(["target", "add", target]))
}

/// The wasm-bindgen version in Cargo.lock: the CLI must be exactly this version.
fn locked_wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == r#"name = "wasm-bindgen""# {
            let version = lines.next().unwrap_or_default();
            if let Some(v) = version
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
            {
                return Ok(v.to_owned());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn wasm_bindgen_cli() -> Result<()> {
    let want = locked_wasm_bindgen_version()?;
    let have = output(cmd("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want.as_str()) {
        return Ok(());
    }
    // Not --locked: wasm-bindgen-cli's own lockfile does not build on every toolchain.
    run(cmd(cargo()).args(["install", "wasm-bindgen-cli", "--version", &want]))
}

fn tauri_driver() -> Result<()> {
    if output(cmd("tauri-driver").arg("--help")).is_some() {
        return Ok(());
    }
    run(cmd(cargo()).args([
        "install",
        "--locked",
        "tauri-driver",
        "--version",
        TAURI_DRIVER_VERSION,
    ]))
}

// ---------------------------------------------------------------------------------------------
// Building the UI

/// Builds the Yew UI to wasm and lays out `ui/dist`, rewriting only files whose bytes changed
/// (so the app, which embeds `ui/dist`, is not rebuilt for nothing).
fn build_ui(root: &Path) -> Result<()> {
    step("build the UI (wasm)", || {
        run(cmd(cargo()).args([
            "build",
            "-p",
            "movietalk-ui",
            "--profile",
            "wasm-release",
            "--target",
            WASM_TARGET,
        ]))?;
        let target = target_dir(root);
        let wasm = target
            .join(WASM_TARGET)
            .join("wasm-release")
            .join("movietalk-ui.wasm");
        let staging = target.join("ui-dist-staging");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        run(cmd("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                "movietalk_ui",
                "--out-dir",
            ])
            .arg(&staging)
            .arg(&wasm))?;
        for file in ["index.html", "boot.js", "styles.css"] {
            std::fs::copy(root.join("ui").join(file), staging.join(file))?;
        }
        let dist = root.join("ui").join("dist");
        std::fs::create_dir_all(&dist)?;
        let mut keep = Vec::new();
        for entry in std::fs::read_dir(&staging)? {
            let entry = entry?;
            let name = entry.file_name();
            let new = std::fs::read(entry.path())?;
            let dest = dist.join(&name);
            if std::fs::read(&dest).ok().as_deref() != Some(new.as_slice()) {
                std::fs::write(&dest, new)?;
            }
            keep.push(name);
        }
        for entry in std::fs::read_dir(&dist)? {
            let entry = entry?;
            if !keep.contains(&entry.file_name()) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Tests

fn test(root: &Path) -> Result<()> {
    step("check formatting (cargo fmt --check)", || {
        run(cmd(cargo()).args(["fmt", "--all", "--check"]))
    })?;
    step("lint (cargo clippy -D warnings)", || {
        run(cmd(cargo()).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("type-check the app for Windows", || {
        run(cmd(cargo()).args(["check", "-p", "movietalk-app", "--target", WINDOWS_TARGET]))
    })?;
    step("build the tests", || {
        run(cmd(cargo()).args(["test", "--workspace", "--no-run"]))
    })?;
    let pg = step(
        "start a throwaway PostgreSQL",
        postgres::TestPostgres::start,
    )?;
    let mut tests = windowed(root, &["test", "--workspace", "--", "--include-ignored"])?;
    tests.env("MOVIETALK_TEST_POSTGRES", &pg.url);
    step("run every test", || run(&mut tests))?;
    // The relay's integration tests once more, every test relay keeping its data in
    // PostgreSQL. Selected by target in the whole workspace, so cargo resolves the same
    // features as above and builds nothing again.
    let relay_tests = relay_test_targets(root)?;
    step("run the relay's tests on its PostgreSQL store", || {
        let mut c = cmd(cargo());
        c.args(["test", "--workspace"]);
        for t in &relay_tests {
            c.args(["--test", t]);
        }
        run(c
            .env("MOVIETALK_TEST_POSTGRES", &pg.url)
            .env("MOVIETALK_RELAY_TEST_STORE", "postgres"))
    })?;
    drop(pg);
    dist::check_package(root)?;
    eprintln!(
        "xtask: screenshots and other artifacts are in {}",
        root.join("artifacts").display()
    );
    Ok(())
}

/// The names of the relay's integration tests (`relay-server/tests/*.rs`).
fn relay_test_targets(root: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("relay-server/tests"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no relay tests found in relay-server/tests");
    }
    Ok(names)
}

/// `cargo ARGS` inside Xvfb (for the real app window) and a private D-Bus session with
/// gnome-keyring unlocked (for the Secret Service), with the XDG folders in `target/`.
fn windowed(root: &Path, cargo_args: &[&str]) -> Result<Command> {
    let target = target_dir(root);
    // WebKit, the app and gnome-keyring write under the XDG folders: keep them out of $HOME.
    let sandbox = target.join("xtask-test-home");
    let _ = std::fs::remove_dir_all(&sandbox);
    for sub in ["data", "cache", "config", "runtime"] {
        std::fs::create_dir_all(sandbox.join(sub))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            sandbox.join("runtime"),
            std::fs::Permissions::from_mode(0o700),
        )?;
    }
    let artifacts = root.join("artifacts");
    std::fs::create_dir_all(&artifacts)?;

    // A non-empty dummy password: an empty one creates no keyring collection.
    let script = r#"printf %s movietalk-test-keyring | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@""#;
    let mut command = cmd("xvfb-run");
    command
        .args([
            "-a",
            "-s",
            "-screen 0 1400x900x24",
            "dbus-run-session",
            "--",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(cargo())
        .args(cargo_args)
        .env("XDG_DATA_HOME", sandbox.join("data"))
        .env("XDG_CACHE_HOME", sandbox.join("cache"))
        .env("XDG_CONFIG_HOME", sandbox.join("config"))
        .env("XDG_RUNTIME_DIR", sandbox.join("runtime"))
        .env("MOVIETALK_ARTIFACTS_DIR", &artifacts)
        .env("MOVIETALK_E2E", "1");
    Ok(command)
}
