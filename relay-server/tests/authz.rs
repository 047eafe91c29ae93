//! The relay's authorization matrix: every mutating command, tried by the owner of its target,
//! another account, a guest, an account banned from the room, that account's connection that was
//! kicked, a connection whose session was revoked, a connection of a deleted account, and a new
//! account with a deleted account's handle, gets exactly the expected answer — and after every
//! attempt by someone other than the owner, nothing of the owner's has changed and the owner
//! still logs in. Runs on SQLite, and on PostgreSQL with `MOVIETALK_RELAY_TEST_STORE=postgres`.

#[path = "support/raw.rs"]
mod raw;
#[path = "support/store.rs"]
mod store;

use std::time::Duration;

use movietalk_core::relay_client::{ClientError, RelayClient, RelayEvent};
use movietalk_protocol::relay::{
    CLOSE_SESSION_ENDED, ChatMessage, ClientMessage, DiaryEntry, ErrorCode, LikeTarget,
    ServerMessage,
};
use movietalk_relay::accounts::{DELETED_AUTHOR, HashCost};
use movietalk_relay::{Config, RunningRelay, start};
use tokio::sync::mpsc::Receiver;

/// The owner's room, created by olga.
const ROOM: &str = "olga-room";
/// The room the deleted account created.
const SAM_ROOM: &str = "sam-room";
const OLGA_FILM: &str = "parasite-2019";
const OTTO_FILM: &str = "heat-1995";
const SAM_FILM: &str = "oldboy-2003";
const OLGA_PW: &str = "olga password";
const OLGA_NEW_PW: &str = "olga's new password";
const PW: &str = "a long password";

/// Who tries a command. Declared in the tables' column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    /// Olga, on a connection of her own (session B): owns the targets.
    Owner,
    /// Otto, another account, in olga's room.
    Other,
    /// A connection that never logged in.
    Guest,
    /// Bruno, banned from olga's room, on a connection that never was in it.
    Banned,
    /// Bruno's connection that was in the room when olga kicked him (still open).
    Kicked,
    /// Olga's connection whose session (C) her first connection then revoked.
    Revoked,
    /// Sam's second connection; sam's first connection then deleted the account.
    Deleted,
    /// A new account that signed up as "sam" after the deletion. Where sam owned something of
    /// the kind a command targets, it targets that (gone, or no longer sam's).
    Successor,
}

use Actor::*;

impl Actor {
    /// The order actors try each row in: the owner last, so that what it changes or deletes was
    /// there for everyone before.
    const RUN: [Actor; 8] = [
        Other, Guest, Banned, Kicked, Revoked, Deleted, Successor, Owner,
    ];

    fn handle(self) -> &'static str {
        match self {
            Owner | Revoked => "olga",
            Other => "otto",
            Guest => "guest",
            Banned | Kicked => "bruno",
            Deleted | Successor => "sam",
        }
    }
}

/// What an attempt led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Answered with success.
    Done,
    /// Refused with this code.
    Refused(ErrorCode),
    /// The connection is closed: nothing was done.
    Closed,
    /// (typing) The others in the room were told.
    Seen,
    /// (typing) Nobody was told.
    Unseen,
}

use Outcome::{Closed, Done, Refused, Seen, Unseen};

const OK: Outcome = Done;
const CLOSED: Outcome = Closed;
const SEEN: Outcome = Seen;
const UNSEEN: Outcome = Unseen;
const UNAUTH: Outcome = Refused(ErrorCode::Unauthorized);
const FORBID: Outcome = Refused(ErrorCode::Forbidden);
const NOT_FOUND: Outcome = Refused(ErrorCode::NotFound);
const NOT_IN_ROOM: Outcome = Refused(ErrorCode::NotInRoom);
const CONFLICT: Outcome = Refused(ErrorCode::Conflict);
const BAD_CRED: Outcome = Refused(ErrorCode::InvalidCredentials);

/// The mutating commands, each aimed at one target of the [`World`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    /// A chat message to olga's room.
    Send,
    /// "Typing" in olga's room (no answer: does anyone in the room hear of it?).
    Typing,
    /// Olga's message in her room (successor: sam's, now by the deleted-account placeholder).
    DeleteMessage,
    /// Kick tina from olga's room (successor: from sam's room, which has no creator now).
    Kick,
    /// Create olga's room again (successor: sam's).
    CreateRoom,
    /// Mark olga's room read up to olga's message.
    MarkRead,
    /// Read olga's room.
    History,
    /// Leave olga's room.
    Leave,
    /// Join olga's room.
    Join,
    /// A review of olga's film under olga's review's client id (successor: sam's film and id).
    PutReview,
    /// A comment on olga's review under olga's comment's client id (successor: on sam's review).
    PostComment,
    /// Olga's comment (successor: sam's).
    EditComment,
    /// Like olga's review (successor: sam's).
    LikeReview,
    /// Like olga's comment (successor: sam's).
    LikeComment,
    /// Olga's comment (successor: sam's).
    DeleteOwnComment,
    /// Wendy's comment on olga's review, which olga may delete as the review's author
    /// (successor: wendy's comment on sam's review).
    DeleteCommentOnOwnReview,
    /// Olga's review (successor: sam's).
    DeleteReview,
    /// Follow olga (the owner: otto).
    Follow,
    /// Change one's own profile (olga's must stay as it is).
    UpdateProfile,
    /// Olga's first session (owner: a spare session of hers; successor: sam's old session).
    RevokeSession,
    /// Change "the" password, presenting olga's as the current one.
    ChangePassword,
    /// Delete "the" account, presenting olga's password.
    DeleteAccount,
    /// Log one's own session out.
    LogOut,
    /// Take olga's film off "the" watchlist: one's own.
    Unwatch,
    /// Make "the" watchlist public: one's own.
    WatchlistPublic,
    /// Rewrite olga's diary entry (by its client id): in one's own diary.
    PutDiaryEntry,
    /// Delete olga's diary entry (by its client id): from one's own diary.
    DeleteDiaryEntry,
}

