//! Relay wire protocol, version [`PROTOCOL_VERSION`].
//!
//! Every frame is one JSON text frame holding a [`ClientMessage`] or a [`ServerMessage`],
//! tagged by `"type"`. A client opens with [`ClientMessage::Hello`]; the relay answers
//! [`ServerMessage::Welcome`] or an [`ServerMessage::Error`] with [`ErrorCode::UnsupportedVersion`].
//! Requests carry a client-chosen `req` number beside the message ([`ClientFrame`]), which the
//! matching reply echoes; pushed events (chat messages, presence) carry none.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks. A peer announcing another one is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest chat message, in characters (Unicode scalar values).
pub const MAX_CHAT_CHARS: usize = 4000;
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 80;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 40;

/// Rooms that exist without being created and that no account owns or moderates (besides every
/// `film:<movie key>` room): the app's default room.
pub const BUILT_IN_ROOMS: &[&str] = &["lobby"];

/// WebSocket close code (private range, RFC 6455 §7.4.2) of a connection whose session ended
/// elsewhere — logged out, revoked, its refresh token reused, the password changed or the
/// account deleted. The close reason says which; the client reconnects as a guest.
pub const CLOSE_SESSION_ENDED: u16 = 4001;
/// Longest client-chosen message id, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;

/// A frame sent by a client to the relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First frame of every connection.
    Hello {
        /// The protocol version the client speaks.
        version: u32,
        /// The name shown next to this client's messages.
        name: String,
        /// What this client is ("MovieTalk 0.1 on Linux"), shown in the account's session list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        /// A secret random id a client keeps while it runs (16–64 printable ASCII characters),
        /// so that as a guest its resent chat messages are recognised across reconnections and
        /// never confused with another guest's of the same name. Without it a guest's messages
        /// are idempotent within one connection only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        guest_id: Option<String>,
    },
    /// Enter a room; the reply is [`ServerMessage::Joined`] with the history after `since`.
    Join {
        room: String,
        /// The last sequence number this client has seen in the room, to resume without a gap.
        #[serde(default)]
        since: Option<u64>,
    },
    /// Up to `limit` messages before sequence `before` in a joined room; the reply is
    /// [`ServerMessage::History`]. Without `after` it scrolls back (the newest `limit` before
    /// `before`); with `after` it pages forward (the oldest `limit` after `after`), which is how
    /// a resuming client catches up to [`ServerMessage::Joined`]'s `live_after`.
    History {
        room: String,
        before: u64,
        limit: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// Create a named room with a topic; its creator moderates it. The reply is
    /// [`ServerMessage::RoomInfo`]. Rooms named `film:<movie key>` exist without being created.
    CreateRoom { room: String, topic: String },
    /// Rooms that were created or have people in them, with live presence.
    ListRooms {},
    /// Remove an account from a room and keep it out (the room's creator only).
    Kick { room: String, handle: String },
    /// Delete a message: its author, or the room's creator, may. Everyone in the room gets
    /// [`ServerMessage::MessageDeleted`].
    DeleteMessage { room: String, seq: u64 },
    /// "I am typing" in a joined room; others get [`ServerMessage::Typing`]. No reply.
    Typing { room: String },
    /// Remember that this account has read `room` up to `seq`; the reply is [`ServerMessage::Ok`].
    MarkRead { room: String, seq: u64 },
    /// Unread messages per room this account has read before; the reply is [`ServerMessage::Unread`].
    UnreadCounts {},
    /// Leave a room; the reply is [`ServerMessage::Ok`].
    Leave { room: String },
    /// Create an account and log in; the reply is [`ServerMessage::Session`].
    SignUp {
        handle: String,
        password: String,
        display_name: Option<String>,
    },
    /// Log in with a handle and password; the reply is [`ServerMessage::Session`] with tokens.
    LogIn { handle: String, password: String },
    /// Log this connection in with a live access token; the reply is [`ServerMessage::Session`]
    /// (without new tokens).
    Authenticate { token: String },
    /// Trade a refresh token for a new access token and a new refresh token (the one presented
    /// stops working), and log this connection in. Presenting a refresh token that was already
    /// traded revokes the whole session. The reply is [`ServerMessage::Session`] with tokens.
    Refresh { refresh_token: String },
    /// The logged-in account's sessions; the reply is [`ServerMessage::Sessions`].
    ListSessions {},
    /// Revoke one of the logged-in account's sessions (its tokens stop working); the reply is
    /// [`ServerMessage::Ok`].
    RevokeSession { session_id: u64 },
    /// Log in with an identity from a configured provider: an OpenID Connect `id_token` (with the
    /// `nonce` the client put in its authorization request), or for plain OAuth2 providers
    /// (GitHub) an `access_token`. An identity not linked to any account yet needs a `handle` to
    /// create one; without it the reply is [`ServerMessage::HandleNeeded`]. Otherwise the reply
    /// is [`ServerMessage::Session`] with tokens.
    ProviderLogin {
        provider: String,
        #[serde(default)]
        id_token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
        #[serde(default)]
        nonce: Option<String>,
        #[serde(default)]
        handle: Option<String>,
    },
    /// Link a provider identity (same fields as [`ClientMessage::ProviderLogin`]) to the
    /// logged-in account; the reply is [`ServerMessage::LoginMethods`].
    LinkProvider {
        provider: String,
        #[serde(default)]
        id_token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
        #[serde(default)]
        nonce: Option<String>,
    },
    /// Unlink a provider from the logged-in account; refused with
    /// [`ErrorCode::LastLoginMethod`] when it is the account's only way to log in. The reply is
    /// [`ServerMessage::LoginMethods`].
    UnlinkProvider { provider: String },
    /// How the logged-in account can log in; the reply is [`ServerMessage::LoginMethods`].
    LoginMethods {},
    /// Revoke this connection's session (access and refresh token); the reply is [`ServerMessage::Ok`].
    LogOut {},
    /// Change the logged-in account's profile (absent fields stay); the reply is [`ServerMessage::Profile`].
    UpdateProfile {
        display_name: Option<String>,
        bio: Option<String>,
        avatar_url: Option<String>,
    },
    /// Change the password; every other session of the account is revoked. Reply: [`ServerMessage::Ok`].
    ChangePassword { current: String, new: String },
    /// Delete the logged-in account (see the relay docs for what happens to what it wrote).
    /// Reply: [`ServerMessage::Ok`], then the connection continues as a guest.
    DeleteAccount { password: String },
    /// Write or rewrite this account's review of a film (one per account per film); the reply
    /// is [`ServerMessage::ReviewSaved`]. Resending the same `client_id` changes nothing.
    PutReview {
        client_id: String,
        movie_key: String,
        /// The film's title and year, so a client whose catalog lacks it can still show it.
        title: String,
        year: Option<i32>,
        /// Half stars, 0.5 to 5.
        rating: f32,
        #[serde(default)]
        body: String,
        #[serde(default)]
        spoiler: bool,
        /// When the author made this edit (milliseconds since the Unix epoch, the editing
        /// machine's clock). Of two edits of the same review made offline on two machines, the
        /// later edit wins whatever order they arrive in: an edit older than the stored review is
        /// not applied and the reply carries the stored one. Absent: the relay's clock.
        #[serde(default)]
        edited_at_ms: Option<u64>,
    },
    /// Delete one of this account's reviews (with its comments); the reply is [`ServerMessage::Ok`].
    DeleteReview { review_id: u64 },
    /// Comment on a review; the reply is [`ServerMessage::CommentSaved`]. Idempotent by `client_id`.
    PostComment {
        client_id: String,
        review_id: u64,
        body: String,
    },
    /// Change one of this account's comments; the reply is [`ServerMessage::CommentSaved`].
    EditComment { comment_id: u64, body: String },
    /// Delete a comment: its author, or the author of the review it is on, may.
    DeleteComment { comment_id: u64 },
    /// Like (or, with `on: false`, unlike) a review or a comment; the reply is [`ServerMessage::Ok`].
    Like { target: LikeTarget, on: bool },
    /// Follow (or, with `on: false`, stop following) another account; the reply is [`ServerMessage::Ok`].
    Follow { handle: String, on: bool },
    /// Reviews by the accounts this one follows, newest first, a page at a time.
    Feed { cursor: Option<u64>, limit: u32 },
    /// Who follows `handle` and whom it follows; the reply is [`ServerMessage::Follows`].
    Follows { handle: String },
    /// An account's public profile (anyone may read it); the reply is [`ServerMessage::Profile`].
    GetProfile { handle: String },
    /// Reviews by one account, newest first, a page at a time.
    ReviewsByUser {
        handle: String,
        cursor: Option<u64>,
        limit: u32,
    },
    /// How a film is rated by everyone: the reply is [`ServerMessage::FilmStats`].
    FilmStats { movie_key: String },
    /// The community model, one page at a time; the reply is [`ServerMessage::CommunityModel`].
    /// With `since` the version the client holds, the reply says `unchanged` when it is still
    /// the newest. A client reads pages `0..pages` of one version; a page of another version
    /// means the model was rebuilt meanwhile, and the client starts again.
    CommunityModel {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        #[serde(default)]
        page: u32,
    },
    /// Reviews of a film, newest first, a page at a time (`cursor` from the previous page).
    ReviewsOfFilm {
        movie_key: String,
        cursor: Option<u64>,
        limit: u32,
    },
    /// Comments on a review, oldest first, a page at a time.
    CommentsOn {
        review_id: u64,
        cursor: Option<u64>,
        limit: u32,
    },
    /// Everything that changed (reviews and comments written, edited or deleted) after change
    /// number `since`, oldest first: how an offline client catches up.
    ChangesSince { since: u64, limit: u32 },
    /// Put a film on this account's watchlist, or (`on: false`) take it off; the reply is
    /// [`ServerMessage::Ok`]. Of two changes of one film made on two machines while offline, the
    /// later (`at_ms`, the changing machine's clock, clamped to the relay's) wins whatever order
    /// they arrive in; an older change is answered `ok` and changes nothing.
    SetWatchlist {
        movie_key: String,
        /// The film's title and year, so a client whose catalog lacks it can still show it.
        title: String,
        year: Option<i32>,
        on: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<u64>,
    },
    /// Whether others may read this account's watchlist (at first they may not); the reply is
    /// [`ServerMessage::Ok`].
    WatchlistPublic { public: bool },
    /// Write (or rewrite) an entry of this account's diary, named by its `client_id`; the
    /// reply is [`ServerMessage::Ok`]. Of two edits of an entry, the later `edited_at_ms` wins.
    PutDiaryEntry { entry: DiaryEntry },
    /// Delete an entry of this account's diary (`at_ms`: when, as for edits); the reply is
    /// [`ServerMessage::Ok`], also when there is no such entry.
    DeleteDiaryEntry {
        client_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<u64>,
    },
    /// This account's diary; with `since` the version the client holds, `unchanged` when it is
    /// still the newest. The reply is [`ServerMessage::Diary`].
    Diary {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// A watchlist: this account's own without `handle`, else `handle`'s if it is public (or
    /// this account's). With `since` the version the client holds, the reply says `unchanged`
    /// when it still is the newest. The reply is [`ServerMessage::Watchlist`].
    Watchlist {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handle: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// Post a message to a room the client has joined; the reply is [`ServerMessage::Sent`].
    Send {
        room: String,
        /// Chosen by the client so that a resend is recognised and stored once.
        client_id: String,
        text: String,
    },
}

/// A frame sent by the relay to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to a successful [`ClientMessage::Hello`].
    Welcome { version: u32, server: String },
    /// The answer to [`ClientMessage::Join`].
    Joined {
        req: u64,
        room: String,
        /// Messages after the client's `since` (the oldest of them, up to a page), or the most
        /// recent ones, oldest first; never past `live_after`.
        history: Vec<ChatMessage>,
        /// Distinct people in the room now.
        present: u32,
        /// Live delivery to this connection starts after this sequence number: every later
        /// message arrives as [`ServerMessage::Message`], every earlier one is in `history` or
        /// read with forward [`ClientMessage::History`] pages (`after` the last one held,
        /// `before` `live_after + 1`). Each message reaches the client exactly once that way.
        /// `None` only from relays older than this field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        live_after: Option<u64>,
    },
    /// Logged in: the account and its session. After sign-up, log-in, provider log-in and
    /// refresh it carries new tokens to keep in the OS keyring: `token`, the short-lived access
    /// token for [`ClientMessage::Authenticate`], valid until `expires_at_ms`, and
    /// `refresh_token` for [`ClientMessage::Refresh`], valid until `refresh_expires_at_ms`.
    Session {
        req: u64,
        account: Account,
        /// The session's id, as in [`ServerMessage::Sessions`].
        session_id: u64,
        token: Option<String>,
        /// When the access token expires (milliseconds since the Unix epoch, relay clock).
        expires_at_ms: u64,
        #[serde(default)]
        refresh_token: Option<String>,
        #[serde(default)]
        refresh_expires_at_ms: Option<u64>,
    },
    /// The answer to [`ClientMessage::ListSessions`], most recently used first.
    Sessions {
        req: u64,
        sessions: Vec<SessionInfo>,
    },
    /// A provider identity is not linked to any account: send [`ClientMessage::ProviderLogin`]
    /// again with a `handle` to create one. `suggested` is a free handle derived from the
    /// provider's profile, when one could be.
    HandleNeeded {
        req: u64,
        provider: String,
        suggested: Option<String>,
    },
    /// How an account can log in.
    LoginMethods {
        req: u64,
        password: bool,
        providers: Vec<LinkedProvider>,
    },
    /// The account after a profile change.
    Profile { req: u64, account: Account },
    /// A review as stored.
    ReviewSaved { req: u64, review: Review },
    /// A comment as stored.
    CommentSaved { req: u64, comment: Comment },
    /// A page of reviews; `next_cursor` fetches the next page, `None` at the end.
    Reviews {
        req: u64,
        reviews: Vec<Review>,
        next_cursor: Option<u64>,
    },
    /// Everyone's ratings of a film.
    FilmStats {
        req: u64,
        movie_key: String,
        count: u32,
        mean: Option<f32>,
    },
    /// A page of the community model (what the relay learned from everyone's ratings; nothing
    /// about any one person). `version` 0 with no pages: no model yet.
    CommunityModel {
        req: u64,
        version: u64,
        /// When the model was built (milliseconds since the Unix epoch, relay clock).
        built_at_ms: u64,
        page: u32,
        pages: u32,
        /// The client's `since` is the newest version: no films follow.
        unchanged: bool,
        films: Vec<ModelFilm>,
    },
    /// The answer to [`ClientMessage::Follows`]: handles, in alphabetical order.
    Follows {
        req: u64,
        handle: String,
        followers: Vec<String>,
        following: Vec<String>,
    },
    /// A page of comments.
    Comments {
        req: u64,
        comments: Vec<Comment>,
        next_cursor: Option<u64>,
    },
    /// A watchlist, newest addition first. `version` grows with every change of it (its
    /// films or whether it is public); `unchanged`: the client's `since` is the newest, and no
    /// films follow.
    Watchlist {
        req: u64,
        handle: String,
        public: bool,
        version: u64,
        unchanged: bool,
        films: Vec<WatchlistFilm>,
    },
    /// A diary, most recent watch first; `version` grows with every change; `unchanged`: the
    /// client's `since` is the newest, and no entries follow.
    Diary {
        req: u64,
        version: u64,
        unchanged: bool,
        entries: Vec<DiaryEntry>,
    },
    /// Changes after the requested number, oldest first; `last` is the number to ask after next.
    Changes {
        req: u64,
        changes: Vec<Change>,
        last: u64,
    },
    /// The answer to [`ClientMessage::History`], oldest first.
    History {
        req: u64,
        room: String,
        messages: Vec<ChatMessage>,
    },
    /// The answer to [`ClientMessage::Send`]: the message is stored under `seq`.
    Sent { req: u64, room: String, seq: u64 },
    /// A request without a more specific answer succeeded.
    Ok { req: u64 },
    /// A message posted to a room the client is in (its own messages included).
    Message(ChatMessage),
    /// A created room.
    RoomInfo { req: u64, room: RoomSummary },
    /// The answer to [`ClientMessage::ListRooms`].
    Rooms { req: u64, rooms: Vec<RoomSummary> },
    /// Unread counts: (room, messages after the last one read).
    Unread { req: u64, rooms: Vec<(String, u64)> },
    /// A message was deleted by its author or a moderator.
    MessageDeleted { room: String, seq: u64 },
    /// Someone in the room is typing.
    Typing { room: String, who: String },
    /// This connection was removed from the room by its moderator.
    Kicked { room: String },
    /// The number of distinct people in a room changed.
    Presence { room: String, present: u32 },
    /// A request failed or a frame could not be understood. The connection stays open unless
    /// `code` is [`ErrorCode::UnsupportedVersion`] or [`ErrorCode::HelloRequired`].
    Error {
        /// The request this answers, when the frame was readable enough to have one.
        req: Option<u64>,
        code: ErrorCode,
        message: String,
    },
}

/// One session of an account, as listed (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: u64,
    /// What the client called itself in `hello`.
    pub client: String,
    /// How the session began: `password`, `sign_up`, or `provider:<name>`.
    pub method: String,
    pub created_at_ms: u64,
    pub last_used_at_ms: u64,
    /// When the refresh token runs out unless the session is refreshed before.
    pub expires_at_ms: u64,
    /// The session this connection is logged in with.
    pub current: bool,
}

