//! Relay trust, each case as an outside probe found it, through raw WebSocket clients against a
//! relay started by the test: ids are never reused, a session that ends ends at once on every
//! connection, bans hold when an identity changes, used room names cannot be taken over, valid
//! writes under load never answer `internal`, a resume more than a page behind gets every
//! message once and in order, guests are rate-limited, and bad input gets a clear answer.

#[path = "support/raw.rs"]
mod raw;
#[path = "support/store.rs"]
mod store;

use std::time::Duration;

use movietalk_core::relay_client::{RelayClient, RelayEvent};
use movietalk_protocol::relay::{
    CLOSE_SESSION_ENDED, ChatMessage, ClientMessage, ErrorCode, ServerMessage,
};
use movietalk_relay::accounts::HashCost;
use movietalk_relay::{Config, RunningRelay, start};
use raw::Raw;

const WAIT: Duration = Duration::from_secs(5);

fn config() -> Config {
    Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        ..Config::default()
    }
}

/// A relay whose write limits do not get in the way of a test that writes a lot on purpose.
fn unlimited() -> Config {
    Config {
        writes_per_sec: 1e6,
        write_burst: 1e6,
        address_writes_per_sec: 1e6,
        address_write_burst: 1e6,
        frames_per_sec: 1e6,
        frame_burst: 1e6,
        ..config()
    }
}

async fn relay(config: Config) -> RunningRelay {
    start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap()
}

fn ok(msg: &ServerMessage) -> bool {
    !matches!(msg, ServerMessage::Error { .. })
}

fn sent_seq(msg: ServerMessage) -> u64 {
    match msg {
        ServerMessage::Sent { seq, .. } => seq,
        other => panic!("expected sent, got {other:?}"),
    }
}

// ---- 1. Ids are never reused ----

#[tokio::test]
async fn ids_are_never_reused_and_a_deleted_accounts_connection_cannot_act_as_its_successor() {
    let relay = relay(config()).await;
    let mut first = Raw::connect(&relay, "x").await;
    let (old_id, old_session, _, _) = first.sign_up("mina").await;
    let mut holder = Raw::connect(&relay, "x").await;
    let (_, held_session, _) = holder.log_in("mina").await;
    assert!(ok(&first
        .call(ClientMessage::DeleteAccount {
            password: "mina password".into(),
        })
        .await));
    // The deleted account's other connection is closed at once …
    assert_eq!(
        holder.close_frame().await,
        (
            CLOSE_SESSION_ENDED,
            "session ended: the account was deleted".into()
        )
    );
    // … and the next account, even one with the same handle, gets new ids.
    let mut next = Raw::connect(&relay, "y").await;
    let (new_id, new_session, _, _) = next.sign_up("mina").await;
    assert_ne!(new_id, old_id, "an account id came back");
    assert!(![old_session, held_session].contains(&new_session));
    // The deleting connection is a guest now: nothing it asks is done as either account.
    assert_eq!(
        first
            .refused(ClientMessage::UpdateProfile {
                display_name: Some("hijack".into()),
                bio: None,
                avatar_url: None,
            })
            .await,
        ErrorCode::Unauthorized
    );
    assert_eq!(
        first.refused(ClientMessage::ListSessions {}).await,
        ErrorCode::Unauthorized
    );
    // Sessions too: log out (the session row goes) and log in again.
    let (_, s1, _) = next.log_in("mina").await;
    assert!(ok(&next.call(ClientMessage::LogOut {}).await));
    let (_, s2, _) = next.log_in("mina").await;
    assert!(s2 > s1, "session id {s2} after {s1}: ids only grow");
    relay.shutdown().await.unwrap();
}

// ---- 2. A session that ends, ends now, on every connection ----

