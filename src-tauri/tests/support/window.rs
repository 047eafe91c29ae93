//! Driving a real MovieTalk window: a tauri-driver per app instance, a WebDriver session on
//! it, and the waits and clicks the end-to-end tests and the window benchmark share.
// Each includer uses a different part of this file.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Accelerated compositing on, for windows that take screenshots: WebKitWebDriver's screenshot
/// of a window rendered without it never came back here (the app renders without it by default,
/// see `software_rendering` in src-tauri/src/lib.rs; the window benchmark measures that mode).
pub const GPU: (&str, &str) = ("MOVIETALK_GPU", "1");
/// Lets the app fetch avatars from loopback, where the tests serve them.
pub const PRIVATE_AVATARS: (&str, &str) = ("MOVIETALK_PRIVATE_AVATARS", "1");

/// How long a wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(40);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("MOVIETALK_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `probe` until it yields a value or [`WAIT`] passes; panics with `what` on timeout.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        // A WebDriver call that never answers counts as "not yet", so the wait still ends.
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_secs(10), probe()).await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// One running app: its window, its tauri-driver, its data folder.
pub struct App {
    pub name: &'static str,
    pub client: Client,
    pub driver: tokio::process::Child,
    pub data: tempfile::TempDir,
}

/// The app binary the window runs: the one cargo built, or — for the packaging check — the one
/// unpacked from the .deb (`MOVIETALK_APP_BINARY`).
pub fn application() -> String {
    std::env::var("MOVIETALK_APP_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_movietalk-app").to_owned())
}

impl App {
    pub async fn start(name: &'static str, relay_url: &str) -> App {
        Self::start_in(
            name,
            relay_url,
            tempfile::tempdir().unwrap(),
            &[GPU, PRIVATE_AVATARS],
        )
        .await
    }

    /// Starts the app on an existing data folder, with extra environment.
    pub async fn start_in(
        name: &'static str,
        relay_url: &str,
        data: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> App {
        let (port, native_port) = (free_port(), free_port());
        let driver = tokio::process::Command::new("tauri-driver")
            .envs(env.iter().copied())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("MOVIETALK_DATA_DIR", data.path())
            .env("MOVIETALK_RELAY_URL", relay_url)
            .env("MOVIETALK_USER_NAME", name)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tauri-driver is installed (cargo xtask setup)");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            json!({ "application": application() }),
        );
        caps.insert("browserName".into(), json!("wry"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let client = loop {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{name}: waiting for tauri-driver: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("tauri-driver did not come up: {e}"),
            }
        };
        App {
            name,
            client,
            driver,
            data,
        }
    }

    pub async fn find(&self, what: &str, css: &str) -> Element {
        eventually(&format!("{}: {what} ({css})", self.name), || async {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    pub async fn click(&self, css: &str) {
        let el = self.find("something to click", css).await;
        // In the middle of the view: not under the status bar, which stays on top.
        let _ = self
            .client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
                vec![serde_json::Value::from(css)],
            )
            .await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("{}: cannot click {css}: {e}", self.name));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find("a field", css).await;
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.find("text", css)
            .await
            .text()
            .await
            .unwrap_or_default()
    }

    /// Waits until the element's text satisfies `ok`; returns it.
    pub async fn wait_text(&self, what: &str, css: &str, ok: impl Fn(&str) -> bool) -> String {
        eventually(&format!("{}: {what}", self.name), || async {
            let t = self
                .client
                .find(Locator::Css(css))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            ok(&t).then_some(t)
        })
        .await
    }

    /// Texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for el in self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
        {
            out.push(el.text().await.unwrap_or_default());
        }
        out
    }

    /// The attribute `name` of every element matching `css` (empty where it has none).
    pub async fn attrs(&self, css: &str, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for el in self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
        {
            out.push(el.attr(name).await.ok().flatten().unwrap_or_default());
        }
        out
    }

    /// Waits for the picture `css` (an `img`) to be loaded and drawn (not the initials stand-in).
    pub async fn picture_shown(&self, what: &str, css: &str) {
        eventually(&format!("{}: {what} ({css})", self.name), || async {
            let width = self
                .client
                .execute(
                    "const i = document.querySelector(arguments[0]);
                     return i && i.complete ? i.naturalWidth : 0;",
                    vec![serde_json::Value::from(css)],
                )
                .await
                .ok()?;
            (width.as_u64()? > 0).then_some(())
        })
        .await
    }

    pub async fn screenshot(&self, name: &str) {
        // Two animation frames: what the page now shows has been painted, not only laid out.
        let _ = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        let png = tokio::time::timeout(WAIT, self.client.screenshot())
            .await
            .unwrap_or_else(|_| panic!("{}: the screenshot {name} did not come back", self.name))
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let path = artifacts_dir().join(format!("screen-{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot saved to {}", path.display());
    }

    pub async fn sign_up(&self, handle: &str, display: &str) {
        self.click("#nav-account").await;
        self.click("#account-mode").await;
        self.type_into("#handle", handle).await;
        self.type_into("#display-name", display).await;
        self.type_into("#password", "a long password").await;
        self.click("#signup").await;
        self.wait_text("logged in", "#logged-in-as", |t| t.contains(handle))
            .await;
    }

    /// Types into the header's search box and opens the first result's page.
    pub async fn open_first_result(&self, query: &str) -> String {
        self.type_into("#search", query).await;
        let first = self
            .find("a search result", "#search-page #movies .movie-card")
            .await;
        let key = first.attr("data-key").await.unwrap().unwrap_or_default();
        first.click().await.unwrap();
        self.find("the movie page", "#movie-title").await;
        key
    }

    /// Closes the window and the app; returns the data folder for a restart.
    pub async fn close(mut self) -> tempfile::TempDir {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
        let _ = self.driver.wait().await;
        self.data
    }

    pub async fn leave_evidence(&self) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(
                artifacts_dir().join(format!("e2e-failure-{}.png", self.name)),
                png,
            );
        }
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(
                artifacts_dir().join(format!("e2e-failure-{}.html", self.name)),
                html,
            );
        }
    }
}