/// A command and what each actor gets, in [`Actor`] order.
type Row = (Cmd, [Outcome; 8]);

#[rustfmt::skip]
const CHAT: &[Row] = &[
    //                         owner     other     guest        banned       kicked       revoked  deleted  successor
    (Cmd::Send,               [OK,       OK,       NOT_IN_ROOM, NOT_IN_ROOM, NOT_IN_ROOM, CLOSED,  CLOSED,  NOT_IN_ROOM]),
    (Cmd::Typing,             [SEEN,     SEEN,     UNSEEN,      UNSEEN,      UNSEEN,      CLOSED,  CLOSED,  UNSEEN]),
    (Cmd::MarkRead,           [OK,       OK,       UNAUTH,      FORBID,      FORBID,      CLOSED,  CLOSED,  OK]),
    (Cmd::History,            [OK,       OK,       NOT_IN_ROOM, NOT_IN_ROOM, NOT_IN_ROOM, CLOSED,  CLOSED,  NOT_IN_ROOM]),
    (Cmd::DeleteMessage,      [OK,       FORBID,   UNAUTH,      FORBID,      FORBID,      CLOSED,  CLOSED,  FORBID]),
    (Cmd::Kick,               [OK,       FORBID,   UNAUTH,      FORBID,      FORBID,      CLOSED,  CLOSED,  FORBID]),
    (Cmd::CreateRoom,         [CONFLICT, CONFLICT, UNAUTH,      CONFLICT,    CONFLICT,    CLOSED,  CLOSED,  CONFLICT]),
    (Cmd::Leave,              [OK,       OK,       NOT_IN_ROOM, NOT_IN_ROOM, NOT_IN_ROOM, CLOSED,  CLOSED,  NOT_IN_ROOM]),
    (Cmd::Join,               [OK,       OK,       OK,          FORBID,      FORBID,      CLOSED,  CLOSED,  OK]),
];

#[rustfmt::skip]
const SOCIAL: &[Row] = &[
    //                              owner  other   guest   banned  kicked  revoked  deleted  successor
    (Cmd::PutReview,               [OK,    OK,     UNAUTH, OK,     OK,     CLOSED,  CLOSED,  OK]),
    (Cmd::PostComment,             [OK,    OK,     UNAUTH, OK,     OK,     CLOSED,  CLOSED,  NOT_FOUND]),
    (Cmd::EditComment,             [OK,    FORBID, UNAUTH, FORBID, FORBID, CLOSED,  CLOSED,  NOT_FOUND]),
    (Cmd::LikeReview,              [OK,    OK,     UNAUTH, OK,     OK,     CLOSED,  CLOSED,  NOT_FOUND]),
    (Cmd::LikeComment,             [OK,    OK,     UNAUTH, OK,     OK,     CLOSED,  CLOSED,  NOT_FOUND]),
    (Cmd::Follow,                  [OK,    OK,     UNAUTH, OK,     OK,     CLOSED,  CLOSED,  OK]),
    (Cmd::DeleteOwnComment,        [OK,    FORBID, UNAUTH, FORBID, FORBID, CLOSED,  CLOSED,  NOT_FOUND]),
    (Cmd::DeleteCommentOnOwnReview,[OK,    FORBID, UNAUTH, FORBID, FORBID, CLOSED,  CLOSED,  NOT_FOUND]),
    (Cmd::DeleteReview,            [OK,    FORBID, UNAUTH, FORBID, FORBID, CLOSED,  CLOSED,  NOT_FOUND]),
];

#[rustfmt::skip]
const LIBRARY: &[Row] = &[
    //                        owner  other  guest   banned  kicked  revoked  deleted  successor
    (Cmd::Unwatch,           [OK,    OK,    UNAUTH, OK,     OK,     CLOSED,  CLOSED,  OK]),
    (Cmd::WatchlistPublic,   [OK,    OK,    UNAUTH, OK,     OK,     CLOSED,  CLOSED,  OK]),
    (Cmd::PutDiaryEntry,     [OK,    OK,    UNAUTH, OK,     OK,     CLOSED,  CLOSED,  OK]),
    (Cmd::DeleteDiaryEntry,  [OK,    OK,    UNAUTH, OK,     OK,     CLOSED,  CLOSED,  OK]),
];

#[rustfmt::skip]
const SESSIONS: &[Row] = &[
    //                        owner  other      guest   banned     kicked     revoked  deleted  successor
    (Cmd::UpdateProfile,     [OK,    OK,        UNAUTH, OK,        OK,        CLOSED,  CLOSED,  OK]),
    (Cmd::RevokeSession,     [OK,    NOT_FOUND, UNAUTH, NOT_FOUND, NOT_FOUND, CLOSED,  CLOSED,  NOT_FOUND]),
    (Cmd::LogOut,            [OK,    OK,        UNAUTH, OK,        OK,        CLOSED,  CLOSED,  OK]),
];

#[rustfmt::skip]
const PASSWORD: &[Row] = &[
    //                        owner  other     guest   banned    kicked    revoked  deleted  successor
    (Cmd::ChangePassword,    [OK,    BAD_CRED, UNAUTH, BAD_CRED, BAD_CRED, CLOSED,  CLOSED,  BAD_CRED]),
    (Cmd::DeleteAccount,     [OK,    BAD_CRED, UNAUTH, BAD_CRED, BAD_CRED, CLOSED,  CLOSED,  BAD_CRED]),
];