/// A provider identity linked to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedProvider {
    /// The provider's name in the relay's configuration (`google`, `kakao`, `github`, …).
    pub provider: String,
    pub linked_at_ms: u64,
}

/// A chat room as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub name: String,
    pub topic: String,
    /// The moderator's handle; `None` for film rooms and rooms nobody created.
    pub creator: Option<String>,
    /// Distinct people in the room now.
    pub present: u32,
}

/// A relay account as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: u64,
    /// Unique, lowercase: 3–30 of `a-z 0-9 _ . -`.
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub avatar_url: Option<String>,
}

/// What a like is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum LikeTarget {
    Review(u64),
    Comment(u64),
}

/// A review as the relay shares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub author: String,
    pub movie_key: String,
    pub title: String,
    pub year: Option<i32>,
    pub rating: f32,
    pub body: String,
    pub spoiler: bool,
    pub likes: u32,
    pub comments: u32,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// One film of the community model. Its place in the model (counting from the first film of
/// page 0) is how other films name it in `near`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFilm {
    /// The film's key ([`crate::film_key::movie_key`]).
    pub key: String,
    /// How many people rated it, and their mean (stars, 0.5–5).
    pub raters: u32,
    pub mean: f32,
    /// The largest |weight| among `near`: a quantized weight `q` means `q / 127 × scale`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scale: f32,
    /// The film's strongest neighbours, base64 of 4 bytes each: the neighbour's place in the
    /// model (24-bit little-endian), then its quantized weight (`i8`): how much having rated
    /// this film speaks for (positive) or against (negative) the neighbour.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub near: String,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