#[tokio::test]
async fn a_session_that_ends_closes_every_connection_holding_it_at_once() {
    let relay = relay(config()).await;
    let mut owner = Raw::connect(&relay, "o").await;
    let (_, _, _, _) = owner.sign_up("jun").await;

    // Each way a session ends, seen from another connection in that session.
    for (why, expected) in [
        ("log-out", "session ended: logged out"),
        ("revoke", "session ended: revoked"),
        ("reuse", "session ended: its refresh token was used twice"),
        ("password", "session ended: the password was changed"),
    ] {
        let mut actor = Raw::connect(&relay, "a").await;
        let (_, session, refresh) = actor.log_in("jun").await;
        let mut victim = Raw::connect(&relay, "v").await;
        let token = match actor
            .call(ClientMessage::Refresh {
                refresh_token: refresh.clone(),
            })
            .await
        {
            ServerMessage::Session { token, .. } => token.unwrap(),
            other => panic!("{other:?}"),
        };
        assert!(ok(&victim
            .call(ClientMessage::Authenticate { token })
            .await));
        victim.join("lobby", None).await;
        match why {
            "log-out" => assert!(ok(&actor.call(ClientMessage::LogOut {}).await)),
            "revoke" => assert!(ok(&owner
                .call(ClientMessage::RevokeSession {
                    session_id: session,
                })
                .await)),
            // The first refresh token was traded above: presenting it again is reuse.
            "reuse" => assert_eq!(
                owner
                    .refused(ClientMessage::Refresh {
                        refresh_token: refresh.clone(),
                    })
                    .await,
                ErrorCode::TokenReused
            ),
            _ => assert!(ok(&owner
                .call(ClientMessage::ChangePassword {
                    current: "jun password".into(),
                    new: "jun password".into(),
                })
                .await)),
        }
        assert_eq!(
            victim.close_frame().await,
            (CLOSE_SESSION_ENDED, expected.to_owned()),
            "{why}"
        );
        if why == "password" {
            // The connection that changed it keeps its own session.
            assert!(ok(&owner.call(ClientMessage::ListSessions {}).await));
        }
        if why == "log-out" {
            // The connection that logged out is a guest, not closed.
            assert_eq!(
                actor.refused(ClientMessage::ListSessions {}).await,
                ErrorCode::Unauthorized
            );
        }
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_ending_or_a_ban_this_relay_did_not_hear_of_takes_effect_within_one_sweep() {
    // As if the notification from another instance was lost: the session goes from the store
    // behind the relay's back.
    let store = store::fresh();
    let relay = start(
        "127.0.0.1:0".parse().unwrap(),
        Config {
            session_sweep: Duration::from_millis(100),
            ..config()
        },
        store.clone(),
    )
    .await
    .unwrap();
    let mut holder = Raw::connect(&relay, "h").await;
    let (account, session, _, _) = holder.sign_up("quiet-ending").await;
    let mut other = Raw::connect(&relay, "o").await;
    let (_, kept, _) = other.log_in("quiet-ending").await;
    movietalk_relay::accounts::AccountStore::revoke_session(&*store, account, session).unwrap();
    assert_eq!(
        holder.close_frame().await,
        (CLOSE_SESSION_ENDED, "session ended".into())
    );
    // The account's other session is untouched.
    match other.call(ClientMessage::ListSessions {}).await {
        ServerMessage::Sessions { sessions, .. } => {
            assert_eq!(sessions.iter().map(|s| s.id).collect::<Vec<_>>(), [kept]);
        }
        other => panic!("{other:?}"),
    }
    // A ban the relay did not hear of (a kick lost between instances) takes effect too.
    let mut host = Raw::connect(&relay, "host").await;
    host.sign_up("quiet-host").await;
    assert!(ok(&host
        .call(ClientMessage::CreateRoom {
            room: "quiet-room".into(),
            topic: String::new(),
        })
        .await));
    other.join("quiet-room", None).await;
    movietalk_relay::store::ChatStore::ban(&*store, "quiet-room", "quiet-ending").unwrap();
    other
        .event(|m| matches!(m, ServerMessage::Kicked { room } if room == "quiet-room"))
        .await;
    match other.post("quiet-room", "after", "still here?").await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NotInRoom),
        reply => panic!("a banned member posted: {reply:?}"),
    }
    relay.shutdown().await.unwrap();
}

// ---- 3. Bans hold whenever the identity changes; no history for those who may not join ----

