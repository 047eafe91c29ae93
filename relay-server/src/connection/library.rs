//! Watchlists and diaries. Reading a public watchlist is open to guests; everything else
//! needs an account, and acts on that account's own.

use movietalk_protocol::relay::{
    ClientMessage, ErrorCode, ServerMessage, validate_client_id, validate_diary_entry,
    validate_film,
};

use super::answers::{not_logged_in, social_error};
use super::handler::Handler;
use crate::library::{Watchlist, WatchlistChange};

impl Handler {
    pub(super) fn library(
        &self,
        req: u64,
        msg: ClientMessage,
        account: Option<u64>,
    ) -> ServerMessage {
        let done = |r: Result<(), crate::social::SocialError>| match r {
            Ok(()) => ServerMessage::Ok { req },
            Err(e) => social_error(req, e),
        };
        match (msg, account) {
            (ClientMessage::Watchlist { handle: None, .. }, None)
            | (
                ClientMessage::SetWatchlist { .. }
                | ClientMessage::WatchlistPublic { .. }
                | ClientMessage::PutDiaryEntry { .. }
                | ClientMessage::DeleteDiaryEntry { .. }
                | ClientMessage::Diary { .. },
                None,
            ) => not_logged_in(req),
            (ClientMessage::PutDiaryEntry { entry }, Some(id)) => {
                if let Err(e) = validate_diary_entry(&entry) {
                    return ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string());
                }
                done(self.library.put_diary_entry(id, &entry))
            }
            (ClientMessage::DeleteDiaryEntry { client_id, at_ms }, Some(id)) => {
                if let Err(e) = validate_client_id(&client_id) {
                    return ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string());
                }
                done(self.library.delete_diary_entry(id, &client_id, at_ms))
            }
            (ClientMessage::Diary { since }, Some(id)) => match self.library.diary(id, since) {
                Ok((version, unchanged, entries)) => ServerMessage::Diary {
                    req,
                    version,
                    unchanged,
                    entries,
                },
                Err(e) => social_error(req, e),
            },
            (
                ClientMessage::SetWatchlist {
                    movie_key,
                    title,
                    year,
                    on,
                    at_ms,
                },
                Some(id),
            ) => {
                if let Err(e) = validate_film(&movie_key, &title) {
                    return ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string());
                }
                let change = WatchlistChange {
                    movie_key: &movie_key,
                    title: &title,
                    year,
                    on,
                    at_ms,
                };
                done(self.library.set_watchlist(id, &change))
            }
            (ClientMessage::WatchlistPublic { public }, Some(id)) => {
                done(self.library.set_watchlist_public(id, public))
            }
            (ClientMessage::Watchlist { handle, since }, reader) => {
                match self.library.watchlist(reader, handle.as_deref(), since) {
                    Ok(Watchlist {
                        handle,
                        public,
                        version,
                        films,
                        unchanged,
                    }) => ServerMessage::Watchlist {
                        req,
                        handle,
                        public,
                        version,
                        unchanged,
                        films,
                    },
                    Err(e) => social_error(req, e),
                }
            }
            (other, _) => ServerMessage::error(
                Some(req),
                ErrorCode::Internal,
                format!("not a library request: {other:?}"),
            ),
        }
    }
}
