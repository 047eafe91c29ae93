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

/// Declares the text keys with their English and Korean: one line per key keeps the two
/// languages side by side, and a key without both cannot compile.
macro_rules! texts {
    ($($key:ident => $en:expr, $ko:expr;)*) => {
        /// Keys of the UI's text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Text { $($key),* }

        /// Every key, for checks.
        #[cfg(test)]
        const ALL: &[Text] = &[$(Text::$key),*];

        /// The text for `key` in `lang`.
        pub fn t(lang: Lang, key: Text) -> &'static str {
            match (lang, key) {
                $((Lang::En, Text::$key) => $en, (Lang::Ko, Text::$key) => $ko,)*
            }
        }
    };
}

texts! {
    AppName => "MovieTalk", "MovieTalk";
    SearchPlaceholder => "Search titles, people, stories… (Ctrl+K)", "제목, 인물, 줄거리 검색… (Ctrl+K)";
    SearchLabel => "Search movies", "영화 검색";
    SwitchLanguage => "한국어", "English";
    Loading => "Loading…", "불러오는 중…";
    NoMatches => "No movie matches your search.", "검색과 일치하는 영화가 없습니다.";
    FallbackNote => "Nothing matched your search — here are recommended films instead.", "검색과 일치하는 영화가 없어 추천 영화를 대신 보여 드립니다.";
    ResultCount => "movies", "편";
    Chat => "Chat", "채팅";
    Rooms => "Rooms", "채팅방";
    NoRooms => "No rooms yet — join one by name.", "아직 채팅방이 없습니다. 이름으로 입장해 보세요.";
    CreateRoom => "Create a room", "채팅방 만들기";
    Create => "Create", "만들기";
    Topic => "Topic", "주제";
    Unread => "unread", "읽지 않음";
    RoomPlaceholder => "Room name", "방 이름";
    Join => "Join", "입장";
    Leave => "Leave", "나가기";
    MessagePlaceholder => "Say something about movies…", "영화 이야기를 나눠 보세요…";
    Send => "Send", "보내기";
    NotJoined => "Join a room to start talking.", "방에 입장하면 대화를 시작할 수 있습니다.";
    NoMessagesYet => "No messages yet. Say hello!", "아직 메시지가 없습니다. 먼저 인사해 보세요!";
    LoadOlder => "Load older messages", "이전 메시지 불러오기";
    IsTyping => "{} is typing…", "{} 님이 입력 중…";
    MessageDeleted => "(message deleted)", "(삭제된 메시지)";
    Present => "here", "명 참여 중";
    Online => "Online", "온라인";
    Offline => "Offline", "오프라인";
    Connecting => "Connecting…", "연결 중…";
    ReconnectingIn => "Offline — retrying in {} s", "오프라인 — {}초 후 다시 연결";
    PendingWrites => "{} waiting to send", "전송 대기 {}건";
    AllSent => "All changes shared", "모든 변경 사항 공유됨";
    SyncProblem => "Sync problem", "동기화 문제";
    SyncNow => "Sync now", "지금 동기화";
    CheckForUpdates => "Look for a new version at start", "시작할 때 새 버전 확인";
    UpdateAvailable => "MovieTalk {} is available.", "MovieTalk {} 버전이 나왔습니다.";
    InstallUpdate => "Install and restart", "설치하고 다시 시작";
    Later => "Later", "나중에";
    HostedRelay => "hosted on this computer", "이 컴퓨터에서 실행 중";
    Relay => "Relay", "릴레이";
    Movies => "Movies", "영화";
    DataFolder => "Data folder", "데이터 폴더";
    Home => "Home", "홈";
    Browse => "Browse", "둘러보기";
    Profile => "Profile", "프로필";
    Settings => "Settings", "설정";
    Back => "Back", "뒤로";
    Navigation => "Main", "주 메뉴";
    RecommendedForYou => "Recommended for you", "추천 영화";
    StartHere => "The community's best-rated and acclaimed films", "커뮤니티 최고 평점작과 호평작";
    RateAFewMore => "Rate {} more films to get picks of your own: open a film and give it stars.", "{}편만 더 평가하면 나만의 추천이 생깁니다. 영화를 열어 별점을 주세요.";
    BecauseYouLiked => "Because you liked {}", "{}을(를) 좋아하셔서";
    FansAlsoLiked => "People who rated {} highly also liked this", "{}을(를) 높게 평가한 사람들이 좋아한 영화";
    PopularIn => "Popular in {}", "{} 인기작";
    ContinueChat => "Continue the chat", "대화 이어가기";
    Popular => "Popular", "인기";
    Filters => "Filters", "필터";
    Genre => "Genre", "장르";
    AllGenres => "All genres", "모든 장르";
    YearFrom => "From", "시작 연도";
    YearTo => "To", "끝 연도";
    SortBy => "Sort", "정렬";
    SortRelevance => "Best match", "관련도순";
    SortPopularity => "Popularity", "인기순";
    SortNewest => "Newest", "최신순";
    SortOldest => "Oldest", "오래된순";
    SortTitle => "Title", "제목순";
    SortAdded => "Recently added", "최근 추가순";
    SortForYou => "Best for you", "취향순";
    Watchlist => "Watchlist", "보고 싶은 영화";
    AddToWatchlist => "+ Watchlist", "+ 보고 싶어요";
    OnWatchlist => "✓ On your watchlist", "✓ 보고 싶어요";
    WatchlistFailed => "Could not save this change; try again.", "변경 사항을 저장하지 못했습니다. 다시 시도하세요.";
    WatchlistEmpty => "Your watchlist is empty. Add films with “+ Watchlist” on any film or card.", "보고 싶은 영화가 없습니다. 영화 페이지나 카드의 “+ 보고 싶어요”로 추가하세요.";
    WatchlistCount => "Films: {}", "영화 {}편";
    PickTonight => "Pick one for tonight", "오늘 밤 볼 영화 고르기";
    PickAnother => "Pick another", "다른 영화 고르기";
    TonightPick => "Tonight's film", "오늘 밤의 영화";
    WatchlistPublic => "Others can see my watchlist", "다른 사람도 내 보고 싶은 영화 목록을 볼 수 있음";
    WatchlistPrivate => "This watchlist is private.", "비공개 목록입니다.";
    YearInFilm => "Year in film", "올해의 영화";
    Stats => "Stats", "통계";
    Year => "Year", "연도";
    YearFilms => "Films: {}", "영화 {}편";
    MeanRating => "mean ★{}", "평균 ★{}";
    FilmsPerMonth => "Films per month", "월별 영화";
    RatingSpread => "Ratings", "별점 분포";
    TopGenres => "Top genres", "많이 본 장르";
    TopDirectors => "Top directors", "많이 본 감독";
    Decades => "Decades", "연대";
    StatsEmpty => "No films rated in this year: rate some to see your year in film.", "이 해에 별점을 매긴 영화가 없습니다. 별점을 매기면 올해의 영화가 나타납니다.";
    Diary => "Diary", "다이어리";
    DiaryEmpty => "No watches logged yet. Log one from a film's page.", "기록한 관람이 없습니다. 영화 페이지에서 기록해 보세요.";
    LogWatch => "Log a watch", "관람 기록";
    LogIt => "Log it", "기록하기";
    WatchLogged => "Logged in your diary.", "다이어리에 기록했습니다.";
    NoRating => "No rating", "별점 없음";
    Rewatch => "Rewatch", "재관람";
    WithReview => "review", "리뷰";
    WatchReviewPlaceholder => "A review of this watch (optional; needs a rating)", "이번 관람의 리뷰 (선택, 별점 필요)";
    LetterboxdImport => "Import from Letterboxd", "Letterboxd에서 가져오기";
    LetterboxdHint => "The .zip Letterboxd gives under Settings → Data → Export your data: your diary with its reviews, your watchlist and your ratings. Importing it again adds nothing.", "Letterboxd 설정 → 데이터 → 내보내기에서 받은 .zip 파일: 다이어리와 리뷰, 보고 싶은 영화, 별점을 가져옵니다. 다시 가져와도 중복되지 않습니다.";
    LetterboxdDone => "Imported: {} watches, {} reviews, {} on the watchlist, {} ratings.", "가져옴: 관람 {}건, 리뷰 {}건, 보고 싶은 영화 {}편, 별점 {}건.";
    LetterboxdUnmatched => "Not found in the catalog:", "카탈로그에서 찾지 못한 영화:";
    PreparingRecommendations => "Preparing recommendations… {}%", "추천 준비 중… {}%";
    MonthNames => "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", "1월 2월 3월 4월 5월 6월 7월 8월 9월 10월 11월 12월";
    ShowMore => "Show more", "더 보기";
    Minutes => "min", "분";
    Directors => "Directed by", "감독";
    Cast => "Cast", "출연";
    OpenFilmChat => "Chat about this film", "이 영화 채팅방";
    Reviews => "Reviews", "리뷰";
    NoReviewsYet => "No reviews yet.", "아직 리뷰가 없습니다.";
    Similar => "Similar films", "비슷한 영화";
    YourReview => "Your review", "내 리뷰";
    YourRating => "Your rating", "내 별점";
    Stars => "stars", "점";
    NotRated => "Not rated", "평가 안 함";
    ReviewPlaceholder => "What did you think? (optional)", "어떠셨나요? (선택)";
    ContainsSpoilers => "Contains spoilers", "스포일러 포함";
    ShowSpoiler => "Contains spoilers — show", "스포일러 포함 — 보기";
    Save => "Save", "저장";
    Saved => "Saved", "저장됨";
    Delete => "Delete", "삭제";
    Edit => "Edit", "수정";
    Cancel => "Cancel", "취소";
    DeliveryPending => "Saved here — will be shared when online", "이 컴퓨터에 저장됨 — 연결되면 공유됩니다";
    DeliverySent => "Shared", "공유됨";
    DeliveryFailed => "Not accepted by the relay", "릴레이가 받아들이지 않음";
    DeliverySuperseded => "Replaced by a later edit", "나중에 한 수정으로 대체됨";
    Comments => "Comments", "댓글";
    NoCommentsYet => "No comments yet.", "아직 댓글이 없습니다.";
    WriteComment => "Write a comment…", "댓글 쓰기…";
    Account => "Account", "계정";
    AccountHint => "An account on the relay shares your reviews and comments. Everything works without one, on this computer.", "릴레이 계정이 있으면 리뷰와 댓글을 공유합니다. 계정이 없어도 이 컴퓨터에서는 모두 쓸 수 있습니다.";
    LogIn => "Log in", "로그인";
    LogOut => "Log out", "로그아웃";
    SignUp => "Sign up", "가입하기";
    LoggedInAs => "Logged in as", "로그인 계정:";
    HaveAccount => "I already have an account", "이미 계정이 있습니다";
    NeedAccount => "Create an account", "계정 만들기";
    Handle => "Handle (a-z, 0-9, _ . -)", "아이디 (a-z, 0-9, _ . -)";
    DisplayName => "Display name", "표시 이름";
    Password => "Password (8 characters or more)", "비밀번호 (8자 이상)";
    NoKeyring => "No system keyring is available: you will need to log in again after restarting.", "시스템 키링을 쓸 수 없어 다시 시작하면 다시 로그인해야 합니다.";
    YourRatings => "Your ratings and reviews", "내 별점과 리뷰";
    NoRatingsYet => "You have not rated anything yet.", "아직 평가한 영화가 없습니다.";
    EditProfile => "Edit profile", "프로필 수정";
    Bio => "About you", "소개";
    AvatarUrl => "Avatar image address", "프로필 이미지 주소";
    DeleteAccount => "Delete account", "계정 삭제";
    DeleteAccountWhat => "This deletes your account on the relay: your profile, your sessions, your reviews (with their comments), your comments and your likes. Your chat messages stay, shown as written by \"deleted user\". Your ratings on this computer stay. This cannot be undone.", "릴레이에서 계정을 삭제합니다: 프로필, 로그인 세션, 리뷰(달린 댓글 포함), 내가 쓴 댓글과 좋아요가 지워집니다. 채팅 메시지는 \"deleted user\"가 쓴 것으로 남습니다. 이 컴퓨터의 별점은 남습니다. 되돌릴 수 없습니다.";
    DeleteForever => "Delete my account", "계정 영구 삭제";
    HostRelay => "Host a relay on this computer", "이 컴퓨터에서 릴레이 실행";
    RelayAddress => "Relay address", "릴레이 주소";
    Language => "Language", "언어";
    Theme => "Theme", "테마";
    FromSystem => "Same as the system", "시스템 설정 따르기";
    Light => "Light", "밝게";
    Dark => "Dark", "어둡게";
    TmdbKey => "TMDB API key", "TMDB API 키";
    TmdbKeyHint => "Kept in the system keyring, never in a file.", "파일이 아닌 시스템 키링에 보관됩니다.";
    KeySet => "A key is saved.", "키가 저장되어 있습니다.";
    Import => "Import films", "영화 가져오기";
    ImportHint => "A Wikipedia-format JSON file, a folder of them, or a URL.", "위키백과 형식 JSON 파일, 그런 파일이 든 폴더, 또는 URL.";
    Importing => "Importing", "가져오는 중";
    ImportDone => "Imported: {} new, {} updated, {} unchanged.", "가져오기 완료: 새 영화 {}편, 갱신 {}편, 변경 없음 {}편.";
    Export => "Export my data", "내 데이터 내보내기";
    OrContinueWith => "Or log in through your browser with", "또는 브라우저에서 다음 계정으로 로그인";
    ContinueWith => "Continue with {}", "{}(으)로 계속하기";
    WaitingForBrowser => "Finish logging in with {} in your browser…", "브라우저에서 {} 로그인을 마쳐 주세요…";
    ChooseHandle => "Welcome! Pick a handle for your new MovieTalk account.", "환영합니다! 새 MovieTalk 계정의 아이디를 정해 주세요.";
    CreateAccount => "Create account", "계정 만들기";
    Sessions => "Where you are logged in", "로그인된 기기";
    ThisDevice => "this device", "이 기기";
    LastUsed => "last used", "마지막 사용";
    Revoke => "Log out there", "로그아웃시키기";
    LoginMethods => "Ways to log in", "로그인 방법";
    PasswordMethod => "Password", "비밀번호";
    Link => "Link", "연결";
    Unlink => "Unlink", "연결 해제";
    LoginProviders => "Login providers", "로그인 제공자";
    LoginProvidersHint => "Add an OpenID Connect issuer (or google, kakao, github) with this app's client id at it. The relay must be configured with the same provider.", "OpenID Connect 발급자(또는 google, kakao, github)와 이 앱의 클라이언트 ID를 추가하세요. 릴레이에도 같은 제공자가 설정되어 있어야 합니다.";
    ProviderName => "Name", "이름";
    Issuer => "Issuer URL (blank for google, kakao, github)", "발급자 URL (google, kakao, github는 비워 두기)";
    ClientId => "Client id", "클라이언트 ID";
    Add => "Add", "추가";
    Remove => "Remove", "삭제";
    Followers => "Followers", "팔로워";
    Following => "Following", "팔로잉";
    Feed => "Feed", "피드";
    FeedFollowNobody => "Reviews by the people you follow appear here. Follow someone from their profile — open a review's author to find them.", "팔로우하는 사람들의 리뷰가 여기에 나타납니다. 프로필에서 팔로우하세요 — 리뷰 작성자를 누르면 프로필이 열립니다.";
    FeedNothingYet => "The people you follow have not reviewed anything yet.", "팔로우하는 사람들이 아직 리뷰를 쓰지 않았습니다.";
    FeedLogIn => "Log in to follow people and see their reviews here.", "로그인하면 사람들을 팔로우하고 그들의 리뷰를 여기에서 볼 수 있습니다.";
    FeedOffline => "Offline: showing what was last synced.", "오프라인: 마지막으로 동기화된 내용을 보여 줍니다.";
    Follow => "Follow", "팔로우";
    Unfollow => "Unfollow", "팔로우 취소";
    TmdbPages => "Pages of popular films (20 each)", "인기 영화 페이지 수 (페이지당 20편)";
    ImportFromTmdb => "Import from TMDB", "TMDB에서 가져오기";
    RelayFromEnvironment => "This run uses the relay {} (set by MOVIETALK_RELAY_URL).", "이번 실행은 릴레이 {}를 사용합니다 (MOVIETALK_RELAY_URL로 지정됨).";
    ExportedTo => "Saved to {}", "{}에 저장했습니다";
}