/// "host" creates `room` and posts in it; "troll" joins and is kicked (and so banned). Returns
/// both connections, the troll's told it was kicked.
async fn kicked_from(relay: &RunningRelay, room: &str) -> (Raw, Raw) {
    let mut host = Raw::connect(relay, "h").await;
    host.sign_up("host").await;
    assert!(ok(&host
        .call(ClientMessage::CreateRoom {
            room: room.into(),
            topic: String::new(),
        })
        .await));
    host.join(room, None).await;
    sent_seq(host.post(room, "h1", "welcome").await);
    let mut troll = Raw::connect(relay, "t").await;
    troll.sign_up("troll").await;
    troll.join(room, None).await;
    assert!(ok(&host
        .call(ClientMessage::Kick {
            room: room.into(),
            handle: "troll".into(),
        })
        .await));
    troll
        .event(|m| matches!(m, ServerMessage::Kicked { room: r } if r == room))
        .await;
    (host, troll)
}

#[tokio::test]
async fn a_banned_account_cannot_post_by_logging_in_inside_the_room_nor_read_its_history() {
    let relay = relay(config()).await;
    let (_host, mut troll) = kicked_from(&relay, "noir").await;
    // The kicked connection reads no more history …
    assert_eq!(
        troll
            .refused(ClientMessage::History {
                room: "noir".into(),
                before: u64::MAX,
                limit: 50,
                after: None,
            })
            .await,
        ErrorCode::NotInRoom
    );
    // … nor posts; and it cannot join again.
    assert_eq!(
        match troll.post("noir", "t1", "back").await {
            ServerMessage::Error { code, .. } => code,
            other => panic!("{other:?}"),
        },
        ErrorCode::NotInRoom
    );
    assert_eq!(
        match troll.join("noir", None).await {
            ServerMessage::Error { code, .. } => code,
            other => panic!("{other:?}"),
        },
        ErrorCode::Forbidden
    );

    // The bypass: join as a guest, then log in as the banned account on that connection.
    let mut sneaky = Raw::connect(&relay, "just a guest").await;
    assert!(ok(&sneaky.join("noir", None).await));
    sneaky.log_in("troll").await;
    sneaky
        .event(|m| matches!(m, ServerMessage::Kicked { room } if room == "noir"))
        .await;
    match sneaky.post("noir", "s1", "I am back").await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NotInRoom),
        other => panic!("a banned account posted: {other:?}"),
    }
    assert_eq!(
        sneaky
            .refused(ClientMessage::History {
                room: "noir".into(),
                before: u64::MAX,
                limit: 50,
                after: None,
            })
            .await,
        ErrorCode::NotInRoom
    );
    // Authenticating with a token of the banned account on a guest's connection: the same.
    let mut token_guest = Raw::connect(&relay, "g").await;
    let mut login = Raw::connect(&relay, "l").await;
    let token = {
        match login
            .call(ClientMessage::LogIn {
                handle: "troll".into(),
                password: "troll password".into(),
            })
            .await
        {
            ServerMessage::Session { token, .. } => token.unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert!(ok(&token_guest.join("noir", None).await));
    assert!(ok(&token_guest
        .call(ClientMessage::Authenticate { token })
        .await));
    token_guest
        .event(|m| matches!(m, ServerMessage::Kicked { room } if room == "noir"))
        .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_kicked_connection_stays_out_whoever_it_logs_in_or_out_as() {
    let relay = relay(config()).await;
    let (_host, mut troll) = kicked_from(&relay, "quiet").await;
    // Logging out does not make the kicked connection a fresh guest in that room.
    assert!(ok(&troll.call(ClientMessage::LogOut {}).await));
    match troll.join("quiet", None).await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Forbidden),
        other => panic!("the kicked connection came back as a guest: {other:?}"),
    }
    assert_eq!(
        troll
            .refused(ClientMessage::Leave {
                room: "quiet".into(),
            })
            .await,
        ErrorCode::NotInRoom
    );
    // And a banned account learns nothing of the room through its read marks.
    let mut banned = Raw::connect(&relay, "b").await;
    banned.log_in("troll").await;
    assert_eq!(
        banned
            .refused(ClientMessage::MarkRead {
                room: "quiet".into(),
                seq: 1,
            })
            .await,
        ErrorCode::Forbidden
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_banned_account_no_longer_sees_how_busy_the_room_is() {
    let relay = relay(config()).await;
    let mut host = Raw::connect(&relay, "h").await;
    host.sign_up("host").await;
    assert!(ok(&host
        .call(ClientMessage::CreateRoom {
            room: "busy-room".into(),
            topic: String::new(),
        })
        .await));
    host.join("busy-room", None).await;
    sent_seq(host.post("busy-room", "h1", "one").await);
    let mut reader = Raw::connect(&relay, "r").await;
    reader.sign_up("reader").await;
    reader.join("busy-room", None).await;
    assert!(ok(&reader
        .call(ClientMessage::MarkRead {
            room: "busy-room".into(),
            seq: 1,
        })
        .await));
    sent_seq(host.post("busy-room", "h2", "two").await);
    let unread = |m: ServerMessage| match m {
        ServerMessage::Unread { rooms, .. } => rooms,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        unread(reader.call(ClientMessage::UnreadCounts {}).await),
        vec![("busy-room".to_owned(), 1)]
    );
    assert!(ok(&host
        .call(ClientMessage::Kick {
            room: "busy-room".into(),
            handle: "reader".into(),
        })
        .await));
    assert_eq!(
        unread(reader.call(ClientMessage::UnreadCounts {}).await),
        vec![]
    );
    relay.shutdown().await.unwrap();
}

// ---- 4. No room takeover ----

#[tokio::test]
async fn a_room_name_in_use_ever_built_in_or_per_film_cannot_be_created() {
    let relay = relay(config()).await;
    let mut guest = Raw::connect(&relay, "g").await;
    guest.join("hangout", None).await;
    assert!(ok(&guest
        .call(ClientMessage::Leave {
            room: "hangout".into(),
        })
        .await));
    let mut chat = Raw::connect(&relay, "c").await;
    chat.join("busy", None).await;
    sent_seq(chat.post("busy", "c1", "hello").await);

    let mut grabber = Raw::connect(&relay, "x").await;
    grabber.sign_up("grabber").await;
    // Look-alikes of a room name are not names at all.
    for room in ["lobby ", " lobby", "lobby\u{200B}", "\u{202E}ybbol"] {
        assert_eq!(
            grabber
                .refused(ClientMessage::CreateRoom {
                    room: room.into(),
                    topic: "mine now".into(),
                })
                .await,
            ErrorCode::InvalidInput,
            "{room:?}"
        );
    }
    for room in ["lobby", "film:heat-1995", "hangout", "busy"] {
        assert_eq!(
            grabber
                .refused(ClientMessage::CreateRoom {
                    room: room.into(),
                    topic: "mine now".into(),
                })
                .await,
            ErrorCode::Conflict,
            "{room} was taken over"
        );
        // And so the grabber moderates nothing there.
        assert_eq!(
            grabber
                .refused(ClientMessage::Kick {
                    room: room.into(),
                    handle: "grabber".into(),
                })
                .await,
            ErrorCode::Forbidden
        );
    }
    assert!(ok(&grabber
        .call(ClientMessage::CreateRoom {
            room: "brand-new".into(),
            topic: "a fresh name".into(),
        })
        .await));
    relay.shutdown().await.unwrap();
}

// ---- 5. Valid writes under load never answer `internal` ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reviews_and_comments_written_at_once_all_land() {
    // A real file: the chat writer and the request path each have their own connection to it.
    let dir = tempfile::tempdir().unwrap();
    let store = store::reopenable(dir.path())();
    let relay = start("127.0.0.1:0".parse().unwrap(), unlimited(), store)
        .await
        .unwrap();
    let url = relay.url();
    let chat = tokio::spawn({
        let url = url.clone();
        async move {
            let (guest, _events) = RelayClient::connect(&url, "chatty").await.unwrap();
            guest.join("load", None).await.unwrap();
            let mut seqs = Vec::new();
            for round in 0..100 {
                // Four in flight at a time.
                let sends = (0..4).map(|i| {
                    let g = guest.clone();
                    async move { g.send_with_id("load", &format!("m{round}-{i}"), "x").await }
                });
                for r in futures_util::future::join_all(sends).await {
                    seqs.push(r.expect("a chat message under load"));
                }
            }
            seqs
        }
    });
    let (writer, _events) = RelayClient::connect(&url, "w").await.unwrap();
    writer
        .sign_up("writer", "writer password", None)
        .await
        .unwrap();
    for i in 0..120 {
        let review = match writer
            .call(ClientMessage::PutReview {
                client_id: format!("r{i}"),
                movie_key: format!("film-{i}"),
                title: format!("Film {i}"),
                year: Some(2000),
                rating: 4.0,
                body: "good".into(),
                spoiler: false,
                edited_at_ms: None,
            })
            .await
        {
            Ok(ServerMessage::ReviewSaved { review, .. }) => review,
            other => panic!("review {i} under load: {other:?}"),
        };
        match writer
            .call(ClientMessage::PostComment {
                client_id: format!("c{i}"),
                review_id: review.id,
                body: "agreed".into(),
            })
            .await
        {
            Ok(ServerMessage::CommentSaved { .. }) => {}
            other => panic!("comment {i} under load: {other:?}"),
        }
    }
    let mut seqs = chat.await.unwrap();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs, (1..=400).collect::<Vec<u64>>());
    relay.shutdown().await.unwrap();
}

