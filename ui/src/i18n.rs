//! Every user-facing string, in English and Korean. Components ask [`t`] for text by key;
//! none hard-codes a sentence.

use movietalk_protocol::ipc::IpcErrorCode;

/// The UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    /// The saved choice, else the OS/browser language (Korean when it starts with `ko`).
    pub fn initial() -> Lang {
        let window = web_sys::window();
        let saved = window
            .as_ref()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item("lang").ok().flatten());
        let tag = saved
            .or_else(|| window.and_then(|w| w.navigator().language()))
            .unwrap_or_default();
        if tag.starts_with("ko") {
            Lang::Ko
        } else {
            Lang::En
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ko,
            Lang::Ko => Lang::En,
        }
    }

    /// Remembers the choice for the next start.
    pub fn save(self) {
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item("lang", self.code());
        }
    }
}

/// Keys of the UI's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    AppName,
    SearchPlaceholder,
    SearchLabel,
    SwitchLanguage,
    Loading,
    NoMatches,
    FallbackNote,
    ResultCount,
    Chat,
    RoomPlaceholder,
    Join,
    Leave,
    MessagePlaceholder,
    Send,
    NotJoined,
    NoMessagesYet,
    Present,
    Online,
    Offline,
    Connecting,
    HostedRelay,
    Relay,
    Movies,
    DataFolder,
}

/// The text for `key` in `lang`.
pub fn t(lang: Lang, key: Text) -> &'static str {
    use Text::*;
    match (lang, key) {
        (_, AppName) => "MovieTalk",
        (Lang::En, SearchPlaceholder) => "Search titles, people, stories… (Ctrl+K)",
        (Lang::Ko, SearchPlaceholder) => "제목, 인물, 줄거리 검색… (Ctrl+K)",
        (Lang::En, SearchLabel) => "Search movies",
        (Lang::Ko, SearchLabel) => "영화 검색",
        (Lang::En, SwitchLanguage) => "한국어",
        (Lang::Ko, SwitchLanguage) => "English",
        (Lang::En, Loading) => "Loading…",
        (Lang::Ko, Loading) => "불러오는 중…",
        (Lang::En, NoMatches) => "No movie matches your search.",
        (Lang::Ko, NoMatches) => "검색과 일치하는 영화가 없습니다.",
        (Lang::En, FallbackNote) => "Nothing matched your search — here are popular films instead.",
        (Lang::Ko, FallbackNote) => "검색과 일치하는 영화가 없어 인기 영화를 대신 보여 드립니다.",
        (Lang::En, ResultCount) => "movies",
        (Lang::Ko, ResultCount) => "편",
        (Lang::En, Chat) => "Chat",
        (Lang::Ko, Chat) => "채팅",
        (Lang::En, RoomPlaceholder) => "Room name",
        (Lang::Ko, RoomPlaceholder) => "방 이름",
        (Lang::En, Join) => "Join",
        (Lang::Ko, Join) => "입장",
        (Lang::En, Leave) => "Leave",
        (Lang::Ko, Leave) => "나가기",
        (Lang::En, MessagePlaceholder) => "Say something about movies…",
        (Lang::Ko, MessagePlaceholder) => "영화 이야기를 나눠 보세요…",
        (Lang::En, Send) => "Send",
        (Lang::Ko, Send) => "보내기",
        (Lang::En, NotJoined) => "Join a room to start talking.",
        (Lang::Ko, NotJoined) => "방에 입장하면 대화를 시작할 수 있습니다.",
        (Lang::En, NoMessagesYet) => "No messages yet. Say hello!",
        (Lang::Ko, NoMessagesYet) => "아직 메시지가 없습니다. 먼저 인사해 보세요!",
        (Lang::En, Present) => "here",
        (Lang::Ko, Present) => "명 참여 중",
        (Lang::En, Online) => "Online",
        (Lang::Ko, Online) => "온라인",
        (Lang::En, Offline) => "Offline",
        (Lang::Ko, Offline) => "오프라인",
        (Lang::En, Connecting) => "Connecting…",
        (Lang::Ko, Connecting) => "연결 중…",
        (Lang::En, HostedRelay) => "hosted on this computer",
        (Lang::Ko, HostedRelay) => "이 컴퓨터에서 실행 중",
        (Lang::En, Relay) => "Relay",
        (Lang::Ko, Relay) => "릴레이",
        (Lang::En, Movies) => "Movies",
        (Lang::Ko, Movies) => "영화",
        (Lang::En, DataFolder) => "Data",
        (Lang::Ko, DataFolder) => "데이터",
    }
}

/// A translated explanation of a command error.
pub fn error_text(lang: Lang, code: IpcErrorCode) -> &'static str {
    match (lang, code) {
        (Lang::En, IpcErrorCode::InvalidInput) => {
            "That input was not accepted (empty or too long)."
        }
        (Lang::Ko, IpcErrorCode::InvalidInput) => {
            "입력을 받아들일 수 없습니다 (비어 있거나 너무 깁니다)."
        }
        (Lang::En, IpcErrorCode::RelayUnavailable) => {
            "The relay cannot be reached. Your local data is safe."
        }
        (Lang::Ko, IpcErrorCode::RelayUnavailable) => {
            "릴레이 서버에 연결할 수 없습니다. 내 컴퓨터의 데이터는 안전합니다."
        }
        (Lang::En, IpcErrorCode::RelayRejected) => "The relay refused this request.",
        (Lang::Ko, IpcErrorCode::RelayRejected) => "릴레이 서버가 요청을 거절했습니다.",
        (Lang::En, IpcErrorCode::Storage) => "The local database failed. Nothing was changed.",
        (Lang::Ko, IpcErrorCode::Storage) => {
            "로컬 데이터베이스 오류입니다. 아무것도 변경되지 않았습니다."
        }
        (Lang::En, IpcErrorCode::Internal) => "Something went wrong inside MovieTalk.",
        (Lang::Ko, IpcErrorCode::Internal) => "MovieTalk 내부 오류가 발생했습니다.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_and_english_differ_for_sentences() {
        for key in [
            Text::SearchPlaceholder,
            Text::NoMatches,
            Text::FallbackNote,
            Text::Join,
            Text::Send,
            Text::NotJoined,
        ] {
            assert_ne!(
                t(Lang::En, key),
                t(Lang::Ko, key),
                "{key:?} is not translated"
            );
        }
    }
}