impl Cmd {
    /// The request `actor` sends (not for [`Cmd::Typing`], which has no request id).
    fn request(self, w: &World, actor: Actor) -> ClientMessage {
        // The successor aims at what its handle's previous owner had.
        let succ = actor == Successor;
        let pick = |olgas: u64, sams: u64| if succ { sams } else { olgas };
        let room = if succ { SAM_ROOM } else { ROOM }.to_owned();
        match self {
            Cmd::Send => ClientMessage::Send {
                room: ROOM.into(),
                client_id: format!("send-{actor:?}"),
                text: format!("{actor:?} was here"),
            },
            Cmd::Typing => unreachable!("typing has no request"),
            Cmd::DeleteMessage => ClientMessage::DeleteMessage {
                room: ROOM.into(),
                seq: pick(w.olga_msg, w.sam_msg),
            },
            Cmd::Kick => ClientMessage::Kick {
                room,
                handle: "tina".into(),
            },
            Cmd::CreateRoom => ClientMessage::CreateRoom {
                room,
                topic: "mine now".into(),
            },
            Cmd::MarkRead => ClientMessage::MarkRead {
                room: ROOM.into(),
                seq: w.olga_msg,
            },
            Cmd::History => ClientMessage::History {
                room: ROOM.into(),
                before: u64::MAX,
                limit: 50,
                after: None,
            },
            Cmd::Leave => ClientMessage::Leave { room: ROOM.into() },
            Cmd::Join => ClientMessage::Join {
                room: ROOM.into(),
                since: None,
            },
            Cmd::PutReview => ClientMessage::PutReview {
                client_id: if succ { "sam-review" } else { "olga-review" }.into(),
                movie_key: if succ { SAM_FILM } else { OLGA_FILM }.into(),
                title: "Parasite".into(),
                year: Some(2019),
                rating: 0.5,
                body: format!("{actor:?} rewrote this"),
                spoiler: true,
                edited_at_ms: None,
            },
            Cmd::PostComment => ClientMessage::PostComment {
                client_id: if succ { "sam-comment" } else { "olga-comment" }.into(),
                review_id: pick(w.olga_review, w.sam_review),
                body: format!("{actor:?} comments"),
            },
            Cmd::EditComment => ClientMessage::EditComment {
                comment_id: pick(w.olga_comment, w.sam_comment),
                body: format!("{actor:?} rewrote this"),
            },
            Cmd::LikeReview => ClientMessage::Like {
                target: LikeTarget::Review(pick(w.olga_review, w.sam_review)),
                on: true,
            },
            Cmd::LikeComment => ClientMessage::Like {
                target: LikeTarget::Comment(pick(w.olga_comment, w.sam_comment)),
                on: true,
            },
            Cmd::DeleteOwnComment => ClientMessage::DeleteComment {
                comment_id: pick(w.olga_comment, w.sam_comment),
            },
            Cmd::DeleteCommentOnOwnReview => ClientMessage::DeleteComment {
                comment_id: pick(w.wendy_comment, w.wendy_on_sam),
            },
            Cmd::DeleteReview => ClientMessage::DeleteReview {
                review_id: pick(w.olga_review, w.sam_review),
            },
            Cmd::Follow => ClientMessage::Follow {
                handle: if actor == Owner { "otto" } else { "olga" }.into(),
                on: true,
            },
            Cmd::UpdateProfile => ClientMessage::UpdateProfile {
                display_name: Some(format!("{actor:?}")),
                bio: Some(format!("{actor:?} wrote this")),
                avatar_url: Some("https://example.invalid/x.png".into()),
            },
            Cmd::RevokeSession => ClientMessage::RevokeSession {
                session_id: match actor {
                    Owner => w.spare_session,
                    Successor => w.sam_session,
                    _ => w.admin_session,
                },
            },
            Cmd::ChangePassword => ClientMessage::ChangePassword {
                current: w.olga_pw.clone(),
                new: OLGA_NEW_PW.into(),
            },
            Cmd::DeleteAccount => ClientMessage::DeleteAccount {
                password: w.olga_pw.clone(),
            },
            Cmd::LogOut => ClientMessage::LogOut {},
            Cmd::Unwatch => ClientMessage::SetWatchlist {
                movie_key: OLGA_FILM.into(),
                title: "Parasite".into(),
                year: Some(2019),
                on: false,
                at_ms: None,
            },
            Cmd::WatchlistPublic => ClientMessage::WatchlistPublic { public: true },
            Cmd::PutDiaryEntry => ClientMessage::PutDiaryEntry {
                entry: diary_entry("olga-watch", OLGA_FILM, &format!("{actor:?}")),
            },
            Cmd::DeleteDiaryEntry => ClientMessage::DeleteDiaryEntry {
                client_id: "olga-watch".into(),
                at_ms: None,
            },
        }
    }
}

/// Cheap hashing; and the reader's many checks are no flood.
fn config() -> Config {
    Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        frames_per_sec: 10_000.0,
        frame_burst: 10_000.0,
        // The checks read the owner's watchlist and diary again and again (reads limited like
        // writes): no limit is under test here.
        writes_per_sec: 10_000.0,
        write_burst: 10_000.0,
        ..Config::default()
    }
}

async fn connect(relay: &RunningRelay, name: &str) -> (RelayClient, Receiver<RelayEvent>) {
    RelayClient::connect(&relay.url(), name).await.unwrap()
}

/// The next event `want` accepts, within 5 seconds.
async fn next_matching(
    events: &mut Receiver<RelayEvent>,
    mut want: impl FnMut(&RelayEvent) -> bool,
) -> RelayEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("the event in time")
            .expect("the event stream is open");
        if want(&e) {
            return e;
        }
    }
}

/// Why the connection ended, once it has.
async fn disconnected(events: &mut Receiver<RelayEvent>) -> String {
    match next_matching(events, |e| matches!(e, RelayEvent::Disconnected { .. })).await {
        RelayEvent::Disconnected { reason } => reason,
        _ => unreachable!(),
    }
}

/// The events received so far.
fn drain(events: &mut Receiver<RelayEvent>) -> Vec<RelayEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

fn review_id(reply: ServerMessage) -> u64 {
    match reply {
        ServerMessage::ReviewSaved { review, .. } => review.id,
        other => panic!("expected a saved review, got {other:?}"),
    }
}

