//! The commands of the shared application — `review`, `export`, `login`, `logout`, `sync`,
//! `follow`, `feed`, `profile`, `chat` — each one call into the core's [`App`], the same application the
//! desktop window drives, on the same data folder and the same keyring entries.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use movietalk_core::app::{App, AppEvent, AppOptions};
use movietalk_core::sync::SyncProgress;
use movietalk_protocol::ipc::{ChatMessage, ReviewView};

use crate::{Command, RelayArgs};

/// Runs `command` when it is one of these; `None` otherwise.
pub fn run(command: &Command, data_dir: &Path) -> Option<anyhow::Result<()>> {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return Some(Err(e.into())),
    };
    let result = match command {
        Command::Login {
            handle,
            password_stdin,
            relay,
        } => runtime.block_on(login(data_dir, relay, handle, *password_stdin)),
        Command::Logout { relay } => runtime.block_on(logout(data_dir, relay)),
        Command::Sync { relay } => runtime.block_on(sync(data_dir, relay)),
        Command::Review {
            key,
            stars,
            text,
            spoiler,
            remove,
            json,
        } => review(
            data_dir,
            key,
            *stars,
            text.as_deref(),
            *spoiler,
            *remove,
            *json,
        ),
        Command::Export { json } => export(data_dir, *json),
        Command::Follow { handle, off, relay } => {
            runtime.block_on(follow(data_dir, relay, handle, !off))
        }
        Command::Feed { limit, relay } => runtime.block_on(feed(data_dir, relay, *limit)),
        Command::Profile { handle, relay } => {
            runtime.block_on(profile(data_dir, relay, handle.as_deref()))
        }
        Command::Chat {
            room,
            since,
            send,
            name,
            relay,
        } => runtime.block_on(chat(data_dir, relay, room, *since, send.as_deref(), name)),
        _ => return None,
    };
    Some(result)
}

/// Opens the data folder as the app does, on `--relay` when given; `customize` changes more.
pub(crate) fn open(
    data_dir: &Path,
    relay: Option<&str>,
    customize: impl FnOnce(&mut AppOptions),
) -> anyhow::Result<App> {
    let mut options = AppOptions::from_env()?;
    options.data_dir = data_dir.to_path_buf();
    if let Some(url) = relay {
        options.relay_url = Some(url.to_owned());
    }
    customize(&mut options);
    Ok(App::open(options)?)
}

/// Connects, or says why not (`required`: as an error; else as a note, and carries on offline).
pub(crate) async fn connect(app: &App, relay: &RelayArgs, required: bool) -> anyhow::Result<()> {
    match app.connect().await {
        Ok(()) => Ok(()),
        Err(e) if required => bail!("{}", e.message),
        Err(e) => {
            if !relay.json {
                eprintln!("offline ({}): showing what was last synced", e.message);
            }
            Ok(())
        }
    }
}

fn review(
    data_dir: &Path,
    key: &str,
    stars: Option<f32>,
    text: Option<&str>,
    spoiler: bool,
    remove: bool,
    json: bool,
) -> anyhow::Result<()> {
    // Kept here at once; the next sync delivers it.
    let app = open(data_dir, None, |_| {})?;
    if remove {
        if !app.delete_review(key)? {
            bail!("you have not reviewed {key:?}");
        }
        if json {
            println!("{}", serde_json::json!({ "removed": key }));
        } else {
            println!("review of {key} removed; the next sync tells the relay");
        }
        return Ok(());
    }
    let stars = stars.context("give a rating from 0.5 to 5, or --remove")?;
    let saved = app.save_review(key, stars, text.unwrap_or_default(), spoiler)?;
    if json {
        println!("{}", serde_json::to_string(&saved)?);
    } else {
        println!(
            "{} ★{}: saved; the next sync delivers it",
            saved.title, saved.rating
        );
    }
    Ok(())
}

fn export(data_dir: &Path, json: bool) -> anyhow::Result<()> {
    let path = open(data_dir, None, |_| {})?.export_data()?;
    if json {
        println!("{}", serde_json::json!({ "path": path }));
    } else {
        println!("{path}");
    }
    Ok(())
}

async fn follow(data_dir: &Path, relay: &RelayArgs, handle: &str, on: bool) -> anyhow::Result<()> {
    let app = open(data_dir, relay.relay.as_deref(), |_| {})?;
    connect(&app, relay, true).await?;
    app.follow(handle, on).await?;
    if relay.json {
        println!(
            "{}",
            serde_json::json!({ "handle": handle, "following": on })
        );
    } else if on {
        println!("following @{handle}");
    } else {
        println!("no longer following @{handle}");
    }
    Ok(())
}

async fn login(
    data_dir: &Path,
    relay: &RelayArgs,
    handle: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password(format!("password for {handle}: "))
            .context("reading the password")?
    };
    let app = open(data_dir, relay.relay.as_deref(), |_| {})?;
    connect(&app, relay, true).await?;
    let session = app.log_in(handle, &password).await?;
    if relay.json {
        println!("{}", serde_json::to_string(&session)?);
    } else {
        let account = session
            .account
            .as_ref()
            .context("the relay answered no account")?;
        println!("logged in as @{}", account.handle);
    }
    if let Some(problem) = &session.keyring_problem {
        eprintln!("warning: no OS keyring ({problem}); the session ends with this command");
    }
    Ok(())
}

