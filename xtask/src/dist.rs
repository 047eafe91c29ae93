//! Packages: `cargo xtask dist` (the bundles this machine can make), `cargo xtask icons` (the
//! icon set from `icons/app-icon.png`) and the packaging check that `cargo xtask test` runs on
//! the .deb. All three use Tauri's own CLI, from the npm registry into `target/tools/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{cmd, output, run, step, target_dir};

/// The Tauri CLI, as the npm registry ships it (a prebuilt binary per platform).
const TAURI_CLI: &str = "@tauri-apps/cli@2.12.6";
/// The bundles `cargo xtask dist` makes by default: the ones that need nothing from the
/// internet. AppImage (linuxdeploy) and NSIS (its plugins) download tools on first use; ask for
/// them with `--bundles` where that works.
const OFFLINE_BUNDLES: &str = "deb,rpm";
/// The icon set the bundles use, made from the one source image.
const DESKTOP_ICONS: &[&str] = &[
    "32x32.png",
    "64x64.png",
    "128x128.png",
    "128x128@2x.png",
    "icon.png",
    "icon.ico",
    "icon.icns",
];

/// The `tauri` command, installed from npm when missing.
pub fn tauri_cli(root: &Path) -> Result<PathBuf> {
    let prefix = target_dir(root).join("tools").join("tauri-cli");
    let bin = prefix.join("node_modules").join(".bin").join("tauri");
    let want = TAURI_CLI.rsplit('@').next().unwrap_or_default();
    let have = output(cmd(&bin).arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want) {
        return Ok(bin);
    }
    if output(cmd("npm").arg("--version")).is_none() {
        bail!("npm is needed to install the Tauri CLI (Debian: apt-get install npm)");
    }
    std::fs::create_dir_all(&prefix)?;
    step("Tauri CLI (npm)", || {
        run(cmd("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(TAURI_CLI))
    })?;
    Ok(bin)
}

/// `cargo xtask dist [--bundles LIST] [--debug]`: builds the app and its packages, and prints
/// each package's path and size.
pub fn dist(root: &Path, args: &[String]) -> Result<Vec<PathBuf>> {
    let mut bundles = OFFLINE_BUNDLES.to_owned();
    let mut debug = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--bundles" => bundles = rest.next().context("--bundles needs a list")?.clone(),
            "--debug" => debug = true,
            other => bail!("unknown dist option {other:?}: use --bundles LIST or --debug"),
        }
    }
    let tauri = tauri_cli(root)?;
    let profile = if debug { "debug" } else { "release" };
    let bundle_dir = target_dir(root).join(profile).join("bundle");
    let _ = std::fs::remove_dir_all(&bundle_dir);
    step(&format!("bundle {bundles} ({profile})"), || {
        let mut c = cmd(&tauri);
        c.current_dir(root.join("src-tauri"))
            .args(["build", "--bundles", &bundles, "--ci"]);
        // The updater's signatures need the release key, which only the release workflow holds
        // (docs/release.md); without it the packages are made unsigned for the updater.
        if std::env::var_os("TAURI_SIGNING_PRIVATE_KEY").is_none() {
            c.args(["--config", r#"{"bundle":{"createUpdaterArtifacts":false}}"#]);
        }
        if debug {
            c.arg("--debug");
        }
        run(&mut c)
    })?;
    let packages = files_under(&bundle_dir)?
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            [
                ".deb",
                ".rpm",
                ".AppImage",
                ".exe",
                ".msi",
                ".dmg",
                ".app.tar.gz",
            ]
            .iter()
            .any(|ext| name.ends_with(ext))
        })
        .collect::<Vec<_>>();
    if packages.is_empty() {
        bail!("the bundler made no package in {}", bundle_dir.display());
    }
    for p in &packages {
        let size = std::fs::metadata(p)?.len();
        println!("{}  {:.1} MiB", p.display(), size as f64 / 1048576.0);
    }
    Ok(packages)
}

/// `cargo xtask icons`: makes the desktop icon set in `icons/` from `icons/app-icon.png`.
pub fn icons(root: &Path) -> Result<()> {
    let tauri = tauri_cli(root)?;
    let source = root.join("icons").join("app-icon.png");
    let scratch = target_dir(root).join("icons");
    let _ = std::fs::remove_dir_all(&scratch);
    step("make the icon set", || {
        run(cmd(&tauri)
            .arg("icon")
            .arg(&source)
            .arg("--output")
            .arg(&scratch))
    })?;
    for name in DESKTOP_ICONS {
        std::fs::copy(scratch.join(name), root.join("icons").join(name))
            .with_context(|| format!("the icon generator made no {name}"))?;
    }
    Ok(())
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() && !path.to_string_lossy().ends_with(".app") {
                todo.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The packaging check of `cargo xtask test`: builds the .deb (debug, for speed), checks its
/// dependencies, desktop entry and icons, unpacks it into a temporary root and runs
/// `src-tauri/tests/package.rs` on the binary from the package, in a real window.
pub fn check_package(root: &Path) -> Result<()> {
    let packages = dist(root, &["--debug".into(), "--bundles".into(), "deb".into()])?;
    let deb = packages
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("no .deb was made")?;
    step("check the .deb", || {
        let depends = output(cmd("dpkg-deb").arg("--field").arg(deb).arg("Depends"))
            .context("reading the .deb's control data")?;
        for wanted in [
            "xdg-utils",
            "fonts-noto-cjk | fonts-nanum",
            "libwebkit2gtk-4.1-0",
        ] {
            if !depends.contains(wanted) {
                bail!("the .deb does not depend on {wanted:?}: {depends}");
            }
        }
        let unpacked = target_dir(root).join("package-root");
        let _ = std::fs::remove_dir_all(&unpacked);
        run(cmd("dpkg-deb").arg("-x").arg(deb).arg(&unpacked))?;
        let desktop =
            std::fs::read_to_string(unpacked.join("usr/share/applications/MovieTalk.desktop"))
                .context("the .deb has no desktop entry")?;
        for line in ["Exec=movietalk-app", "Icon=movietalk-app", "Name=MovieTalk"] {
            if !desktop.lines().any(|l| l == line) {
                bail!("the desktop entry lacks {line:?}:\n{desktop}");
            }
        }
        for size in ["32x32", "64x64", "128x128", "512x512"] {
            let icon = unpacked.join(format!(
                "usr/share/icons/hicolor/{size}/apps/movietalk-app.png"
            ));
            if !icon.is_file() {
                bail!("the .deb has no {size} icon");
            }
        }
        let mut window = crate::windowed(
            root,
            // `--workspace`, so cargo resolves the same features as the main test run and
            // builds nothing again.
            &[
                "test",
                "--workspace",
                "--test",
                "package",
                "--",
                "--include-ignored",
            ],
        )?;
        run(window.env(
            "MOVIETALK_APP_BINARY",
            unpacked.join("usr/bin/movietalk-app"),
        ))
    })
}