fn comment_id(reply: ServerMessage) -> u64 {
    match reply {
        ServerMessage::CommentSaved { comment, .. } => comment.id,
        other => panic!("expected a saved comment, got {other:?}"),
    }
}

async fn put_review(c: &RelayClient, client_id: &str, film: &str, body: &str) -> u64 {
    let (client_id, movie_key, body) = (client_id.to_owned(), film.to_owned(), body.to_owned());
    review_id(
        c.call(ClientMessage::PutReview {
            client_id,
            movie_key,
            title: "A film".into(),
            year: Some(2000),
            rating: 4.0,
            body,
            spoiler: false,
            edited_at_ms: None,
        })
        .await
        .unwrap(),
    )
}

async fn comment(c: &RelayClient, client_id: &str, review_id: u64, body: &str) -> u64 {
    let (client_id, body) = (client_id.to_owned(), body.to_owned());
    comment_id(
        c.call(ClientMessage::PostComment {
            client_id,
            review_id,
            body,
        })
        .await
        .unwrap(),
    )
}

/// Puts `film` on the client's watchlist.
async fn watch(c: &RelayClient, film: &str) {
    let put = ClientMessage::SetWatchlist {
        movie_key: film.into(),
        title: film.into(),
        year: None,
        on: true,
        at_ms: None,
    };
    assert!(matches!(c.call(put).await, Ok(ServerMessage::Ok { .. })));
}

/// `handle`'s watchlist (the caller's own when None) as `c` reads it: (public, films).
async fn watchlist(
    c: &RelayClient,
    handle: Option<&str>,
) -> Result<(bool, Vec<String>), ClientError> {
    let ask = ClientMessage::Watchlist {
        handle: handle.map(str::to_owned),
        since: None,
    };
    match c.call(ask).await? {
        ServerMessage::Watchlist { public, films, .. } => {
            Ok((public, films.into_iter().map(|f| f.movie_key).collect()))
        }
        other => panic!("{other:?}"),
    }
}

/// A diary entry whose title says who wrote it, made now.
fn diary_entry(client_id: &str, film: &str, by: &str) -> DiaryEntry {
    DiaryEntry {
        client_id: client_id.into(),
        movie_key: film.into(),
        title: format!("watched by {by}"),
        year: None,
        watched_on: "2025-06-01".into(),
        rating: Some(4.0),
        rewatch: false,
        review: false,
        edited_at_ms: movietalk_core::sync::now_ms(),
    }
}

