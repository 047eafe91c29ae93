//! Room requests: list, create (never a name in use, built in or per film), moderation (kick,
//! delete a message) and read marks.

use movietalk_protocol::relay::{ClientMessage, ErrorCode, ServerMessage, validate_room};

use super::answers::{banned_from, internal, not_logged_in};
use super::handler::Handler;
use super::session::Session;
use crate::store::author_key;

impl Handler {
    /// Whether this connection's account is kept out of `room` (guests never are).
    pub(super) fn banned(
        &self,
        session: &Session,
        room: &str,
    ) -> Result<bool, crate::store::StoreError> {
        match &session.account {
            Some(account) => self.chat.is_banned(room, account.id),
            None => Ok(false),
        }
    }

    /// Room management, moderation and unread counts.
    pub(super) fn rooms(&self, req: u64, msg: ClientMessage, session: &Session) -> ServerMessage {
        let summary = |name: String, topic: String, creator: Option<String>| {
            let present = self.hub.present(&name);
            movietalk_protocol::relay::RoomSummary {
                name,
                topic,
                creator,
                present,
            }
        };
        if let ClientMessage::ListRooms { .. } = msg {
            return match self.chat.rooms() {
                Ok(created) => {
                    let mut rooms: Vec<_> = created
                        .into_iter()
                        .map(|(n, t, c)| summary(n, t, c))
                        .collect();
                    for name in self.hub.active_rooms() {
                        if !rooms.iter().any(|r| r.name == name) {
                            rooms.push(summary(name, String::new(), None));
                        }
                    }
                    rooms.sort_by(|a, b| {
                        b.present.cmp(&a.present).then_with(|| a.name.cmp(&b.name))
                    });
                    ServerMessage::Rooms { req, rooms }
                }
                Err(e) => internal(req, e),
            };
        }
        let Some(account) = &session.account else {
            return not_logged_in(req);
        };
        let result = match msg {
            ClientMessage::CreateRoom { room, topic, .. } => {
                if let Err(e) = validate_room(&room) {
                    return ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string());
                }
                if room.starts_with("film:")
                    || movietalk_protocol::relay::BUILT_IN_ROOMS.contains(&room.as_str())
                {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::Conflict,
                        "film rooms and built-in rooms exist already and have no owner",
                    );
                }
                if topic.chars().count() > 200
                    || topic.chars().any(char::is_control)
                    || topic
                        .chars()
                        .any(movietalk_protocol::relay::is_invisible_format)
                {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::InvalidInput,
                        "topics are one line of at most 200 characters, with nothing invisible",
                    );
                }
                match self.chat.create_room(&room, &topic, account.id) {
                    Ok(true) => Ok(ServerMessage::RoomInfo {
                        req,
                        room: summary(room, topic, Some(account.handle.clone())),
                    }),
                    Ok(false) => {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::Conflict,
                            "that room name is taken: it was created or used before",
                        );
                    }
                    Err(e) => Err(e),
                }
            }
            ClientMessage::Kick { room, handle, .. } => match self.chat.room(&room) {
                Err(e) => Err(e),
                Ok(Some((_, Some((creator, _))))) if creator == account.id => {
                    if handle == account.handle {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::InvalidInput,
                            "a moderator cannot kick themselves",
                        );
                    }
                    match self.chat.ban(&room, &handle) {
                        Ok(Some(_)) => {
                            self.hub.kick(&room, &author_key(&handle, false));
                            Ok(ServerMessage::Ok { req })
                        }
                        Ok(None) => {
                            return ServerMessage::error(
                                Some(req),
                                ErrorCode::NotFound,
                                "no such account",
                            );
                        }
                        Err(e) => Err(e),
                    }
                }
                Ok(_) => {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::Forbidden,
                        "only the room's creator moderates it",
                    );
                }
            },
            ClientMessage::DeleteMessage { room, seq, .. } => {
                let mine = author_key(&account.handle, false);
                let moderator =
                    matches!(self.chat.room(&room), Ok(Some((_, Some((c, _))))) if c == account.id);
                match self.chat.message_author(&room, seq) {
                    Err(e) => Err(e),
                    Ok(None) => {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::NotFound,
                            "no such message",
                        );
                    }
                    Ok(Some(key)) if key == mine || moderator => {
                        self.chat.delete_message(&room, seq).map(|()| {
                            self.hub.broadcast(
                                &room,
                                &ServerMessage::MessageDeleted {
                                    room: room.clone(),
                                    seq,
                                },
                                None,
                            );
                            ServerMessage::Ok { req }
                        })
                    }
                    Ok(Some(_)) => {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::Forbidden,
                            "this message is not yours",
                        );
                    }
                }
            }
            ClientMessage::MarkRead { room, seq, .. } => {
                if let Err(e) = validate_room(&room) {
                    return ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string());
                }
                // Not even how busy a room is, for those kept out of it.
                match self.banned(session, &room) {
                    Ok(true) => return banned_from(req),
                    Ok(false) => {}
                    Err(e) => return internal(req, e),
                }
                // Read no further than the room's newest message (a number past it, up to
                // 2^64, would count as read messages that are not there yet).
                match self.chat.range(&room, 0, u64::MAX, 1) {
                    Err(e) => Err(e),
                    Ok(newest) => match newest.last() {
                        None => {
                            return ServerMessage::error(
                                Some(req),
                                ErrorCode::NotFound,
                                "that room has no messages",
                            );
                        }
                        Some(newest) => self
                            .chat
                            .mark_read(account.id, &room, seq.min(newest.seq))
                            .map(|()| ServerMessage::Ok { req }),
                    },
                }
            }
            ClientMessage::UnreadCounts { .. } => self.chat.unread(account.id).and_then(|rooms| {
                // Rooms marked read before a ban count no more (one read for all the bans).
                let banned: std::collections::HashSet<String> = self
                    .chat
                    .bans_of(&[account.id])?
                    .into_iter()
                    .map(|(room, _)| room)
                    .collect();
                let open = rooms
                    .into_iter()
                    .filter(|(room, _)| !banned.contains(room))
                    .collect();
                Ok(ServerMessage::Unread { req, rooms: open })
            }),
            other => {
                return ServerMessage::error(
                    Some(req),
                    ErrorCode::Internal,
                    format!("not a room request: {other:?}"),
                );
            }
        };
        result.unwrap_or_else(|e| internal(req, e))
    }
}
