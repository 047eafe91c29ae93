//! Chat rooms on the relay. A joined room is remembered with the last message seen, so the link
//! resumes it after a reconnection without a gap or a duplicate.

use movietalk_protocol::ipc::{ChatMessage, JoinedRoom, RoomSummary};

use super::{App, Reply, invalid, lock, offline, relay_error};

/// How many rooms home lists under "continue the chat".
const RECENT_ROOMS: usize = 8;
/// Messages per page of older history.
const HISTORY_PAGE: u32 = 50;

impl App {
    /// Joins a room; answers every message after `since` (however many pages that takes), or
    /// the recent ones.
    pub async fn join_room(&self, room: &str, since: Option<u64>) -> Reply<JoinedRoom> {
        let room = room.trim();
        movietalk_protocol::relay::validate_room(room).map_err(|e| invalid(e.to_string()))?;
        let c = self.connected().await.ok_or_else(offline)?;
        let joined = c.client.join(room, since).await.map_err(relay_error)?;
        let last = joined.history.last().map_or(since.unwrap_or(0), |m| m.seq);
        lock(&self.rooms).insert(joined.room.clone(), last);
        let mut settings = self.settings();
        settings.recent_rooms.retain(|r| r != &joined.room);
        settings.recent_rooms.insert(0, joined.room.clone());
        settings.recent_rooms.truncate(RECENT_ROOMS);
        if let Err(e) = self.save_settings(settings) {
            tracing::warn!(error = %e, "recent rooms not kept");
        }
        Ok(JoinedRoom {
            room: joined.room,
            history: joined.history,
            present: joined.present,
        })
    }

    pub async fn leave_room(&self, room: &str) -> Reply<()> {
        lock(&self.rooms).remove(room);
        let c = self.connected().await.ok_or_else(offline)?;
        c.client.leave(room).await.map_err(relay_error)
    }

    /// Older messages of a joined room, before `before`.
    pub async fn chat_history(&self, room: &str, before: u64) -> Reply<Vec<ChatMessage>> {
        let c = self.connected().await.ok_or_else(offline)?;
        c.client
            .history(room, before, HISTORY_PAGE)
            .await
            .map_err(relay_error)
    }

    /// Posts a chat message; answers its sequence number in the room.
    pub async fn send_chat(&self, room: &str, text: &str) -> Reply<u64> {
        movietalk_protocol::relay::validate_text(text).map_err(|e| invalid(e.to_string()))?;
        let c = self.connected().await.ok_or_else(offline)?;
        c.client.send(room, text).await.map_err(relay_error)
    }

    pub async fn typing(&self, room: &str) -> Reply<()> {
        let c = self.connected().await.ok_or_else(offline)?;
        c.client.typing(room).await.map_err(relay_error)
    }

    /// Rooms with live presence.
    pub async fn list_rooms(&self) -> Reply<Vec<RoomSummary>> {
        let c = self.connected().await.ok_or_else(offline)?;
        c.client.list_rooms().await.map_err(relay_error)
    }

    /// Creates a room; its creator moderates it.
    pub async fn create_room(&self, room: &str, topic: &str) -> Reply<RoomSummary> {
        let (c, _) = self.logged_in().await?;
        c.client
            .create_room(room.trim(), topic.trim())
            .await
            .map_err(relay_error)
    }

    /// Unread messages per room this account has read before.
    pub async fn unread_counts(&self) -> Reply<Vec<(String, u64)>> {
        let (c, _) = self.logged_in().await?;
        c.client.unread_counts().await.map_err(relay_error)
    }

    /// Marks a room read up to `seq`; guests have no read markers, so for them it does nothing.
    pub async fn mark_read(&self, room: &str, seq: u64) -> Reply<()> {
        let Ok((c, _)) = self.logged_in().await else {
            return Ok(());
        };
        c.client.mark_read(room, seq).await.map_err(relay_error)
    }

    /// Deletes a message (one's own, or any in a room one moderates).
    pub async fn delete_message(&self, room: &str, seq: u64) -> Reply<()> {
        let (c, _) = self.logged_in().await?;
        c.client
            .delete_message(room, seq)
            .await
            .map_err(relay_error)
    }
}