/// The caller's diary: (client id, title) of each entry.
async fn diary(c: &RelayClient) -> Vec<(String, String)> {
    match c.call(ClientMessage::Diary { since: None }).await.unwrap() {
        ServerMessage::Diary { entries, .. } => entries
            .into_iter()
            .map(|e| (e.client_id, e.title))
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// Everyone and everything the matrix acts on.
struct World {
    relay: RunningRelay,
    /// Olga's first connection (session A): built the world; others try to revoke its session.
    admin: RelayClient,
    admin_events: Receiver<RelayEvent>,
    /// One connection per actor, in [`Actor`] order.
    actors: Vec<RelayClient>,
    /// A guest in olga's room that reads what the checks compare and hears typing.
    reader: RelayClient,
    reader_events: Receiver<RelayEvent>,
    /// Tina, in olga's room: the one kicked in the kick row.
    tina: RelayClient,
    tina_events: Receiver<RelayEvent>,
    /// Olga's password now.
    olga_pw: String,
    admin_session: u64,
    owner_session: u64,
    /// A session of olga's that the owner revokes.
    spare_session: u64,
    olga_msg: u64,
    bruno_msg: u64,
    olga_review: u64,
    olga_comment: u64,
    /// Wendy's comment on olga's review.
    wendy_comment: u64,
    /// What sam had before deleting the account.
    sam_id: u64,
    sam_session: u64,
    sam_msg: u64,
    sam_review: u64,
    sam_comment: u64,
    wendy_on_sam: u64,
    successor_id: u64,
}

impl World {
    async fn build() -> World {
        let relay = start("127.0.0.1:0".parse().unwrap(), config(), store::fresh())
            .await
            .unwrap();

        // Olga: a room with a message, a review, her comment on it.
        let (admin, admin_events) = connect(&relay, "olga").await;
        let admin_session = admin
            .sign_up("olga", OLGA_PW, Some("Olga"))
            .await
            .unwrap()
            .session_id;
        admin.create_room(ROOM, "olga's room").await.unwrap();
        admin.join(ROOM, None).await.unwrap();
        let olga_msg = admin
            .send_with_id(ROOM, "olga-msg", "olga's words")
            .await
            .unwrap();
        let olga_review = put_review(&admin, "olga-review", OLGA_FILM, "olga's review").await;
        let olga_comment = comment(&admin, "olga-comment", olga_review, "olga's comment").await;
        watch(&admin, OLGA_FILM).await;
        let logged = ClientMessage::PutDiaryEntry {
            entry: diary_entry("olga-watch", OLGA_FILM, "olga"),
        };
        assert!(matches!(
            admin.call(logged).await,
            Ok(ServerMessage::Ok { .. })
        ));

        // Otto, another account, in the room, with a review of his own and a comment on olga's.
        let (other, _) = connect(&relay, "otto").await;
        other.sign_up("otto", PW, None).await.unwrap();
        other.join(ROOM, None).await.unwrap();
        other.send(ROOM, "otto's words").await.unwrap();
        put_review(&other, "otto-review", OTTO_FILM, "otto's review").await;
        comment(&other, "otto-comment", olga_review, "otto's comment").await;

        // Wendy comments on olga's review; tina sits in the room.
        let (wendy, _) = connect(&relay, "wendy").await;
        wendy.sign_up("wendy", PW, None).await.unwrap();
        let wendy_comment = comment(&wendy, "wendy-1", olga_review, "wendy's comment").await;
        let (tina, tina_events) = connect(&relay, "tina").await;
        tina.sign_up("tina", PW, None).await.unwrap();
        tina.join(ROOM, None).await.unwrap();

        // Bruno writes in the room and is kicked: his connection there gets `kicked`; his other
        // connection never was in the room.
        let (kicked, mut kicked_events) = connect(&relay, "bruno").await;
        kicked.sign_up("bruno", PW, None).await.unwrap();
        kicked.join(ROOM, None).await.unwrap();
        let bruno_msg = kicked.send(ROOM, "bruno's words").await.unwrap();
        let (banned, _) = connect(&relay, "bruno").await;
        banned.log_in("bruno", PW).await.unwrap();
        admin
            .call(ClientMessage::Kick {
                room: ROOM.into(),
                handle: "bruno".into(),
            })
            .await
            .unwrap();
        next_matching(
            &mut kicked_events,
            |e| matches!(e, RelayEvent::Kicked { room } if room == ROOM),
        )
        .await;

        // Olga's session C, on two connections (one raw, to see the close frame); her first
        // connection revokes it.
        let (revoked, mut revoked_events) = connect(&relay, "olga").await;
        let c = revoked.log_in("olga", OLGA_PW).await.unwrap();
        revoked.join(ROOM, None).await.unwrap();
        let mut raw_c = raw::Raw::connect(&relay, "olga").await;
        raw_c.authenticate(c.token.as_deref().unwrap()).await;
        admin.revoke_session(c.session_id).await.unwrap();
        assert_eq!(
            raw_c.close_frame().await,
            (CLOSE_SESSION_ENDED, "session ended: revoked".to_owned())
        );
        let reason = disconnected(&mut revoked_events).await;
        assert!(reason.starts_with("session ended: "), "{reason}");

        // Sam: a room, a message, a review with wendy's comment, a comment on olga's review, a
        // follow and a read mark; a second session on two connections; then the first
        // connection deletes the account.
        let (sam, _) = connect(&relay, "sam").await;
        let sam_login = sam.sign_up("sam", PW, Some("Sam the first")).await.unwrap();
        let (sam_id, sam_session) = (sam_login.account.id, sam_login.session_id);
        sam.create_room(SAM_ROOM, "sam's room").await.unwrap();
        sam.join(ROOM, None).await.unwrap();
        let sam_msg = sam
            .send_with_id(ROOM, "sam-msg", "sam's words")
            .await
            .unwrap();
        sam.mark_read(ROOM, sam_msg).await.unwrap();
        sam.follow("olga", true).await.unwrap();
        let sam_comment = comment(&sam, "sam-comment", olga_review, "sam's comment").await;
        let sam_review = put_review(&sam, "sam-review", SAM_FILM, "sam's review").await;
        let wendy_on_sam = comment(&wendy, "wendy-2", sam_review, "wendy on sam").await;
        watch(&sam, SAM_FILM).await;
        let logged = ClientMessage::PutDiaryEntry {
            entry: diary_entry("sam-watch", SAM_FILM, "sam"),
        };
        assert!(matches!(
            sam.call(logged).await,
            Ok(ServerMessage::Ok { .. })
        ));
        sam.call(ClientMessage::WatchlistPublic { public: true })
            .await
            .unwrap();
        let (deleted, mut deleted_events) = connect(&relay, "sam").await;
        let s2 = deleted.log_in("sam", PW).await.unwrap();
        deleted.join(ROOM, None).await.unwrap();
        let mut raw_s2 = raw::Raw::connect(&relay, "sam").await;
        raw_s2.authenticate(s2.token.as_deref().unwrap()).await;
        sam.delete_account(PW).await.unwrap();
        assert_eq!(
            raw_s2.close_frame().await,
            (
                CLOSE_SESSION_ENDED,
                "session ended: the account was deleted".to_owned()
            )
        );
        let reason = disconnected(&mut deleted_events).await;
        assert!(reason.starts_with("session ended: "), "{reason}");

        // The successor: a new account with sam's handle, and a new id.
        let (successor, _) = connect(&relay, "sam").await;
        let successor_id = successor.sign_up("sam", PW, None).await.unwrap().account.id;
        assert_ne!(successor_id, sam_id, "account ids are never reused");

        let (guest, _) = connect(&relay, "guest").await;
        // The owner: olga on session B, in her room; and a spare session of hers.
        let (owner, _) = connect(&relay, "olga").await;
        let owner_session = owner.log_in("olga", OLGA_PW).await.unwrap().session_id;
        owner.join(ROOM, None).await.unwrap();
        let spare_session = connect(&relay, "olga")
            .await
            .0
            .log_in("olga", OLGA_PW)
            .await
            .unwrap()
            .session_id;
        let (reader, reader_events) = connect(&relay, "reader").await;
        reader.join(ROOM, None).await.unwrap();

        World {
            relay,
            admin,
            admin_events,
            actors: vec![
                owner, other, guest, banned, kicked, revoked, deleted, successor,
            ],
            reader,
            reader_events,
            tina,
            tina_events,
            olga_pw: OLGA_PW.to_owned(),
            admin_session,
            owner_session,
            spare_session,
            olga_msg,
            bruno_msg,
            olga_review,
            olga_comment,
            wendy_comment,
            sam_id,
            sam_session,
            sam_msg,
            sam_review,
            sam_comment,
            wendy_on_sam,
            successor_id,
        }
    }

    fn client(&self, actor: Actor) -> RelayClient {
        self.actors[actor as usize].clone()
    }

    /// Has `actor` try `cmd`.
    async fn attempt(&mut self, cmd: Cmd, actor: Actor) -> Outcome {
        let c = self.client(actor);
        if cmd == Cmd::Typing {
            return self.typing(actor).await;
        }
        let reply = c.call(cmd.request(self, actor)).await;
        match reply {
            Ok(reply) => {
                // What an actor writes is its own, whatever ids it reuses.
                let author = match &reply {
                    ServerMessage::ReviewSaved { review, .. } => {
                        if actor == Successor {
                            assert!(review.id > self.sam_review, "a new review: {review:?}");
                        }
                        Some(review.author.clone())
                    }
                    ServerMessage::CommentSaved { comment, .. } => Some(comment.author.clone()),
                    ServerMessage::Profile { account, .. } => Some(account.handle.clone()),
                    _ => None,
                };
                if let Some(author) = author {
                    assert_eq!(author, actor.handle(), "{cmd:?} by {actor:?}: {reply:?}");
                }
                Done
            }
            Err(ClientError::Rejected { code, .. }) => Refused(code),
            Err(ClientError::Closed) => Closed,
            Err(e) => panic!("{cmd:?} by {actor:?}: {e}"),
        }
    }

    /// Has `actor` say it is typing in olga's room; whether the reader there heard of it.
    async fn typing(&mut self, actor: Actor) -> Outcome {
        let c = self.client(actor);
        drain(&mut self.reader_events);
        match c.typing(ROOM).await {
            Ok(()) => {}
            Err(ClientError::Closed) => return Closed,
            Err(e) => panic!("typing by {actor:?}: {e}"),
        }
        // The actor's next answer comes after its typing frame was handled, and the reader's
        // next answer after whatever that queued for the reader: then it is in the stream.
        match c.call(ClientMessage::ListRooms {}).await {
            Ok(_) => {}
            Err(ClientError::Closed) => return Closed,
            Err(e) => panic!("list_rooms by {actor:?}: {e}"),
        }
        self.reader.list_rooms().await.unwrap();
        let heard: Vec<String> = drain(&mut self.reader_events)
            .into_iter()
            .filter_map(|e| match e {
                RelayEvent::Typing { room, who } if room == ROOM => Some(who),
                _ => None,
            })
            .collect();
        match heard.as_slice() {
            [] => Unseen,
            [who] => {
                assert_eq!(who, actor.handle());
                Seen
            }
            more => panic!("typing by {actor:?} heard {more:?}"),
        }
    }

    /// What must not change when someone else acts.
    async fn snapshot(&mut self) -> Snapshot {
        drain(&mut self.reader_events);
        let r = &self.reader;
        let reviews = match r
            .call(ClientMessage::ReviewsByUser {
                handle: "olga".into(),
                cursor: None,
                limit: 50,
            })
            .await
            .unwrap()
        {
            ServerMessage::Reviews { reviews, .. } => reviews
                .into_iter()
                .map(|v| {
                    (
                        v.id,
                        v.author,
                        v.movie_key,
                        v.rating.to_string(),
                        v.body,
                        v.spoiler,
                    )
                })
                .collect(),
            other => panic!("{other:?}"),
        };
        let comments = match r
            .call(ClientMessage::CommentsOn {
                review_id: self.olga_review,
                cursor: None,
                limit: 50,
            })
            .await
        {
            Ok(ServerMessage::Comments { comments, .. }) => comments
                .into_iter()
                .map(|c| (c.id, c.author, c.body))
                .collect(),
            other => panic!("{other:?}"),
        };
        let p = r.profile("olga").await.unwrap();
        let rooms = r.list_rooms().await.unwrap();
        let creator = rooms
            .iter()
            .find(|s| s.name == ROOM)
            .and_then(|s| s.creator.clone());
        let sessions = self
            .client(Owner)
            .list_sessions()
            .await
            .expect("the owner is logged in")
            .into_iter()
            .map(|s| s.id)
            .collect();
        let watchlist = watchlist(&self.client(Owner), None)
            .await
            .expect("the owner reads her watchlist");
        let diary = diary(&self.client(Owner)).await;
        Snapshot {
            diary,
            watchlist,
            reviews,
            comments,
            profile: (p.id, p.display_name, p.bio, p.avatar_url),
            messages: r.history(ROOM, u64::MAX, 200).await.unwrap(),
            creator,
            sessions,
        }
    }

    /// After someone other than the owner acted: nothing of olga's changed, her sessions live,
    /// she still logs in with her password, and tina was not kicked. Returns what went wrong.
    async fn intact(&mut self, before: &Snapshot, what: &str) -> Vec<String> {
        let mut wrong = Vec::new();
        let now = self.snapshot().await;
        let mut check = |ok: bool, thing: &str| {
            if !ok {
                wrong.push(format!("{what}: {thing} changed"));
            }
        };
        check(now.reviews == before.reviews, "olga's reviews");
        check(
            before.comments.iter().all(|c| now.comments.contains(c)),
            "the comments on olga's review",
        );
        check(now.profile == before.profile, "olga's profile");
        check(now.watchlist == before.watchlist, "olga's watchlist");
        check(now.diary == before.diary, "olga's diary");
        check(now.creator == before.creator, "the room's creator");
        check(
            now.messages.len() >= before.messages.len()
                && now.messages[..before.messages.len()] == before.messages[..],
            "the room's messages",
        );
        check(
            before.sessions.iter().all(|s| now.sessions.contains(s)),
            "olga's sessions",
        );
        check(
            !drain(&mut self.tina_events).iter().any(|e| {
                matches!(
                    e,
                    RelayEvent::Kicked { .. } | RelayEvent::Disconnected { .. }
                )
            }),
            "tina's membership",
        );
        let (fresh, _) = connect(&self.relay, "check").await;
        if let Err(e) = fresh.log_in("olga", &self.olga_pw).await {
            wrong.push(format!("{what}: olga cannot log in: {e}"));
        }
        wrong
    }

    /// After the owner acted: what it did is done.
    async fn owner_did(&mut self, cmd: Cmd) {
        let r = self.reader.clone();
        match cmd {
            Cmd::Kick => {
                next_matching(
                    &mut self.tina_events,
                    |e| matches!(e, RelayEvent::Kicked { room } if room == ROOM),
                )
                .await;
                assert_eq!(
                    code(self.tina.send(ROOM, "still here?").await),
                    ErrorCode::NotInRoom
                );
            }
            Cmd::DeleteMessage => {
                let seq = self.olga_msg;
                next_matching(
                    &mut self.reader_events,
                    |e| matches!(e, RelayEvent::MessageDeleted { seq: s, .. } if *s == seq),
                )
                .await;
            }
            Cmd::DeleteReview => {
                let gone = r
                    .call(ClientMessage::CommentsOn {
                        review_id: self.olga_review,
                        cursor: None,
                        limit: 50,
                    })
                    .await;
                assert!(
                    matches!(&gone, Ok(ServerMessage::Comments { comments, .. }) if comments.is_empty())
                        || matches!(
                            &gone,
                            Err(ClientError::Rejected {
                                code: ErrorCode::NotFound,
                                ..
                            })
                        ),
                    "{gone:?}"
                );
            }
            Cmd::UpdateProfile => {
                assert_eq!(r.profile("olga").await.unwrap().display_name, "Owner");
            }
            Cmd::RevokeSession => {
                let ids: Vec<u64> = self
                    .client(Owner)
                    .list_sessions()
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                assert!(!ids.contains(&self.spare_session), "{ids:?}");
                assert!(ids.contains(&self.admin_session) && ids.contains(&self.owner_session));
            }
            Cmd::ChangePassword => {
                self.olga_pw = OLGA_NEW_PW.to_owned();
                // Her other sessions end at once; the one that changed it carries on.
                assert_eq!(
                    disconnected(&mut self.admin_events).await,
                    "session ended: the password was changed"
                );
                self.client(Owner).list_sessions().await.unwrap();
            }
            Cmd::DeleteAccount => {
                let (fresh, _) = connect(&self.relay, "check").await;
                assert!(matches!(
                    fresh.log_in("olga", &self.olga_pw).await,
                    Err(ClientError::Rejected {
                        code: ErrorCode::InvalidCredentials,
                        ..
                    })
                ));
                let history = r.history(ROOM, u64::MAX, 200).await.unwrap();
                let m = history.iter().find(|m| m.seq == self.olga_msg).unwrap();
                assert_eq!(m.author, DELETED_AUTHOR);
                let rooms = r.list_rooms().await.unwrap();
                let room = rooms.iter().find(|s| s.name == ROOM).unwrap();
                assert_eq!(room.creator, None, "the room stays, without a creator");
            }
            Cmd::Unwatch => {
                let (_, films) = watchlist(&self.client(Owner), None).await.unwrap();
                assert!(films.is_empty(), "{films:?}");
            }
            Cmd::WatchlistPublic => {
                assert_eq!(watchlist(&r, Some("olga")).await.unwrap(), (true, vec![]));
            }
            Cmd::PutDiaryEntry => {
                let entries = diary(&self.client(Owner)).await;
                assert_eq!(
                    entries,
                    [("olga-watch".to_owned(), "watched by Owner".to_owned())]
                );
            }
            Cmd::DeleteDiaryEntry => {
                assert!(diary(&self.client(Owner)).await.is_empty());
            }
            Cmd::LogOut => {
                assert!(matches!(
                    self.client(Owner).list_sessions().await,
                    Err(ClientError::Rejected {
                        code: ErrorCode::Unauthorized,
                        ..
                    })
                ));
            }
            _ => {}
        }
    }

    /// Runs `rows`: each actor tries each command (the owner last); every answer that differs
    /// from the table, and everything of the owner's that changed, fails the test (all listed).
    async fn run(&mut self, rows: &[Row]) {
        let mut wrong = Vec::new();
        for &(cmd, expected) in rows {
            for actor in Actor::RUN {
                let before = self.snapshot().await;
                let got = self.attempt(cmd, actor).await;
                let want = expected[actor as usize];
                if got != want {
                    wrong.push(format!(
                        "{cmd:?} by {actor:?}: expected {want:?}, got {got:?}"
                    ));
                }
                if actor == Owner {
                    if got == Done {
                        self.owner_did(cmd).await;
                    }
                } else {
                    wrong.extend(self.intact(&before, &format!("{cmd:?} by {actor:?}")).await);
                }
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }
}

/// What of olga's the checks compare.
#[derive(Debug)]
struct Snapshot {
    /// Whether olga's watchlist is public, and its films.
    watchlist: (bool, Vec<String>),
    /// (client id, title) of olga's diary entries.
    diary: Vec<(String, String)>,
    /// (id, author, film, rating, body, spoiler) of each of olga's reviews.
    reviews: Vec<(u64, String, String, String, String, bool)>,
    /// (id, author, body) of each comment on olga's review.
    comments: Vec<(u64, String, String)>,
    profile: (u64, String, String, Option<String>),
    messages: Vec<ChatMessage>,
    creator: Option<String>,
    sessions: Vec<u64>,
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn chat_and_rooms_answer_each_actor_as_the_table_says() {
    let mut w = World::build().await;
    w.run(CHAT).await;

    // Room names: built-in, film rooms, and a name only ever joined cannot be created; a
    // fresh one can, by anyone logged in.
    let other = w.client(Other);
    let guest = w.client(Guest);
    guest.join("joined-only", None).await.unwrap();
    for taken in ["lobby", "film:heat-1995", "joined-only", SAM_ROOM] {
        assert_eq!(
            code(other.create_room(taken, "").await),
            ErrorCode::Conflict,
            "{taken}"
        );
    }
    let fresh = other.create_room("otto-room", "").await.unwrap();
    assert_eq!(fresh.creator.as_deref(), Some("otto"));

    // mark_read: a room without messages, an invalid name, a number past the newest message.
    let owner = w.client(Owner);
    assert_eq!(
        code(owner.mark_read("joined-only", 1).await),
        ErrorCode::NotFound
    );
    assert_eq!(code(owner.mark_read("", 1).await), ErrorCode::InvalidInput);
    owner.mark_read(ROOM, u64::MAX).await.unwrap();
    let unread = owner.unread_counts().await.unwrap();
    assert_eq!(
        unread,
        vec![(ROOM.to_owned(), 0)],
        "clamped to the newest message"
    );

    // A guest in the room that logs in as the banned account is taken out of it at once.
    let (g, mut g_events) = connect(&w.relay, "bruno").await;
    g.join(ROOM, None).await.unwrap();
    g.log_in("bruno", PW).await.unwrap();
    next_matching(
        &mut g_events,
        |e| matches!(e, RelayEvent::Kicked { room } if room == ROOM),
    )
    .await;
    assert_eq!(code(g.send(ROOM, "back").await), ErrorCode::NotInRoom);
    assert_eq!(
        code(g.history(ROOM, u64::MAX, 10).await),
        ErrorCode::NotInRoom
    );

    // The kicked author may still take back what it wrote (the room hears of it).
    w.client(Kicked)
        .delete_message(ROOM, w.bruno_msg)
        .await
        .unwrap();
    let seq = w.bruno_msg;
    next_matching(
        &mut w.reader_events,
        |e| matches!(e, RelayEvent::MessageDeleted { seq: s, .. } if *s == seq),
    )
    .await;
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn reviews_comments_likes_and_follows_answer_each_actor_as_the_table_says() {
    let mut w = World::build().await;
    w.run(SOCIAL).await;
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn watchlists_and_diaries_answer_each_actor_as_the_table_says() {
    let mut w = World::build().await;
    // A private watchlist: its owner reads it; nobody else does, and the revoked and deleted
    // connections are closed.
    let olgas = (false, vec![OLGA_FILM.to_owned()]);
    assert_eq!(watchlist(&w.client(Owner), None).await.unwrap(), olgas);
    assert_eq!(
        watchlist(&w.client(Owner), Some("olga")).await.unwrap(),
        olgas
    );
    for actor in [Other, Guest, Banned, Kicked, Successor] {
        let read = watchlist(&w.client(actor), Some("olga")).await;
        assert_eq!(code(read), ErrorCode::Forbidden, "{actor:?}");
    }
    assert_eq!(
        code(watchlist(&w.client(Guest), None).await),
        ErrorCode::Unauthorized
    );
    for actor in [Revoked, Deleted] {
        let read = watchlist(&w.client(actor), None).await;
        assert!(
            matches!(read, Err(ClientError::Closed)),
            "{actor:?}: {read:?}"
        );
    }
    w.run(LIBRARY).await;
    // Made public, anyone reads it, a guest too.
    assert_eq!(
        watchlist(&w.client(Guest), Some("olga")).await.unwrap(),
        (true, vec![])
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn profile_session_revocation_and_log_out_answer_each_actor_as_the_table_says() {
    let mut w = World::build().await;
    w.run(SESSIONS).await;
    // The session everyone else tried to revoke outlived all of it, on its live connection.
    let mine = w.admin.list_sessions().await.unwrap();
    assert!(mine.iter().any(|s| s.id == w.admin_session && s.current));
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn only_the_owner_changes_her_password_or_deletes_her_account() {
    let mut w = World::build().await;
    // Another account changing its own password leaves olga's alone.
    w.client(Other)
        .change_password(PW, "otto's new password")
        .await
        .unwrap();
    let (fresh, _) = connect(&w.relay, "check").await;
    fresh.log_in("olga", OLGA_PW).await.unwrap();
    w.run(PASSWORD).await;
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_successor_to_a_deleted_handle_inherits_nothing() {
    let w = World::build().await;
    let s = w.client(Successor);
    assert_ne!(w.successor_id, w.sam_id);
    let me = s.profile("sam").await.unwrap();
    assert_eq!(
        (me.id, me.display_name.as_str()),
        (w.successor_id, "sam"),
        "a profile of its own"
    );

    // Sam's messages stay, by the placeholder, and no longer answer to sam's client ids.
    let history = w.reader.history(ROOM, u64::MAX, 200).await.unwrap();
    let m = history.iter().find(|m| m.seq == w.sam_msg).unwrap();
    assert_eq!(m.author, DELETED_AUTHOR);
    assert_ne!(m.client_id, "sam-msg");
    s.join(ROOM, None).await.unwrap();
    let seq = s.send_with_id(ROOM, "sam-msg", "a new sam").await.unwrap();
    assert!(seq > w.sam_msg, "a new message, not the old one");
    assert_eq!(
        code(s.delete_message(ROOM, w.sam_msg).await),
        ErrorCode::Forbidden
    );

    // Sam's room stays without a creator; nobody moderates it.
    let rooms = s.list_rooms().await.unwrap();
    let room = rooms.iter().find(|r| r.name == SAM_ROOM).unwrap();
    assert_eq!(room.creator, None);

    // No follows, read marks, sessions or reviews carried over.
    let (followers, _) = s.follows("olga").await.unwrap();
    assert!(!followers.contains(&"sam".to_owned()), "{followers:?}");
    let (_, following) = s.follows("sam").await.unwrap();
    assert!(following.is_empty(), "{following:?}");
    assert_eq!(s.unread_counts().await.unwrap(), vec![]);
    let sessions = s.list_sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_ne!(sessions[0].id, w.sam_session);
    let reviews = match s
        .call(ClientMessage::ReviewsByUser {
            handle: "sam".into(),
            cursor: None,
            limit: 50,
        })
        .await
        .unwrap()
    {
        ServerMessage::Reviews { reviews, .. } => reviews,
        other => panic!("{other:?}"),
    };
    assert!(reviews.is_empty(), "{reviews:?}");
    // Sam's diary and public watchlist went with the account: the successor's are empty.
    assert!(diary(&s).await.is_empty());
    assert_eq!(watchlist(&s, None).await.unwrap(), (false, vec![]));
    assert_eq!(
        code(watchlist(&w.reader, Some("sam")).await),
        ErrorCode::Forbidden
    );
    w.relay.shutdown().await.unwrap();
}