// ---- 6. Resuming more than a page behind ----

fn seqs(messages: &[ChatMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn a_client_500_behind_gets_every_message_once_in_order_while_the_room_is_live() {
    let relay = relay(unlimited()).await;
    let mut talker = Raw::connect(&relay, "talker").await;
    talker.join("busy", None).await;
    for i in 0..500 {
        sent_seq(talker.post("busy", &format!("m{i}"), "x").await);
    }
    let mut reader = Raw::connect(&relay, "reader").await;
    let (mut got, live_after) = match reader.join("busy", Some(0)).await {
        ServerMessage::Joined {
            history,
            live_after,
            ..
        } => (
            history,
            live_after.expect("the relay says where live starts"),
        ),
        other => panic!("{other:?}"),
    };
    assert_eq!(live_after, 500);
    assert_eq!(seqs(&got), (1..=200).collect::<Vec<_>>(), "one page");
    // The room goes on while the reader pages.
    for i in 0..5 {
        sent_seq(talker.post("busy", &format!("late{i}"), "x").await);
    }
    while got.last().unwrap().seq < live_after {
        let after = got.last().unwrap().seq;
        match reader
            .call(ClientMessage::History {
                room: "busy".into(),
                before: live_after + 1,
                limit: 200,
                after: Some(after),
            })
            .await
        {
            ServerMessage::History { messages, .. } => got.extend(messages),
            other => panic!("{other:?}"),
        }
    }
    // Then what arrived live meanwhile, in the order it came.
    for _ in 0..5 {
        match reader
            .event(|m| matches!(m, ServerMessage::Message(_)))
            .await
        {
            ServerMessage::Message(m) => got.push(m),
            _ => unreachable!(),
        }
    }
    assert_eq!(seqs(&got), (1..=505).collect::<Vec<_>>());

    // The app's client does the paging itself: its join hands over everything up to where
    // live delivery starts, its events the rest.
    let (app, mut events) = RelayClient::connect(&relay.url(), "app").await.unwrap();
    let resume = tokio::spawn({
        let app = app.clone();
        async move { app.join("busy", Some(3)).await.unwrap().history }
    });
    for i in 0..5 {
        sent_seq(talker.post("busy", &format!("later{i}"), "x").await);
    }
    let history = resume.await.unwrap();
    let mut all = seqs(&history);
    while all.last() != Some(&510) {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Some(RelayEvent::Message(m))) => all.push(m.seq),
            Ok(Some(_)) => {}
            other => panic!("no more messages after {all:?}: {other:?}"),
        }
    }
    assert_eq!(all, (4..=510).collect::<Vec<_>>());
    relay.shutdown().await.unwrap();
}