/// A film on a watchlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchlistFilm {
    pub movie_key: String,
    pub title: String,
    pub year: Option<i32>,
    /// When it was put on the list (milliseconds since the Unix epoch).
    pub added_at_ms: u64,
}

/// Most films a watchlist holds.
pub const MAX_WATCHLIST: usize = 5_000;

/// One watch of a film in a diary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiaryEntry {
    /// Chosen by the client that logged it; names the entry for good.
    pub client_id: String,
    pub movie_key: String,
    pub title: String,
    pub year: Option<i32>,
    /// The day it was watched: `YYYY-MM-DD`.
    pub watched_on: String,
    /// The rating given with this watch, in half stars.
    #[serde(default)]
    pub rating: Option<f32>,
    #[serde(default)]
    pub rewatch: bool,
    /// A review of the film was written with this watch.
    #[serde(default)]
    pub review: bool,
    /// When the entry was last changed (the changing machine's clock).
    pub edited_at_ms: u64,
}

/// Most entries a diary holds.
pub const MAX_DIARY: usize = 20_000;

/// Checks a diary entry: its id, its film, its day (a real `YYYY-MM-DD` from 1870 to 2200) and
/// its rating (half stars from 0.5 to 5, or none).
pub fn validate_diary_entry(e: &DiaryEntry) -> Result<(), FieldError> {
    validate_client_id(&e.client_id)?;
    validate_film(&e.movie_key, &e.title)?;
    validate_date("watched_on", &e.watched_on)?;
    if let Some(r) = e.rating
        && !((0.5..=5.0).contains(&r) && (r * 2.0).fract() == 0.0)
    {
        return Err(FieldError::Charset {
            field: "rating",
            allowed: "half stars from 0.5 to 5",
        });
    }
    Ok(())
}