/// The text for `key` with each `{}` replaced by the next argument.
pub fn tf(lang: Lang, key: Text, args: &[&str]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut parts = t(lang, key).split("{}").peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            out.push_str(args.next().copied().unwrap_or(""));
        }
    }
    out
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
        (Lang::En, IpcErrorCode::NotLoggedIn) => "Log in to a relay account first.",
        (Lang::Ko, IpcErrorCode::NotLoggedIn) => "먼저 릴레이 계정에 로그인하세요.",
        (Lang::En, IpcErrorCode::InvalidCredentials) => "Wrong handle or password.",
        (Lang::Ko, IpcErrorCode::InvalidCredentials) => "아이디 또는 비밀번호가 틀렸습니다.",
        (Lang::En, IpcErrorCode::Conflict) => "That handle or name is already taken.",
        (Lang::Ko, IpcErrorCode::Conflict) => "이미 사용 중인 아이디나 이름입니다.",
        (Lang::En, IpcErrorCode::NotFound) => "It is not there (any more).",
        (Lang::Ko, IpcErrorCode::NotFound) => "찾을 수 없습니다 (삭제되었을 수 있습니다).",
        (Lang::En, IpcErrorCode::SessionEnded) => "Your session has ended. Please log in again.",
        (Lang::Ko, IpcErrorCode::SessionEnded) => "로그인 세션이 끝났습니다. 다시 로그인해 주세요.",
        (Lang::En, IpcErrorCode::ProviderLogin) => {
            "The log-in through the browser did not complete."
        }
        (Lang::Ko, IpcErrorCode::ProviderLogin) => "브라우저 로그인이 완료되지 않았습니다.",
        (Lang::En, IpcErrorCode::LastLoginMethod) => {
            "This is your last way to log in; add another first."
        }
        (Lang::Ko, IpcErrorCode::LastLoginMethod) => {
            "마지막 로그인 방법입니다. 다른 방법을 먼저 추가하세요."
        }
        (Lang::En, IpcErrorCode::Forbidden) => "That is not yours, or it is private.",
        (Lang::Ko, IpcErrorCode::Forbidden) => "내 것이 아니거나 비공개입니다.",
        (Lang::En, IpcErrorCode::Internal) => "Something went wrong inside MovieTalk.",
        (Lang::Ko, IpcErrorCode::Internal) => "MovieTalk 내부 오류가 발생했습니다.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names, symbols and the language switch itself may read the same in both languages.
    const SAME_IN_BOTH: &[Text] = &[Text::AppName];

    #[test]
    fn every_text_is_translated() {
        for key in ALL {
            let (en, ko) = (t(Lang::En, *key), t(Lang::Ko, *key));
            assert!(!en.is_empty() && !ko.is_empty(), "{key:?} is empty");
            if !SAME_IN_BOTH.contains(key) {
                assert_ne!(en, ko, "{key:?} is not translated");
            }
            assert_eq!(
                en.matches("{}").count(),
                ko.matches("{}").count(),
                "{key:?}: the two languages take different arguments"
            );
        }
    }

    #[test]
    fn placeholders_are_filled_in_order() {
        assert_eq!(
            tf(Lang::En, Text::ImportDone, &["1", "2", "3"]),
            "Imported: 1 new, 2 updated, 3 unchanged."
        );
        assert_eq!(tf(Lang::Ko, Text::PendingWrites, &["4"]), "전송 대기 4건");
    }
}
