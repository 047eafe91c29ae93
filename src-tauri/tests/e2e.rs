//! End to end: two instances of the built app (two data folders, two users), each in a real
//! WebKitGTK window driven through its own tauri-driver and WebKitWebDriver, against a relay
//! started by the test. Needs an X display (Xvfb), a D-Bus session and the Secret Service, so it
//! is ignored by a plain `cargo test`; `cargo xtask test` runs it with `--include-ignored`.
//!
//! The story: Ari and Bora sign up. The relay goes down. Ari, offline, finds "godfater" (a typo),
//! rates and reviews The Godfather — saved locally, waiting to send. The relay comes back; Ari's
//! review reaches it without Ari doing anything more, Bora sees it and comments, Ari sees the
//! comment. With a community moved into the relay, Ari's home recommends from the model the app
//! synced, saying why. They chat in the film's room. Bora switches to Korean. Every main screen is saved as
//! a screenshot in `artifacts/`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::Locator;
use futures_util::FutureExt;
use movietalk_relay::community::CommunityStore;
use movietalk_relay::community::serve::ModelConfig;
use movietalk_relay::store::SqliteStore;
use movietalk_relay::{Config, RunningRelay};
use serde_json::json;
use support::window::{App, eventually};

// The mock OpenID Connect provider the relay's own tests use (a test-only HTTP server on
// loopback with test-only signing keys): one file, shared rather than copied.
#[path = "../../relay-server/tests/support/mock_provider.rs"]
#[allow(dead_code)] // these tests need only its well-behaved mode
mod mock_provider;

const GODFATHER: &str = "the-godfather-1972";

async fn relay_at(addr: SocketAddr, db: &Path) -> RunningRelay {
    let config = Config {
        model: ModelConfig {
            check: Duration::from_millis(200),
            ..ModelConfig::default()
        },
        ..Config::default()
    };
    movietalk_relay::start(addr, config, Arc::new(SqliteStore::open(db).unwrap()))
        .await
        .unwrap()
}