/// Checks a day written `YYYY-MM-DD` (a real date, 1870 to 2200).
pub fn validate_date(field: &'static str, day: &str) -> Result<(), FieldError> {
    let bad = FieldError::Charset {
        field,
        allowed: "a date like 2025-03-14",
    };
    let parts: Vec<&str> = day.split('-').collect();
    let [y, m, d] = parts[..] else {
        return Err(bad);
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad);
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(bad);
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad),
    };
    if !(1870..=2200).contains(&y) || d == 0 || d > days {
        return Err(bad);
    }
    Ok(())
}

/// A comment on a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub review_id: u64,
    pub author: String,
    pub body: String,
    pub likes: u32,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// One numbered change, for catching up after being offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    #[serde(flatten)]
    pub what: ChangeKind,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ChangeKind {
    ReviewPut { review: Review },
    ReviewDeleted { review_id: u64 },
    CommentPut { comment: Comment },
    CommentDeleted { comment_id: u64, review_id: u64 },
}

/// Longest review body, in characters.
pub const MAX_REVIEW_CHARS: usize = 20_000;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 4_000;

/// Checks a review body (may be empty: a rating alone is a review).
pub fn validate_review_body(body: &str) -> Result<(), FieldError> {
    if body.chars().count() > MAX_REVIEW_CHARS {
        return Err(FieldError::TooLong {
            field: "body",
            max: MAX_REVIEW_CHARS,
        });
    }
    free_text("body", body)
}

