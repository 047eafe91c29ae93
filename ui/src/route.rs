//! Where the window is, and the context every screen reads: language, navigation, who is
//! logged in, and a counter that moves whenever a sync brought something new.

use movietalk_protocol::relay::Account;
use yew::prelude::*;

use crate::i18n::Lang;

/// A screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Home,
    Browse,
    /// Reviews by the people this user follows.
    Feed,
    /// The films this user means to watch.
    Watchlist,
    /// The watches this user logged.
    Diary,
    /// This user's year in film.
    Stats,
    /// Results for the header's search box.
    Search,
    Movie(String),
    Review(u64),
    /// A profile; `None`: this user's own.
    Profile(Option<String>),
    /// The chat screen, optionally opening a room.
    Chat(Option<String>),
    Account,
    Settings,
}

/// What every screen may read.
#[derive(Debug, Clone, PartialEq)]
pub struct Ctx {
    pub lang: Lang,
    pub go: Callback<Route>,
    /// The logged-in account, if any.
    pub account: Option<Account>,
    /// The name this app chats under when not logged in.
    pub guest_name: String,
    pub online: bool,
    /// Moves when a sync finished; screens showing relay data reload on it.
    pub synced: u64,
    /// The current search text (the header's box).
    pub query: String,
    /// How this platform's webview reaches the shell's `poster:` and `avatar:` protocols.
    pub asset_urls: movietalk_protocol::ipc::AssetUrls,
}

impl Ctx {
    /// The address of a shell protocol's `path`, as Tauri's `convertFileSrc` makes it here.
    pub fn asset_url(&self, protocol: &str, path: &str) -> String {
        self.asset_urls
            .url(protocol, &String::from(js_sys::encode_uri_component(path)))
    }

    /// The name this user's chat messages carry.
    pub fn chat_name(&self) -> &str {
        self.account
            .as_ref()
            .map_or(self.guest_name.as_str(), |a| a.handle.as_str())
    }
}

/// The context; every screen sits under the provider.
#[hook]
pub fn use_ctx() -> Ctx {
    use_context::<Ctx>().expect("screens are rendered under the app's context")
}