async fn logout(data_dir: &Path, relay: &RelayArgs) -> anyhow::Result<()> {
    let app = open(data_dir, relay.relay.as_deref(), |_| {})?;
    // Logged out here whatever happens; the relay is told when it can be.
    let told = match app.connect().await {
        Ok(()) => app.log_out().await,
        Err(e) => app.log_out().await.and(Err(e)),
    };
    if relay.json {
        println!(
            "{}",
            serde_json::json!({ "logged_out": true, "relay_told": told.is_ok() })
        );
    } else {
        match told {
            Ok(()) => println!("logged out"),
            Err(e) => println!("logged out here; the relay was not told ({})", e.message),
        }
    }
    Ok(())
}

async fn sync(data_dir: &Path, relay: &RelayArgs) -> anyhow::Result<()> {
    let app = open(data_dir, relay.relay.as_deref(), |_| {})?;
    if !relay.json {
        eprintln!("connecting…");
    }
    connect(&app, relay, true).await?;
    let who = app.session().await.account.map(|a| a.handle);
    if !relay.json {
        match &who {
            Some(h) => eprintln!("syncing as @{h}…"),
            None => eprintln!("syncing as a guest (public reviews only)…"),
        }
    }
    let json = relay.json;
    let report = app
        .sync_once_with(&move |p| {
            if json {
                return;
            }
            match p {
                SyncProgress::Changes(n) => eprint!("\rpulled {n} changes…"),
                SyncProgress::Model { page, pages } => {
                    eprint!("\rcommunity model: page {page} of {pages}…   ")
                }
            }
        })
        .await;
    if !json {
        eprintln!();
    }
    let report = report?;
    let waiting = app.sync_status().pending;
    if relay.json {
        println!(
            "{}",
            serde_json::json!({ "account": who, "report": report, "pending": waiting })
        );
    } else {
        println!(
            "pulled {} changes; sent {} writes ({} refused, {} overtaken by later edits); {} still waiting",
            report.pulled, report.sent, report.failed, report.superseded, waiting
        );
        match report.model {
            Some(v) => println!(
                "community model version {v}: {} films of it are in your catalog",
                report.model_films
            ),
            None => println!("community model: up to date (or none on this relay yet)"),
        }
    }
    Ok(())
}

async fn feed(data_dir: &Path, relay: &RelayArgs, limit: u32) -> anyhow::Result<()> {
    let app = open(data_dir, relay.relay.as_deref(), |_| {})?;
    connect(&app, relay, false).await?;
    let page = app.feed(None, limit).await?;
    if relay.json {
        println!("{}", serde_json::to_string(&page)?);
        return Ok(());
    }
    if page.following.is_empty() {
        println!("you follow nobody yet");
    }
    for r in &page.reviews {
        print_review(&app, r);
    }
    Ok(())
}

async fn profile(data_dir: &Path, relay: &RelayArgs, handle: Option<&str>) -> anyhow::Result<()> {
    let app = open(data_dir, relay.relay.as_deref(), |_| {})?;
    connect(&app, relay, false).await?;
    let profile = app.profile(handle).await?;
    if relay.json {
        println!("{}", serde_json::to_string(&profile)?);
        return Ok(());
    }
    if profile.handle.is_empty() {
        bail!("you are not logged in: give a handle, or `movietalk login` first");
    }
    match &profile.account {
        Some(a) => {
            let name = if a.display_name.is_empty() {
                &a.handle
            } else {
                &a.display_name
            };
            println!("{name} (@{})", a.handle);
            if !a.bio.is_empty() {
                println!("{}", a.bio);
            }
        }
        None => println!("@{} (no profile seen yet)", profile.handle),
    }
    println!("{} reviews", profile.reviews.len());
    for r in &profile.reviews {
        print_review(&app, r);
    }
    Ok(())
}

fn print_review(app: &App, r: &ReviewView) {
    let review = &r.review;
    let film = app
        .catalog()
        .get(&review.movie_key)
        .ok()
        .flatten()
        .map_or_else(|| review.movie_key.clone(), |m| m.title);
    let body = review.body.lines().next().unwrap_or_default();
    println!("@{} on {film} ★{}: {body}", review.author, review.rating);
}

/// `movietalk chat`: joins `room` (the core pages until it holds every message up to where live
/// delivery starts), optionally posts a line, and prints the room's messages.
async fn chat(
    data_dir: &Path,
    relay: &RelayArgs,
    room: &str,
    since: Option<u64>,
    send: Option<&str>,
    name: &str,
) -> anyhow::Result<()> {
    let (tx, mut live) = tokio::sync::mpsc::unbounded_channel::<ChatMessage>();
    let events = Arc::new(move |event| {
        if let AppEvent::ChatMessage(m) = event {
            let _ = tx.send(m);
        }
    });
    let app = open(data_dir, relay.relay.as_deref(), |o| {
        o.user_name = name.to_owned();
        o.events = events;
    })?;
    connect(&app, relay, true).await?;
    let joined = app.join_room(room, since).await?;
    let mut messages = joined.history;
    if let Some(text) = send {
        let seq = app.send_chat(&joined.room, text).await?;
        // Our own message comes back live, with whatever else arrived meanwhile.
        while messages.last().is_none_or(|m| m.seq < seq) {
            match tokio::time::timeout(std::time::Duration::from_secs(5), live.recv()).await {
                Ok(Some(m)) if m.room == joined.room => messages.push(m),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    if relay.json {
        println!("{}", serde_json::to_string(&messages)?);
        return Ok(());
    }
    for m in &messages {
        let who = if m.guest {
            format!("{} (guest)", m.author)
        } else {
            m.author.clone()
        };
        let text = if m.deleted {
            "(deleted)"
        } else {
            m.text.as_str()
        };
        println!("#{:<6} {who}: {text}", m.seq);
    }
    println!("{} messages in {}", messages.len(), joined.room);
    Ok(())
}