/// Text that may be empty and span lines: no control characters but line breaks and tabs
/// (a NUL, for one, is refused by PostgreSQL and is never meant).
fn free_text(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::Control { field });
    }
    Ok(())
}

/// Checks how a write names a film: its key (at most 300 characters) and its title (500),
/// each non-blank and on one line.
pub fn validate_film(movie_key: &str, title: &str) -> Result<(), FieldError> {
    validate("movie_key", movie_key, 300, false)?;
    validate("title", title, 500, false)
}

/// Checks a comment: non-blank, at most [`MAX_COMMENT_CHARS`].
pub fn validate_comment(body: &str) -> Result<(), FieldError> {
    validate("body", body, MAX_COMMENT_CHARS, true)
}

/// A chat message as stored by the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room: String,
    /// Per-room sequence number, from 1, without gaps.
    pub seq: u64,
    pub client_id: String,
    /// The author's handle, or a guest's chosen name, or "deleted user".
    pub author: String,
    /// True when the author was not logged in.
    #[serde(default)]
    pub guest: bool,
    /// Empty when the message was deleted.
    pub text: String,
    /// Deleted by its author or a moderator.
    #[serde(default)]
    pub deleted: bool,
    /// Milliseconds since the Unix epoch, relay clock.
    pub sent_at_ms: u64,
}

/// Machine-readable error codes; clients match these, never the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON, not text, or not a known message.
    Malformed,
    /// The client speaks a protocol version this relay does not.
    UnsupportedVersion,
    /// The first frame was not `hello`.
    HelloRequired,
    /// A field is empty, too long or otherwise invalid.
    InvalidInput,
    /// The request needs the client to have joined the room first.
    NotInRoom,
    /// The request needs a logged-in account.
    Unauthorized,
    /// The account may not do this (it is not theirs).
    Forbidden,
    /// Wrong handle or password, or an expired or revoked token, or a provider token that failed
    /// verification (signature, issuer, audience, expiry, nonce).
    InvalidCredentials,
    /// The session this connection was logged in with ended (revoked, or its refresh token
    /// expired); the connection now acts as a guest. Log in again.
    SessionExpired,
    /// A refresh token that had already been traded was presented again: the session it belongs
    /// to is revoked (someone else may hold its tokens). Log in again.
    TokenReused,
    /// Unlinking this would leave the account with no way to log in (no password, no other
    /// provider).
    LastLoginMethod,
    /// The relay could not reach the identity provider; retry later.
    ProviderUnavailable,
    /// The handle is taken.
    Conflict,
    /// The review, comment or room named does not exist.
    NotFound,
    /// Too many requests; wait and retry.
    RateLimited,
    /// The relay failed internally; the request may be retried.
    Internal,
}

/// Why a text field was refused by [`validate_room`], [`validate_name`], [`validate_text`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains control characters")]
    Control { field: &'static str },
    #[error("{field} contains invisible formatting characters (such as direction overrides)")]
    Invisible { field: &'static str },
    #[error("{field} is shorter than {min} characters")]
    TooShort { field: &'static str, min: usize },
    #[error("{field} may only contain {allowed}")]
    Charset {
        field: &'static str,
        allowed: &'static str,
    },
}

fn validate(
    field: &'static str,
    value: &str,
    max: usize,
    allow_newlines: bool,
) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::Empty { field });
    }
    if value.chars().count() > max {
        return Err(FieldError::TooLong { field, max });
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(FieldError::Control { field });
    }
    Ok(())
}

/// Checks a room name: non-blank, at most [`MAX_ROOM_CHARS`], one line, no space at either
/// end and nothing invisible ([`is_invisible_format`]) — so no name can pass for another
/// (`"lobby "`, `"lobby\u{200B}"`).
pub fn validate_room(room: &str) -> Result<(), FieldError> {
    validate("room", room, MAX_ROOM_CHARS, false)?;
    if room.trim() != room {
        return Err(FieldError::Charset {
            field: "room",
            allowed: "no space at either end",
        });
    }
    if room.chars().any(is_invisible_format) {
        return Err(FieldError::Invisible { field: "room" });
    }
    Ok(())
}

/// Checks a display name: non-blank, at most [`MAX_NAME_CHARS`], one line, and nothing that
/// hides or reorders what others see ([`is_invisible_format`]).
pub fn validate_name(name: &str) -> Result<(), FieldError> {
    validate("name", name, MAX_NAME_CHARS, false)?;
    if name.chars().any(is_invisible_format) {
        return Err(FieldError::Invisible { field: "name" });
    }
    Ok(())
}