// ---- 8. Guests are limited; strikes decay; oversized frames get 1009 ----

#[tokio::test]
async fn guests_are_rate_limited_per_connection_and_per_address() {
    let relay = relay(config()).await;
    let c = config();
    let started = std::time::Instant::now();
    let mut accepted_per_guest = Vec::new();
    let mut guests = Vec::new();
    for g in 0..10 {
        let mut guest = Raw::connect(&relay, "same-address guest").await;
        guest.join("flood", None).await;
        guests.push((g, guest));
    }
    for (g, guest) in &mut guests {
        let mut accepted = 0;
        for i in 0..45 {
            match guest.post("flood", &format!("{g}-{i}"), "spam").await {
                ServerMessage::Sent { .. } => accepted += 1,
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                } => {}
                other => panic!("{other:?}"),
            }
        }
        accepted_per_guest.push(accepted);
    }
    let secs = started.elapsed().as_secs_f64();
    let total: u32 = accepted_per_guest.iter().sum();
    let per_guest_cap = c.write_burst + c.writes_per_sec * secs;
    let address_cap = c.address_write_burst + c.address_writes_per_sec * secs;
    assert!(
        accepted_per_guest
            .iter()
            .all(|&n| f64::from(n) <= per_guest_cap + 1.0),
        "{accepted_per_guest:?} in {secs:.1} s"
    );
    assert!(
        f64::from(total) <= address_cap + 1.0 && total < 450,
        "{total} of 450 accepted from one address in {secs:.1} s"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn joining_new_room_names_is_limited_like_writing() {
    let relay = relay(config()).await;
    let c = config();
    let mut squatter = Raw::connect(&relay, "squatter").await;
    let started = std::time::Instant::now();
    let mut claimed = 0;
    for i in 0..100 {
        match squatter.join(&format!("name-{i}"), None).await {
            ServerMessage::Joined { .. } => claimed += 1,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => {}
            other => panic!("{other:?}"),
        }
    }
    let cap = c.write_burst + c.writes_per_sec * started.elapsed().as_secs_f64();
    assert!(
        f64::from(claimed) <= cap + 1.0,
        "{claimed} new names claimed, at most {cap:.0} expected"
    );
    // Rooms the relay already holds cost nothing to join.
    for _ in 0..50 {
        assert!(ok(&squatter.join("name-0", None).await));
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limit_strikes_are_forgiven_once_a_client_slows_down() {
    let relay = relay(Config {
        frames_per_sec: 20.0,
        frame_burst: 5.0,
        ..config()
    })
    .await;
    let mut c = Raw::connect(&relay, "bursty").await;
    // Three bursts of 60 frames: about 165 refused in all, never 100 in a row.
    let mut refused = 0;
    for _ in 0..3 {
        for _ in 0..60 {
            if let ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } = c.call(ClientMessage::ListRooms {}).await
            {
                refused += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(refused > 100, "only {refused} refused");
    assert!(
        ok(&c.call(ClientMessage::ListRooms {}).await),
        "still connected"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_frame_over_the_limit_is_closed_with_1009_and_a_reason() {
    let relay = relay(Config {
        max_message_bytes: 4096,
        ..config()
    })
    .await;
    let mut c = Raw::connect(&relay, "big").await;
    c.send_text(format!(
        r#"{{"type":"send","req":1,"room":"r","client_id":"c","text":"{}"}}"#,
        "x".repeat(10_000)
    ))
    .await;
    let (code, reason) = c.close_frame().await;
    assert_eq!(code, 1009);
    assert!(reason.contains("4096"), "{reason}");
    relay.shutdown().await.unwrap();
}

// ---- 9. Validation ----

#[tokio::test]
async fn mark_read_takes_only_real_rooms_and_numbers_that_exist() {
    let relay = relay(config()).await;
    let mut c = Raw::connect(&relay, "r").await;
    c.sign_up("reader").await;
    c.join("real", None).await;
    sent_seq(c.post("real", "c1", "one").await);
    assert_eq!(
        c.refused(ClientMessage::MarkRead {
            room: "bad\nroom".into(),
            seq: 1,
        })
        .await,
        ErrorCode::InvalidInput
    );
    assert_eq!(
        c.refused(ClientMessage::MarkRead {
            room: "never-used".into(),
            seq: 1,
        })
        .await,
        ErrorCode::NotFound
    );
    for seq in [u64::MAX, (1 << 63) + 5, 1 << 62] {
        assert!(ok(&c
            .call(ClientMessage::MarkRead {
                room: "real".into(),
                seq,
            })
            .await));
    }
    match c.call(ClientMessage::UnreadCounts {}).await {
        ServerMessage::Unread { rooms, .. } => assert_eq!(rooms, vec![("real".into(), 0)]),
        other => panic!("{other:?}"),
    }
    sent_seq(c.post("real", "c2", "two").await);
    match c.call(ClientMessage::UnreadCounts {}).await {
        ServerMessage::Unread { rooms, .. } => {
            assert_eq!(rooms, vec![("real".into(), 1)], "read up to 1, not 2^64")
        }
        other => panic!("{other:?}"),
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn names_with_direction_overrides_or_invisible_characters_are_refused() {
    let relay = relay(config()).await;
    for name in [
        "evil\u{202E}nimda",
        "a\u{2066}b",
        "zero\u{200B}width",
        "\u{FEFF}bom",
    ] {
        let mut c = Raw::hello(&relay, name).await;
        match c.frame().await {
            Some(ServerMessage::Error { code, .. }) => assert_eq!(code, ErrorCode::InvalidInput),
            other => panic!("{name:?} was accepted: {other:?}"),
        }
    }
    let mut c = Raw::connect(&relay, "한국어 이름 👩‍👩‍👧").await;
    assert_eq!(
        c.refused(ClientMessage::SignUp {
            handle: "mallory".into(),
            password: "mallory password".into(),
            display_name: Some("admin\u{202E}".into()),
        })
        .await,
        ErrorCode::InvalidInput
    );
    c.sign_up("mallory").await;
    assert_eq!(
        c.refused(ClientMessage::UpdateProfile {
            display_name: Some("\u{2067}admin".into()),
            bio: None,
            avatar_url: None,
        })
        .await,
        ErrorCode::InvalidInput
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_guests_of_one_name_never_collide_on_client_ids() {
    let relay = relay(config()).await;
    let mut a = Raw::connect(&relay, "guest").await;
    let mut b = Raw::connect(&relay, "guest").await;
    a.join("r", None).await;
    b.join("r", None).await;
    let first = sent_seq(a.post("r", "msg-1", "from a").await);
    let second = sent_seq(b.post("r", "msg-1", "from b").await);
    assert_ne!(first, second, "b's text was dropped as a resend of a's");
    // A resend on the same connection is still recognised.
    assert_eq!(sent_seq(a.post("r", "msg-1", "from a").await), first);
    match a.join("r", Some(0)).await {
        ServerMessage::Joined { history, .. } => {
            let texts: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(texts, ["from a", "from b"]);
        }
        other => panic!("{other:?}"),
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_frame_whose_req_can_be_read_is_answered_with_it() {
    let relay = relay(config()).await;
    let mut c = Raw::connect(&relay, "m").await;
    for (frame, req) in [
        (
            r#"{"type":"send","req":41,"room":"r","client_id":"c","text":"\ud800"}"#,
            41,
        ),
        (r#"{"type":"join","req":42,"room":7}"#, 42),
        (r#"{"type":"no_such_thing","req":43}"#, 43),
    ] {
        c.send_text(frame.into()).await;
        match c.answer(req).await {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Malformed),
            other => panic!("{other:?}"),
        }
    }
    assert!(ok(&c.call(ClientMessage::ListRooms {}).await));
    relay.shutdown().await.unwrap();
}

// ---- 7. Password hashing is bounded ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_in_storm_past_the_hashing_queue_is_answered_rate_limited() {
    let relay = relay(Config {
        hash_cost: HashCost {
            memory_kib: 16 * 1024,
            passes: 3,
        },
        hash_queue: 0,
        ..config()
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(Raw::connect(&relay, "storm").await);
    }
    // Every sign-up at once: at most one per core hashes, none may wait.
    for (i, c) in clients.iter_mut().enumerate() {
        let signup = ClientMessage::SignUp {
            handle: format!("storm{i}"),
            password: "storm password".into(),
            display_name: None,
        };
        c.send_text(signup.with_req(1).to_json()).await;
    }
    let (mut signed_up, mut limited) = (0, 0);
    for c in &mut clients {
        match c.answer(1).await {
            ServerMessage::Session { .. } => signed_up += 1,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            other => panic!("neither signed up nor rate limited: {other:?}"),
        }
    }
    assert!(
        signed_up >= 1 && limited >= 1,
        "{signed_up} signed up, {limited} limited"
    );
    // Once the storm is over the relay hashes again.
    let mut later = Raw::connect(&relay, "later").await;
    later.sign_up("after-storm").await;
    relay.shutdown().await.unwrap();
}
