//! Created rooms and their moderation, typing indicators and unread counts, through real
//! WebSocket clients — including every attempt to moderate without being the moderator.

#[path = "support/store.rs"]
mod store;
use std::time::Duration;

use movietalk_core::relay_client::{ClientError, RelayClient, RelayEvent};
use movietalk_protocol::relay::{ClientMessage, ErrorCode, ServerMessage};
use movietalk_relay::accounts::HashCost;
use movietalk_relay::{Config, RunningRelay, start};
use tokio::sync::mpsc::Receiver;

async fn relay() -> RunningRelay {
    let config = Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        ..Config::default()
    };
    start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap()
}

async fn user(relay: &RunningRelay, handle: &str) -> (RelayClient, Receiver<RelayEvent>) {
    let (c, e) = RelayClient::connect(&relay.url(), handle).await.unwrap();
    c.sign_up(handle, "a long password", None).await.unwrap();
    (c, e)
}

fn code(r: Result<ServerMessage, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn next_matching(
    events: &mut Receiver<RelayEvent>,
    mut want: impl FnMut(&RelayEvent) -> bool,
) -> RelayEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("event in time")
            .expect("stream open");
        if want(&e) {
            return e;
        }
    }
}

#[tokio::test]
async fn the_creator_moderates_and_nobody_else_can() {
    let relay = relay().await;
    let (host, mut host_events) = user(&relay, "host").await;
    let (troll, mut troll_events) = user(&relay, "troll").await;
    let (other, _) = user(&relay, "other").await;
    let made = host
        .call(ClientMessage::CreateRoom {
            room: "noir-club".into(),
            topic: "필름 누아르".into(),
        })
        .await
        .unwrap();
    assert!(
        matches!(made, ServerMessage::RoomInfo { ref room, .. } if room.creator.as_deref() == Some("host"))
    );
    assert_eq!(
        code(
            other
                .call(ClientMessage::CreateRoom {
                    room: "noir-club".into(),
                    topic: String::new()
                })
                .await
        ),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(
            other
                .call(ClientMessage::CreateRoom {
                    room: "film:heat-1995".into(),
                    topic: String::new()
                })
                .await
        ),
        ErrorCode::Conflict,
        "film rooms exist already and have no owner"
    );

    for c in [&host, &troll, &other] {
        c.join("noir-club", None).await.unwrap();
    }
    let bad = troll.send("noir-club", "spam").await.unwrap();
    let fine = other.send("noir-club", "a real thought").await.unwrap();

    // Only the author or the moderator deletes a message.
    assert_eq!(
        code(
            other
                .call(ClientMessage::DeleteMessage {
                    room: "noir-club".into(),
                    seq: bad
                })
                .await
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            troll
                .call(ClientMessage::DeleteMessage {
                    room: "noir-club".into(),
                    seq: fine
                })
                .await
        ),
        ErrorCode::Forbidden
    );
    host.call(ClientMessage::DeleteMessage {
        room: "noir-club".into(),
        seq: bad,
    })
    .await
    .unwrap();
    next_matching(
        &mut host_events,
        |e| matches!(e, RelayEvent::MessageDeleted { seq, .. } if *seq == bad),
    )
    .await;
    let history = other.history("noir-club", 100, 10).await.unwrap();
    let deleted = history.iter().find(|m| m.seq == bad).unwrap();
    assert!(deleted.deleted && deleted.text.is_empty(), "{deleted:?}");

    // Only the moderator kicks; the kicked account is out and stays out.
    assert_eq!(
        code(
            other
                .call(ClientMessage::Kick {
                    room: "noir-club".into(),
                    handle: "troll".into()
                })
                .await
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            host.call(ClientMessage::Kick {
                room: "noir-club".into(),
                handle: "nobody".into()
            })
            .await
        ),
        ErrorCode::NotFound
    );
    host.call(ClientMessage::Kick {
        room: "noir-club".into(),
        handle: "troll".into(),
    })
    .await
    .unwrap();
    next_matching(&mut troll_events, |e| {
        matches!(e, RelayEvent::Kicked { .. })
    })
    .await;
    assert!(matches!(
        troll.send("noir-club", "again").await,
        Err(ClientError::Rejected {
            code: ErrorCode::NotInRoom,
            ..
        })
    ));
    assert!(matches!(
        troll.join("noir-club", None).await,
        Err(ClientError::Rejected {
            code: ErrorCode::Forbidden,
            ..
        })
    ));

    let rooms = match other.call(ClientMessage::ListRooms {}).await.unwrap() {
        ServerMessage::Rooms { rooms, .. } => rooms,
        other => panic!("{other:?}"),
    };
    let club = rooms
        .iter()
        .find(|r| r.name == "noir-club")
        .expect("listed");
    assert_eq!(
        (club.present, club.topic.as_str()),
        (2, "필름 누아르"),
        "host and other remain"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn typing_reaches_the_others_in_the_room() {
    let relay = relay().await;
    let (a, _ea) = user(&relay, "typer").await;
    let (b, mut eb) = user(&relay, "watcher").await;
    a.join("film:parasite-2019", None).await.unwrap();
    b.join("film:parasite-2019", None).await.unwrap();
    a.typing("film:parasite-2019").await.unwrap();
    let e = next_matching(&mut eb, |e| matches!(e, RelayEvent::Typing { .. })).await;
    assert_eq!(
        e,
        RelayEvent::Typing {
            room: "film:parasite-2019".into(),
            who: "typer".into()
        }
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn unread_counts_follow_what_was_marked_read() {
    let relay = relay().await;
    let (reader, _er) = user(&relay, "reader").await;
    let (writer, _ew) = user(&relay, "writer").await;
    writer.join("r", None).await.unwrap();
    for i in 0..5 {
        writer.send("r", &format!("m{i}")).await.unwrap();
    }
    reader.join("r", None).await.unwrap();
    reader
        .call(ClientMessage::MarkRead {
            room: "r".into(),
            seq: 3,
        })
        .await
        .unwrap();
    reader
        .call(ClientMessage::MarkRead {
            room: "r".into(),
            seq: 2,
        })
        .await
        .unwrap();
    let unread = |c: &RelayClient| {
        let c = c.clone();
        async move {
            match c.call(ClientMessage::UnreadCounts {}).await.unwrap() {
                ServerMessage::Unread { rooms, .. } => rooms,
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(
        unread(&reader).await,
        vec![("r".to_owned(), 2)],
        "read up to 3 of 5; marking an older one does not go back"
    );
    writer.send("r", "m5").await.unwrap();
    assert_eq!(unread(&reader).await, vec![("r".to_owned(), 3)]);
    let (guest, _) = RelayClient::connect(&relay.url(), "guest").await.unwrap();
    assert_eq!(
        code(guest.call(ClientMessage::UnreadCounts {}).await),
        ErrorCode::Unauthorized
    );
    relay.shutdown().await.unwrap();
}