/// Characters that are drawn as nothing yet change what text looks like or means: Unicode's
/// bidirectional embeddings, overrides and isolates (U+202A–202E, U+2066–2069, with the marks
/// U+200E/200F and U+061C), zero-width spaces and joiners used to make look-alike names
/// (U+200B, U+2060–2064, U+FEFF), the soft hyphen, the Mongolian vowel separator, interlinear
/// annotation marks, deprecated format controls (U+206A–206F) and tag characters. Zero-width
/// (non-)joiners U+200C/U+200D stay allowed: scripts and emoji sequences need them.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Checks a chat message body: non-blank, at most [`MAX_CHAT_CHARS`]; newlines allowed.
pub fn validate_text(text: &str) -> Result<(), FieldError> {
    validate("text", text, MAX_CHAT_CHARS, true)
}

/// Checks a handle: 3–30 characters of `a-z 0-9 _ . -` (lowercase).
pub fn validate_handle(handle: &str) -> Result<(), FieldError> {
    if handle.len() < 3 {
        return Err(FieldError::TooShort {
            field: "handle",
            min: 3,
        });
    }
    if handle.len() > 30 {
        return Err(FieldError::TooLong {
            field: "handle",
            max: 30,
        });
    }
    if !handle
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(FieldError::Charset {
            field: "handle",
            allowed: "a-z 0-9 _ . -",
        });
    }
    Ok(())
}

/// Checks a password: 8 to 256 characters.
pub fn validate_password(password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if n < 8 {
        return Err(FieldError::TooShort {
            field: "password",
            min: 8,
        });
    }
    if n > 256 {
        return Err(FieldError::TooLong {
            field: "password",
            max: 256,
        });
    }
    Ok(())
}

/// Checks a bio: at most 500 characters.
pub fn validate_bio(bio: &str) -> Result<(), FieldError> {
    if bio.chars().count() > 500 {
        return Err(FieldError::TooLong {
            field: "bio",
            max: 500,
        });
    }
    free_text("bio", bio)
}

/// Checks an avatar address: an http(s) URL of at most 500 characters, no spaces.
pub fn validate_avatar_url(url: &str) -> Result<(), FieldError> {
    if url.chars().count() > 500 {
        return Err(FieldError::TooLong {
            field: "avatar_url",
            max: 500,
        });
    }
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.chars().any(char::is_whitespace)
    {
        return Err(FieldError::Charset {
            field: "avatar_url",
            allowed: "an http(s) address",
        });
    }
    Ok(())
}

/// Checks a client-chosen id: non-empty, at most [`MAX_CLIENT_ID_BYTES`], printable ASCII.
pub fn validate_client_id(id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(FieldError::Empty { field: "client_id" });
    }
    if id.len() > MAX_CLIENT_ID_BYTES {
        return Err(FieldError::TooLong {
            field: "client_id",
            max: MAX_CLIENT_ID_BYTES,
        });
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::Control { field: "client_id" });
    }
    Ok(())
}

/// Why a client frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The frame's `req`, when it was at least a JSON object with one.
    pub req: Option<u64>,
    pub message: String,
}

/// A client frame: a message and, for a request, the number its reply echoes. On the wire the
/// `req` is one more field of the message's object: `{"type":"join","req":7,"room":"lobby"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientFrame {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub req: Option<u64>,
    #[serde(flatten)]
    pub msg: ClientMessage,
}

impl From<ClientMessage> for ClientFrame {
    /// A frame that is no request (`hello`, `typing`).
    fn from(msg: ClientMessage) -> ClientFrame {
        ClientFrame { req: None, msg }
    }
}

impl ClientFrame {
    /// Encodes the frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client frames always serialise")
    }
}

impl<'de> Deserialize<'de> for ClientFrame {
    /// Takes `req` out of the object and reads the rest as the message (which refuses unknown
    /// fields). A request needs a `req`; `hello` and `typing` must not have one.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut object = serde_json::Map::deserialize(deserializer)?;
        let req = match object.remove("req") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| D::Error::custom("req must be a whole number"))?,
            ),
        };
        let msg = ClientMessage::deserialize(serde_json::Value::Object(object))
            .map_err(D::Error::custom)?;
        match (msg.is_request(), req) {
            (true, None) => Err(D::Error::custom("a request needs a numeric req")),
            (false, Some(_)) => Err(D::Error::custom("only requests carry a req")),
            _ => Ok(ClientFrame { req, msg }),
        }
    }
}

/// Reads one client text frame. Never panics, whatever the input (fuzzed).
pub fn decode_client(text: &str) -> Result<ClientFrame, DecodeError> {
    serde_json::from_str::<ClientFrame>(text).map_err(|e| DecodeError {
        req: request_id(text),
        message: format!("unreadable frame: {e}"),
    })
}

/// The `req` of a frame that is at least a JSON object with a numeric one — even when another
/// field is unreadable as what it should be (a string with a lone surrogate escape, a number
/// where text belongs): only `req` is read, the rest is skipped unchecked.
pub fn request_id(text: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct OnlyReq {
        req: Option<u64>,
    }
    serde_json::from_str::<OnlyReq>(text).ok()?.req
}

