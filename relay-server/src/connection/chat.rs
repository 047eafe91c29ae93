//! Chat requests: join (with the history up to where live delivery starts), history pages,
//! leave, send, typing. Only a member reads or posts; bans and kicks keep people out.

use movietalk_protocol::relay::{
    ClientMessage, ErrorCode, ServerMessage, validate_client_id, validate_room, validate_text,
};

use super::answers::{banned_from, internal, not_logged_in};
use super::handler::{Handler, blocking};
use super::session::Session;
use crate::hub::Posted;

impl Handler {
    /// Answers a chat request as `author` (a guest's name when `guest`).
    pub(super) async fn chat_request(
        &self,
        req: u64,
        msg: ClientMessage,
        session: &mut Session,
        (author, guest): (&str, bool),
    ) -> ServerMessage {
        match msg {
            ClientMessage::Join { room, since } => match validate_room(&room) {
                Err(e) => ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string()),
                Ok(()) => match self.banned(session, &room) {
                    Err(e) => internal(req, e),
                    // Kicked connections stay out whoever they log in or out as.
                    Ok(true) => banned_from(req),
                    Ok(false) if self.hub.was_kicked(&room, session.conn) => banned_from(req),
                    Ok(false) => match blocking(|| {
                        self.hub.join(
                            &room,
                            session.conn,
                            &session.key(),
                            session.mailbox.clone(),
                            since,
                            self.config.history_page,
                        )
                    }) {
                        // In the room first, then the ban read again: a kick stored meanwhile
                        // shows here, or finds this membership.
                        Ok(_) if !matches!(self.banned(session, &room), Ok(false)) => {
                            self.hub.leave(&room, session.conn);
                            banned_from(req)
                        }
                        Ok(joined) => {
                            session.rooms.insert(room.clone());
                            ServerMessage::Joined {
                                req,
                                room,
                                history: joined.history,
                                present: joined.present,
                                live_after: Some(joined.live_after),
                            }
                        }
                        Err(e) => internal(req, e),
                    },
                },
            },
            ClientMessage::History {
                room,
                before,
                limit,
                after,
            } => {
                // Only a member reads: one that was kicked, or banned on logging in, is not.
                if !session.rooms.contains(&room) || !self.hub.is_member(&room, session.conn) {
                    ServerMessage::error(
                        Some(req),
                        ErrorCode::NotInRoom,
                        format!("join room {room:?} to read its history"),
                    )
                } else if let Ok(true) | Err(_) = self.banned(session, &room) {
                    banned_from(req)
                } else {
                    let limit = (limit as usize).clamp(1, self.config.history_page.max(1));
                    match blocking(|| self.hub.history(&room, after, before, limit)) {
                        Ok(messages) => ServerMessage::History {
                            req,
                            room,
                            messages,
                        },
                        Err(e) => internal(req, e),
                    }
                }
            }
            ClientMessage::Leave { room } => {
                // A kicked connection's room stays in `session.rooms` until it ends (see
                // `Hub::gone`); only a member leaves.
                if session.rooms.contains(&room) && self.hub.leave(&room, session.conn) {
                    session.rooms.remove(&room);
                    ServerMessage::Ok { req }
                } else {
                    ServerMessage::error(
                        Some(req),
                        ErrorCode::NotInRoom,
                        format!("not in room {room:?}"),
                    )
                }
            }
            ClientMessage::Send {
                room,
                client_id,
                text,
            } => {
                if guest && !self.config.guests_may_write {
                    not_logged_in(req)
                } else if !session.rooms.contains(&room) || !self.hub.is_member(&room, session.conn)
                {
                    ServerMessage::error(
                        Some(req),
                        ErrorCode::NotInRoom,
                        format!("join room {room:?} before sending"),
                    )
                } else if let Err(e) =
                    validate_text(&text).and_then(|()| validate_client_id(&client_id))
                {
                    ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
                } else {
                    match self
                        .hub
                        .post(&room, (author, guest, &session.key()), &client_id, &text)
                        .await
                    {
                        Ok(Posted::New(seq) | Posted::Duplicate(seq)) => {
                            ServerMessage::Sent { req, room, seq }
                        }
                        Err(e) => internal(req, e),
                    }
                }
            }
            other => super::answers::misrouted(req, other),
        }
    }

    /// "I am typing": told to the room's other members, if this connection is one.
    pub(super) fn typing(&self, session: &Session, room: &str, author: &str) {
        if session.rooms.contains(room) && self.hub.is_member(room, session.conn) {
            self.hub.broadcast(
                room,
                &ServerMessage::Typing {
                    room: room.to_owned(),
                    who: author.to_owned(),
                },
                Some(session.conn),
            );
        }
    }
}