/// A community moved into the relay before it starts: thirty people who loved The Godfather,
/// Spirited Away and Parasite also liked Past Lives; ten others rated two other films.
fn seed_community(db: &Path) {
    let store = SqliteStore::open(db).unwrap();
    let mut ratings = Vec::new();
    for u in 0..40 {
        let user = format!("u{u}");
        let films: &[(&str, f32)] = if u < 30 {
            &[
                (GODFATHER, 5.0),
                ("spirited-away-2001", 5.0),
                ("parasite-2019", 4.5),
                ("past-lives-2023", 4.5),
            ]
        } else {
            &[("oldboy-2003", 4.0), ("the-dark-knight-2008", 4.0)]
        };
        for (key, stars) in films {
            ratings.push((user.clone(), (*key).to_owned(), *stars));
        }
    }
    store.import_ratings(&ratings, 1_000).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service: run through `cargo xtask test`"]
async fn two_users_review_offline_sync_comment_and_chat_in_real_windows() {
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.sqlite3");
    seed_community(&relay_db);
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), &relay_db).await;
    let addr = relay.local_addr();
    let url = relay.url();
    let ari = App::start("ari", &url).await;
    let bora = App::start("bora", &url).await;
    let mut relay = Some(relay);

    let outcome = async {
        // The home screen renders from the catalog each app seeded in its own data folder.
        for app in [&ari, &bora] {
            app.find(
                "the home screen's popular films",
                "#home-page #popular .movie-card",
            )
            .await;
            app.wait_text("online", "#relay-status", |t| {
                t == "Online" || t == "온라인"
            })
            .await;
        }
        ari.screenshot("home").await;
        ari.sign_up("ari", "Ari").await;
        bora.sign_up("bora", "Bora").await;
        ari.screenshot("account").await;

        // Ari gives the profile a picture (served on loopback; the apps run with
        // MOVIETALK_PRIVATE_AVATARS, as they would not by default) and sees it.
        let avatar_url = serve_picture().await;
        ari.click("#nav-profile").await;
        ari.type_into("#profile-avatar", &avatar_url).await;
        ari.click("#profile-save").await;
        ari.picture_shown("Ari's picture on Ari's profile", ".profile-head img.avatar")
            .await;

        // The relay goes down: Ari is offline, and says so.
        relay.take().unwrap().shutdown().await.unwrap();
        ari.wait_text("offline", "#relay-status", |t| {
            t.contains("Offline") || t.contains("오프라인")
        })
        .await;

        // Offline: a search with a typo finds The Godfather; Ari rates and reviews it.
        let key = ari.open_first_result("godfater").await;
        assert_eq!(key, GODFATHER, "a typo still finds the film first");
        ari.wait_text("the title", "#movie-title", |t| t == "The Godfather")
            .await;
        ari.click("#star-9").await; // 4.5 stars
        ari.type_into("#review-body", "An offer nobody should refuse. 명작!")
            .await;
        ari.click("#review-save").await;
        ari.wait_text("the review saved locally", "#my-review-state", |t| {
            t.contains("Saved here")
        })
        .await;
        ari.wait_text("one write waiting", "#pending-count", |t| t.contains('1'))
            .await;
        ari.screenshot("movie-offline").await;

        // The relay comes back on the same address with the same database; Ari's review goes
        // out without Ari doing anything (the link retries with backoff; "sync now" skips the wait).
        relay = Some(relay_at(addr, &relay_db).await);
        ari.click("#sync-now").await;
        ari.wait_text("online again", "#relay-status", |t| t == "Online")
            .await;
        ari.wait_text("the review shared", "#my-review-state", |t| t == "Shared")
            .await;
        ari.wait_text("nothing waiting", "#pending-count", |t| {
            !t.chars().any(|c| c.is_ascii_digit())
        })
        .await;

        // Bora finds the film and sees Ari's review.
        bora.click("#sync-now").await;
        bora.wait_text("online again", "#relay-status", |t| t == "Online")
            .await;
        bora.open_first_result("godfather").await;
        bora.click("#sync-now").await;
        let review = bora
            .wait_text("Ari's review", "#reviews .review", |t| {
                t.contains("An offer nobody should refuse")
            })
            .await;
        assert!(
            review.contains("ari"),
            "the review names its author: {review:?}"
        );
        bora.screenshot("movie").await;

        // Ari has rated one film: home shows the community's best-rated and asks for two more
        // ratings. After two more, home has picks of Ari's own, and the community model the
        // app synced from the relay says why.
        ari.click("#nav-home").await;
        ari.wait_text("the prompt to rate two more", "#rate-a-few", |t| {
            t.contains("Rate 2 more")
        })
        .await;
        for query in ["spirited away", "parasite"] {
            ari.open_first_result(query).await;
            ari.click("#star-10").await;
            ari.click("#review-save").await;
            ari.wait_text("the rating kept", "#my-review-state", |t| {
                t.contains("Saved here") || t == "Shared"
            })
            .await;
        }
        ari.click("#nav-home").await;
        ari.wait_text(
            "a pick the community suggests, saying why",
            "#recommendations",
            |t| t.contains("People who rated") && t.contains("highly also liked this"),
        )
        .await;
        ari.screenshot("home-community").await;
        ari.open_first_result("godfather").await;

        // Bora opens Ari's profile from the review and follows Ari; then back to the film.
        bora.click("#reviews .review .author").await;
        bora.wait_text("Ari's profile", "#profile-handle", |t| t.contains("@ari"))
            .await;
        bora.wait_text("Ari's display name", "#profile-handle", |t| {
            t.contains("Ari (@ari)")
        })
        .await;
        bora.picture_shown(
            "Ari's picture, fetched by Bora's app",
            ".profile-head img.avatar",
        )
        .await;
        bora.click("#follow-toggle").await;
        bora.wait_text("Bora among Ari's followers", "#followers", |t| {
            t.contains("@bora")
        })
        .await;
        bora.click("#back").await;
        bora.find("the film again", "#reviews .review .open-review")
            .await;
        bora.picture_shown(
            "Ari's picture beside the review",
            "#reviews .review img.avatar",
        )
        .await;

        // Bora's feed holds Ari's review, naming the film.
        bora.click("#nav-feed").await;
        bora.wait_text(
            "Ari's review in Bora's feed",
            "#feed-reviews .review",
            |t| {
                t.contains("ari")
                    && t.contains("The Godfather (1972)")
                    && t.contains("An offer nobody")
            },
        )
        .await;
        bora.screenshot("feed").await;
        bora.click("#back").await;
        bora.find("the film again", "#reviews .review .open-review")
            .await;

        // Bora comments on it.
        bora.click("#reviews .review .open-review").await;
        bora.find("the review page", "#review-page").await;
        bora.type_into("#comment-input", "Agreed — and Part II is even better.")
            .await;
        bora.click("#comment-send").await;
        bora.wait_text("the comment", "#comments .comment", |t| {
            t.contains("Part II is even better")
        })
        .await;
        eventually("bora's comment to be sent", || async {
            let sent = bora
                .client
                .find(Locator::Css("#comments .comment .like"))
                .await
                .is_ok();
            sent.then_some(())
        })
        .await;
        bora.screenshot("review").await;

        // Ari sees the comment.
        ari.click("#sync-now").await;
        ari.click("#reviews .review .open-review").await;
        ari.click("#sync-now").await;
        ari.wait_text("Bora's comment", "#comments .comment", |t| {
            t.contains("bora") && t.contains("Part II is even better")
        })
        .await;

        // They chat in the film's room.
        ari.click("#review-film").await;
        ari.click("#open-chat").await;
        let room = format!("film:{GODFATHER}");
        ari.wait_text("the film's room", "#chat-room", |t| t == room)
            .await;
        bora.click("#nav-chat").await;
        bora.type_into("#room", &room).await;
        bora.click("#join").await;
        ari.wait_text("two people present", "#present", |t| t.starts_with('2'))
            .await;
        bora.type_into("#chat-input", "안녕 Ari — Michael's last scene!")
            .await;
        bora.click("#send").await;
        ari.wait_text(
            "Bora's message",
            "#messages .chat-message:last-child",
            |t| t.contains("bora") && t.contains("Michael's last scene"),
        )
        .await;
        ari.type_into("#chat-input", "The door closing on Kay, yes.")
            .await;
        ari.click("#send").await;
        bora.wait_text("Ari's message", "#messages .chat-message:last-child", |t| {
            t.contains("ari") && t.contains("door closing on Kay")
        })
        .await;
        bora.picture_shown(
            "Ari's picture in the chat",
            "#messages .chat-message img.avatar",
        )
        .await;
        let ari_sees = ari.texts("#messages .chat-message").await;
        assert_eq!(
            ari_sees.len(),
            2,
            "each message once, in order: {ari_sees:?}"
        );
        assert!(
            ari_sees[0].contains("Michael's last scene")
                && ari_sees[1].contains("door closing on Kay")
        );
        ari.screenshot("chat").await;

        // Profile: Ari's three ratings, shared.
        ari.click("#nav-profile").await;
        ari.wait_text("Ari's ratings", "#my-ratings", |t| {
            t.contains("The Godfather") && t.matches("Shared").count() == 3
        })
        .await;
        ari.screenshot("profile").await;

        // Watchlist: Ari puts a film on it from its page and another from a card on home,
        // picks one for tonight and makes the watchlist public; Bora sees it on Ari's profile.
        ari.open_first_result("casablanca").await;
        ari.click("#watchlist-toggle").await;
        ari.wait_text("Casablanca on the watchlist", "#watchlist-toggle", |t| {
            t.contains("On your watchlist")
        })
        .await;
        ari.click("#nav-home").await;
        let card = ari
            .find(
                "a pick's watchlist button",
                "#recommendations .movie-card .watch-toggle:not(.on)",
            )
            .await;
        let second = card.attr("data-key").await.unwrap().unwrap();
        card.click().await.unwrap();
        ari.wait_text(
            "the pick on the watchlist",
            "#recommendations .movie-card .watch-toggle.on",
            |t| t.contains("On your watchlist"),
        )
        .await;
        ari.click("#nav-watchlist").await;
        ari.wait_text("two films", "#watchlist-count", |t| t == "Films: 2")
            .await;
        let listed = ari.texts("#watchlist .movie-card").await;
        assert!(listed[1].contains("Casablanca"), "newest first: {listed:?}");
        let keys = ari.attrs("#watchlist .movie-card", "data-key").await;
        assert_eq!(keys[0], second, "the card's film, added last: {keys:?}");
        ari.click("#pick-tonight").await;
        ari.find("tonight's pick", "#tonight .movie-card").await;
        let tonight = ari.attrs("#tonight .movie-card", "data-key").await;
        assert!(
            tonight.len() == 1 && keys.contains(&tonight[0]),
            "the pick is from the watchlist: {tonight:?} of {keys:?}"
        );
        ari.click("#watchlist-public").await;
        ari.screenshot("watchlist").await;
        ari.click("#sync-now").await;
        ari.wait_text("nothing waiting", "#pending-count", |t| {
            !t.chars().any(|c| c.is_ascii_digit())
        })
        .await;
        bora.open_first_result("godfather").await;
        bora.click("#reviews .review .author").await;
        bora.wait_text("Ari's public watchlist", "#their-watchlist", |t| {
            t.contains("Casablanca")
        })
        .await;

        // Ari's year in film: the three films rated today, charted.
        ari.click("#nav-stats").await;
        ari.wait_text("three films this year", "#stats-films", |t| t == "Films: 3")
            .await;
        let month = ari
            .attrs("#stats-months .bar", "data-count")
            .await
            .into_iter()
            .map(|c| c.parse::<u32>().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(month.len(), 12);
        assert_eq!(month.iter().sum::<u32>(), 3, "{month:?}");
        let genres = ari.attrs("#stats-genres .bar", "data-label").await;
        assert!(genres.contains(&"Drama".to_owned()), "{genres:?}");
        ari.screenshot("stats").await;

        // Ari logs a watch of Casablanca with a rating and a review, and finds it in the diary
        // under this month; the film's rating is the watch's.
        ari.open_first_result("casablanca").await;
        ari.click("#watch-rating option[value='4']").await;
        ari.type_into("#watch-review", "Here's looking at you, kid.")
            .await;
        ari.click("#log-watch").await;
        ari.find("the watch logged", "#watch-logged").await;
        ari.wait_text("the rating kept", "#my-review-state", |t| {
            t.contains("Saved here") || t == "Shared"
        })
        .await;
        ari.click("#nav-diary").await;
        let entry = ari
            .wait_text("Casablanca in the diary", "#diary .diary-entry", |t| {
                t.contains("Casablanca")
            })
            .await;
        assert!(
            entry.contains("★★★★") && entry.contains("review"),
            "{entry:?}"
        );
        let month = ari.attrs("#diary .diary-month", "data-month").await;
        assert_eq!(month.len(), 1, "{month:?}");
        ari.screenshot("diary").await;

        // Browse: a virtualised list — rows laid out one under the other, only those near the
        // view in the page, the rest fetched as they scroll into view.
        ari.click("#nav-browse").await;
        ari.find("the browse list", "#browse-list .vrow[data-key]")
            .await;
        let rows = ari
            .client
            .find_all(Locator::Css("#browse-list .vrow"))
            .await
            .unwrap();
        let (first, second) = (
            rows[0].rectangle().await.unwrap(),
            rows[1].rectangle().await.unwrap(),
        );
        assert!(
            second.1 >= first.1 + first.3 - 1.0,
            "row 2 sits under row 1: {first:?} {second:?}"
        );
        let total: usize = ari
            .text("#browse-count")
            .await
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            rows.len() < total,
            "{} rows in the page for {total} films",
            rows.len()
        );
        ari.client
            .execute(
                "document.getElementById('browse-list').scrollTop = 1e9; return null;",
                vec![],
            )
            .await
            .unwrap();
        ari.find(
            "the last film, fetched on scrolling",
            &format!("#browse-list .vrow[data-index='{}'][data-key]", total - 1),
        )
        .await;
        ari.click("#genre-Drama").await;
        ari.wait_text("the drama count", "#browse-count", |t| {
            t.chars().next().is_some_and(|c| c.is_ascii_digit())
        })
        .await;
        ari.screenshot("browse").await;

        // Settings: the relay given by the environment is named; a Wikipedia-format file is
        // imported with a progress bar and its films are found at once.
        ari.click("#nav-settings").await;
        ari.find("the settings", "#settings-page #save-settings")
            .await;
        ari.wait_text("the relay from the environment", "#relay-from-env", |t| {
            t.contains(&url)
        })
        .await;
        let import = dir.path().join("two-films.json");
        std::fs::write(
            &import,
            r#"[{"title": "Zorblax Returns", "year": 1987, "cast": ["Ada Quill"], "genres": ["Comedy"], "href": "Zorblax_Returns",
                 "extract": "Zorblax Returns is a 1987 comedy film directed by Ben Marsh."},
                {"title": "Quietude Lake", "year": 1991, "cast": [], "genres": ["Drama"], "href": null}]"#,
        )
        .unwrap();
        ari.type_into("#import-source", import.to_str().unwrap())
            .await;
        ari.click("#import-start").await;
        ari.wait_text("the import report", "#import-result", |t| {
            t.contains("2 new")
        })
        .await;
        ari.screenshot("settings").await;
        let key = ari.open_first_result("zorblax").await;
        assert_eq!(
            key, "zorblax-returns-1987",
            "the imported film is searchable"
        );

        // Bora imports a Letterboxd export: a report with the unmatched rows, and the diary
        // holds the imported watches.
        bora.click("#nav-settings").await;
        let export = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/core/tests/fixtures/letterboxd/export.zip");
        bora.type_into("#letterboxd-path", export.to_str().unwrap())
            .await;
        bora.click("#letterboxd-import").await;
        bora.wait_text("the Letterboxd report", "#letterboxd-result", |t| {
            t.contains("3 watches") && t.contains("No Such Film")
        })
        .await;
        bora.click("#nav-diary").await;
        bora.wait_text("the imported diary", "#diary", |t| {
            t.contains("Spirited Away") && t.matches("The Godfather").count() == 2
        })
        .await;

        // Bora switches to Korean: the window re-renders in Korean.
        bora.click("#lang-toggle").await;
        bora.wait_text("Korean navigation", "#nav-home", |t| t == "홈")
            .await;
        let placeholder = bora
            .find("the search box", "#search")
            .await
            .attr("placeholder")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(
            placeholder.contains("검색"),
            "placeholder after switching: {placeholder:?}"
        );
        bora.click("#nav-home").await;
        bora.find("the home screen", "#home-page .movie-card").await;
        bora.screenshot("home-ko").await;
    };
    // Close the sessions (and the apps) whether or not the checks passed, then report.
    let result = std::panic::AssertUnwindSafe(outcome).catch_unwind().await;
    if result.is_err() {
        ari.leave_evidence().await;
        bora.leave_evidence().await;
    }
    ari.close().await;
    bora.close().await;
    if let Some(relay) = relay {
        relay.shutdown().await.unwrap();
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service: run through `cargo xtask test`"]
async fn social_login_through_the_system_browser_with_the_session_kept_in_the_keyring() {
    use movietalk_relay::clock::ManualClock;
    use movietalk_relay::oidc::ProviderConfig;
    let clock = Arc::new(ManualClock::at_system_now());
    let idp = mock_provider::MockProvider::start(clock.clone()).await;
    let config = Config {
        clock: clock.clone(),
        providers: vec![ProviderConfig::oidc(
            "mockid",
            &idp.issuer,
            mock_provider::CLIENT_ID,
        )],
        ..Config::default()
    };
    let relay = movietalk_relay::start(
        "127.0.0.1:0".parse().unwrap(),
        config,
        Arc::new(SqliteStore::in_memory().unwrap()),
    )
    .await
    .unwrap();
    let url = relay.url();
    // The app offers the provider (its public client id only) ...
    let data = tempfile::tempdir().unwrap();
    let settings = json!({ "login_providers": [{ "name": "mockid", "client_id": mock_provider::CLIENT_ID, "issuer": idp.issuer }] });
    std::fs::write(data.path().join("settings.json"), settings.to_string()).unwrap();
    // ... and "the system browser" is curl following the provider's redirect back to the app's
    // loopback listener (the mock signs the person in without a form).
    let browser = [
        ("MOVIETALK_BROWSER", "curl -s -L -o /dev/null"),
        support::window::GPU,
    ];
    let mut app = Some(App::start_in("minsu", &url, data, &browser).await);

    let outcome = async {
        let a = app.as_ref().unwrap();
        a.wait_text("online", "#relay-status", |t| t == "Online")
            .await;
        a.click("#nav-account").await;
        a.click("#provider-mockid").await;
        // A new identity: the relay asks for a handle, suggesting a free one.
        let suggested = a
            .find("the handle form", "#provider-handle")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(!suggested.is_empty(), "a handle is suggested");
        a.type_into("#provider-handle", "minsu").await;
        a.click("#provider-create").await;
        a.wait_text("logged in", "#logged-in-as", |t| t.contains("@minsu"))
            .await;
        let authorize = idp.authorize_requests();
        assert_eq!(authorize.len(), 1);
        assert_eq!(
            authorize[0]
                .get("code_challenge_method")
                .map(String::as_str),
            Some("S256"),
            "PKCE"
        );
        assert!(
            authorize[0]
                .get("redirect_uri")
                .is_some_and(|r| r.starts_with("http://127.0.0.1:")),
            "loopback redirect"
        );
        assert!(!authorize[0].contains_key("client_secret"));

        // Settings list this session and the linked provider.
        a.click("#nav-settings").await;
        a.wait_text("this session", "#sessions .session", |t| {
            t.contains("this device")
        })
        .await;
        a.wait_text(
            "the linked provider",
            "#login-methods li[data-provider='mockid']",
            |t| t.contains("mockid"),
        )
        .await;
        a.screenshot("settings-sessions").await;

        // A restart 16 minutes later: the access token has run out; the refresh token kept in
        // the OS keyring logs the app back in without asking.
        let data = app.take().unwrap().close().await;
        clock.advance(Duration::from_secs(16 * 60));
        app = Some(App::start_in("minsu", &url, data, &browser).await);
        let a = app.as_ref().unwrap();
        a.wait_text("logged in again after the restart", "#nav-account", |t| {
            t == "@minsu"
        })
        .await;

        // Logging out forgets the session: after another restart nobody is logged in.
        a.click("#nav-account").await;
        a.click("#logout").await;
        a.wait_text("logged out", "#nav-account", |t| t == "Log in")
            .await;
        let data = app.take().unwrap().close().await;
        app = Some(App::start_in("minsu", &url, data, &browser).await);
        let a = app.as_ref().unwrap();
        a.wait_text("online", "#relay-status", |t| t == "Online")
            .await;
        a.click("#nav-account").await;
        a.find("the log-in form", "#login").await;
        assert_eq!(a.text("#nav-account").await, "Log in");
    };
    let result = std::panic::AssertUnwindSafe(outcome).catch_unwind().await;
    if let Some(a) = app.take() {
        if result.is_err() {
            a.leave_evidence().await;
        }
        a.close().await;
    }
    relay.shutdown().await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Serves `body` as `content_type` at `path` on loopback, counting requests; returns the
/// address.
async fn serve(
    path: &str,
    content_type: &'static str,
    body: Vec<u8>,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/{path}", listener.local_addr().unwrap());
    let count = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (url, asked)
}

/// Serves the app's own icon as a profile picture on loopback; returns its address.
async fn serve_picture() -> String {
    let png = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../icons/32x32.png"))
        .expect("the app icon");
    serve("ari.png", "image/png", png).await.0
}

/// Serves a release's `latest.json` (Tauri's updater format) on loopback, counting requests.
async fn serve_release(version: &str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let platform = json!({ "signature": "not checked until a download", "url": "http://127.0.0.1:9/app.tar.gz" });
    let body = json!({
        "version": version,
        "notes": "Faster search",
        "pub_date": "2026-12-07T00:00:00Z",
        "platforms": {
            "linux-x86_64": platform, "linux-x86_64-deb": platform,
            "linux-x86_64-rpm": platform, "linux-x86_64-appimage": platform,
        }
    });
    serve(
        "latest.json",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service: run through `cargo xtask test`"]
async fn a_newer_release_is_offered_at_start_unless_the_check_is_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), &dir.path().join("relay.db")).await;
    let (url, asked) = serve_release("9.9.9").await;
    let env = [support::window::GPU, ("MOVIETALK_UPDATE_URL", url.as_str())];
    let app = App::start_in("updater", &relay.url(), tempfile::tempdir().unwrap(), &env).await;
    let offered = async {
        let text = app
            .wait_text("the update offer", "#update-available", |t| {
                t.contains("9.9.9")
            })
            .await;
        assert!(text.contains("MovieTalk 9.9.9"), "{text}");
        app.screenshot("update-available").await;
        // Put off, the offer goes away; the check is switched off in Settings.
        app.click("#update-later").await;
        app.click("#nav-settings").await;
        let switch = app.find("the update switch", "#update-check").await;
        assert_eq!(
            switch.prop("checked").await.unwrap().as_deref(),
            Some("true")
        );
        switch.click().await.unwrap();
        app.click("#save-settings").await;
        app.find("saved", "#settings-saved").await;
    };
    if let Err(panic) = std::panic::AssertUnwindSafe(offered).catch_unwind().await {
        app.leave_evidence().await;
        std::panic::resume_unwind(panic);
    }
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    let data = app.close().await;

    // Started again with the check off: the release is not asked for.
    let app = App::start_in("updater", &relay.url(), data, &env).await;
    let quiet = async {
        app.wait_text("online", "#relay-status", |t| t == "Online")
            .await;
        app.find("the home page", "#home-page").await;
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(
            app.client
                .find(Locator::Css("#update-available"))
                .await
                .is_err(),
            "no offer without a check"
        );
    };
    if let Err(panic) = std::panic::AssertUnwindSafe(quiet).catch_unwind().await {
        app.leave_evidence().await;
        std::panic::resume_unwind(panic);
    }
    app.close().await;
    relay.shutdown().await.unwrap();
}