impl ClientMessage {
    /// Whether the message is a request, answered with its frame's `req` (all but `hello` and
    /// `typing`).
    pub fn is_request(&self) -> bool {
        !matches!(
            self,
            ClientMessage::Hello { .. } | ClientMessage::Typing { .. }
        )
    }

    /// The message as a request numbered `req`.
    pub fn with_req(self, req: u64) -> ClientFrame {
        ClientFrame {
            req: Some(req),
            msg: self,
        }
    }

    /// Encodes the frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialise")
    }
}

impl ServerMessage {
    /// The request this frame answers; `None` for pushed events.
    pub fn reply_to(&self) -> Option<u64> {
        use ServerMessage::*;
        match self {
            Joined { req, .. }
            | Session { req, .. }
            | Sessions { req, .. }
            | HandleNeeded { req, .. }
            | LoginMethods { req, .. }
            | Profile { req, .. }
            | History { req, .. }
            | Sent { req, .. }
            | Ok { req }
            | ReviewSaved { req, .. }
            | CommentSaved { req, .. }
            | Reviews { req, .. }
            | FilmStats { req, .. }
            | CommunityModel { req, .. }
            | RoomInfo { req, .. }
            | Rooms { req, .. }
            | Unread { req, .. }
            | Comments { req, .. }
            | Follows { req, .. }
            | Watchlist { req, .. }
            | Diary { req, .. }
            | Changes { req, .. } => Some(*req),
            Error { req, .. } => *req,
            Welcome { .. }
            | Message(_)
            | Presence { .. }
            | MessageDeleted { .. }
            | Typing { .. }
            | Kicked { .. } => None,
        }
    }

    /// Encodes the frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }

    /// Builds an error frame.
    pub fn error(req: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            req,
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diary_day_is_a_real_date() {
        for good in [
            "2025-03-14",
            "2024-02-29",
            "2000-02-29",
            "1870-01-01",
            "2200-12-31",
        ] {
            assert_eq!(validate_date("d", good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "2025-3-14",
            "2025-02-29",
            "1900-02-29",
            "2025-13-01",
            "2025-04-31",
            "2025-00-10",
            "1869-12-31",
            "2201-01-01",
            "2025-03-14T00",
            "２０２５-03-14",
            "2025/03/14",
            "+025-03-14",
        ] {
            assert!(validate_date("d", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_frames_round_trip_with_snake_case_tags() {
        let frame = ClientMessage::Send {
            room: "lobby".into(),
            client_id: "c-1".into(),
            text: "hi".into(),
        }
        .with_req(7);
        let json = frame.to_json();
        assert_eq!(
            json,
            r#"{"req":7,"type":"send","room":"lobby","client_id":"c-1","text":"hi"}"#
        );
        assert_eq!(decode_client(&json).unwrap(), frame);
        // Where `req` stands in the object does not matter.
        let reordered = r#"{"type":"send","room":"lobby","req":7,"client_id":"c-1","text":"hi"}"#;
        assert_eq!(decode_client(reordered).unwrap(), frame);
    }

    #[test]
    fn decoding_reports_the_request_id_of_a_bad_frame() {
        assert_eq!(
            decode_client(r#"{"type":"nope","req":7}"#).unwrap_err().req,
            Some(7)
        );
        assert_eq!(decode_client("[1,2").unwrap_err().req, None);
        assert!(decode_client(r#"{"type":"leave","req":1,"room":"r"}"#).is_ok());
    }

    #[test]
    fn requests_need_a_req_and_nothing_else_may_have_one() {
        let missing = decode_client(r#"{"type":"leave","room":"r"}"#).unwrap_err();
        assert!(
            missing.message.contains("needs a numeric req"),
            "{}",
            missing.message
        );
        assert!(decode_client(r#"{"type":"leave","req":"1","room":"r"}"#).is_err());
        assert!(decode_client(r#"{"type":"leave","req":-1,"room":"r"}"#).is_err());
        assert!(decode_client(r#"{"type":"typing","req":1,"room":"r"}"#).is_err());
        let typing = decode_client(r#"{"type":"typing","room":"r"}"#).unwrap();
        assert_eq!(typing.req, None);
        assert!(!typing.msg.is_request());
    }

    #[test]
    fn free_text_keeps_line_breaks_and_refuses_other_control_characters() {
        // A paste from Windows ends its lines with CR LF.
        for ok in ["one\r\ntwo", "a\ttab", "line\nbreak"] {
            assert!(validate_comment(ok).is_ok(), "{ok:?}");
            assert!(validate_review_body(ok).is_ok(), "{ok:?}");
            assert!(validate_bio(ok).is_ok(), "{ok:?}");
            assert!(validate_text(ok).is_ok(), "{ok:?}");
        }
        for bad in ["nul\0", "bell\u{7}", "esc\u{1b}[2J"] {
            assert!(validate_comment(bad).is_err(), "{bad:?}");
            assert!(validate_review_body(bad).is_err(), "{bad:?}");
            assert!(validate_bio(bad).is_err(), "{bad:?}");
            assert!(validate_text(bad).is_err(), "{bad:?}");
        }
        assert!(
            validate_name("two\nlines").is_err(),
            "names stay on one line"
        );
    }

    #[test]
    fn hello_without_a_client_label_still_reads() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"hello","version":1,"name":"n"}"#).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Hello {
                version: 1,
                name: "n".into(),
                client: None,
                guest_id: None,
            }
        );
        let json = ClientMessage::Hello {
            version: 1,
            name: "n".into(),
            client: Some("app".into()),
            guest_id: None,
        }
        .to_json();
        assert_eq!(
            json,
            r#"{"type":"hello","version":1,"name":"n","client":"app"}"#
        );
    }

    #[test]
    fn provider_login_fields_are_optional_and_error_codes_are_snake_case() {
        let frame = decode_client(
            r#"{"type":"provider_login","req":3,"provider":"github","access_token":"t"}"#,
        )
        .unwrap();
        assert_eq!(
            frame,
            ClientMessage::ProviderLogin {
                provider: "github".into(),
                id_token: None,
                access_token: Some("t".into()),
                nonce: None,
                handle: None
            }
            .with_req(3)
        );
        assert_eq!(
            serde_json::to_string(&ErrorCode::LastLoginMethod).unwrap(),
            r#""last_login_method""#
        );
        assert_eq!(
            serde_json::to_string(&ErrorCode::TokenReused).unwrap(),
            r#""token_reused""#
        );
    }

    #[test]
    fn join_since_is_optional() {
        let frame = decode_client(r#"{"type":"join","req":1,"room":"r"}"#).unwrap();
        assert_eq!(
            frame,
            ClientMessage::Join {
                room: "r".into(),
                since: None
            }
            .with_req(1)
        );
    }

    #[test]
    fn unknown_kinds_and_fields_are_rejected() {
        assert!(decode_client(r#"{"type":"explode","req":1}"#).is_err());
        assert!(decode_client(r#"{"type":"leave","req":1,"room":"r","x":1}"#).is_err());
    }

    #[test]
    fn server_message_event_is_flattened() {
        let msg = ServerMessage::Message(ChatMessage {
            room: "r".into(),
            seq: 3,
            client_id: "c".into(),
            author: "민지".into(),
            guest: false,
            text: "안녕".into(),
            deleted: false,
            sent_at_ms: 5,
        });
        let json = msg.to_json();
        assert!(
            json.starts_with(r#"{"type":"message","room":"r","seq":3"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ServerMessage>(&json).unwrap(), msg);
    }

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(
            validate_room("  "),
            Err(FieldError::Empty { field: "room" })
        );
        assert_eq!(
            validate_name(&"가".repeat(41)),
            Err(FieldError::TooLong {
                field: "name",
                max: 40
            })
        );
        assert!(validate_name(&"가".repeat(40)).is_ok());
        assert_eq!(
            validate_room("a\nb"),
            Err(FieldError::Control { field: "room" })
        );
        assert!(validate_text("line one\nline two").is_ok());
        assert!(validate_client_id("abc-123").is_ok());
        assert!(validate_client_id("has space").is_err());
        assert!(validate_client_id(&"x".repeat(65)).is_err());
        assert!(validate_handle("min_ji.k-2").is_ok());
        assert_eq!(
            validate_handle("MinJi"),
            Err(FieldError::Charset {
                field: "handle",
                allowed: "a-z 0-9 _ . -"
            })
        );
        assert_eq!(
            validate_handle("ab"),
            Err(FieldError::TooShort {
                field: "handle",
                min: 3
            })
        );
        assert!(validate_password("short").is_err() && validate_password("long enough").is_ok());
        assert!(
            validate_avatar_url("https://x.example/a.png").is_ok()
                && validate_avatar_url("javascript:alert(1)").is_err()
        );
    }
}

#[cfg(test)]
mod documented {
    /// The variants of `pub enum NAME` in this file, as their wire names (snake_case).
    fn wire_names(source: &str, name: &str) -> Vec<String> {
        let start = source
            .find(&format!("pub enum {name} {{"))
            .unwrap_or_else(|| panic!("enum {name} in relay.rs"));
        let body = &source[start..];
        let end = body.find("\n}\n").expect("the enum ends");
        body[..end]
            .lines()
            .skip(1)
            .filter_map(|line| {
                // A variant starts four spaces in: `    Name {`, `    Name(…)`, `    Name,`.
                let rest = line.strip_prefix("    ")?;
                let first = rest.chars().next()?;
                if !first.is_ascii_uppercase() {
                    return None;
                }
                let ident: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                Some(ident)
            })
            .map(|ident| {
                let mut snake = String::new();
                for (i, c) in ident.chars().enumerate() {
                    if c.is_ascii_uppercase() {
                        if i > 0 {
                            snake.push('_');
                        }
                        snake.push(c.to_ascii_lowercase());
                    } else {
                        snake.push(c);
                    }
                }
                snake
            })
            .collect()
    }

    /// docs/protocol.md names every message either side may send (as `name` or `name {…}` in
    /// backticks): a message added to the protocol without a word in the reference fails here.
    #[test]
    fn every_protocol_message_is_documented() {
        let source = include_str!("relay.rs");
        let doc = include_str!("../../../docs/protocol.md");
        for kind in ["ClientMessage", "ServerMessage"] {
            let names = wire_names(source, kind);
            assert!(names.len() > 10, "read the variants of {kind}: {names:?}");
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| {
                    !(doc.contains(&format!("`{n}`"))
                        || doc.contains(&format!("`{n} "))
                        || doc.contains(&format!("`{{\"type\":\"{n}\"")))
                })
                .collect();
            assert!(
                missing.is_empty(),
                "{kind} messages missing from docs/protocol.md: {missing:?}"
            );
        }
    }
}
