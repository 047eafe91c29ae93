//! The window: a header (navigation, the search box — Ctrl/Cmd+K from anywhere — and the
//! language switch), the current screen, and the status bar.

use movietalk_protocol::ipc::{AppInfo, Settings, SyncStatus, Theme, UpdateAvailable};
use movietalk_protocol::relay::Account;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::status_bar::StatusBar;
use crate::i18n::{Lang, Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::account::AccountPage;
use crate::pages::browse::BrowsePage;
use crate::pages::chat::ChatPage;
use crate::pages::diary::DiaryPage;
use crate::pages::feed::FeedScreen;
use crate::pages::home::HomePage;
use crate::pages::movie::MoviePage;
use crate::pages::profile::ProfilePage;
use crate::pages::review::ReviewScreen;
use crate::pages::search::SearchPage;
use crate::pages::settings::{SettingsPage, settings_lang};
use crate::pages::stats::StatsPage;
use crate::pages::watchlist::WatchlistPage;
use crate::route::{Ctx, Route};

#[function_component(App)]
pub fn app() -> Html {
    let detected = use_memo((), |()| Lang::initial());
    let lang = use_state(|| *detected);
    let theme = use_state(Theme::default);
    let route = use_state(|| Route::Home);
    let history = use_mut_ref(Vec::<Route>::new);
    let query = use_state(String::new);
    let info = use_state(|| None::<AppInfo>);
    let sync = use_state(|| None::<SyncStatus>);
    let account = use_state(|| None::<Account>);
    let synced = use_state(|| 0u64);
    let search_ref = use_node_ref();
    // A newer version the shell found at start, until installed or put off.
    let update = use_state(|| None::<UpdateAvailable>);
    {
        let update = update.clone();
        use_effect_with((), move |()| {
            let subscription = ipc::on_update_available({
                let update = update.clone();
                move |u| update.set(Some(u))
            });
            // The check may have finished before this listened.
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(Some(u)) = ipc::call(cmd::PendingUpdate {}).await {
                    update.set(Some(u));
                }
            });
            move || drop(subscription)
        });
    }

    let go = {
        let (route, history) = (route.clone(), history.clone());
        Callback::from(move |next: Route| {
            if *route != next {
                history.borrow_mut().push((*route).clone());
                route.set(next);
            }
        })
    };
    let back = {
        let (route, history) = (route.clone(), history.clone());
        Callback::from(move |_| {
            if let Some(previous) = history.borrow_mut().pop() {
                route.set(previous);
            }
        })
    };
    let refresh_session = {
        let account = account.clone();
        Callback::from(move |()| {
            let account = account.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(s) = ipc::call(cmd::Session {}).await {
                    account.set(s.account);
                }
            });
        })
    };
    let apply_settings = {
        let (lang, theme, detected) = (lang.clone(), theme.clone(), *detected);
        Callback::from(move |s: Settings| {
            let l = settings_lang(&s, detected);
            l.save();
            lang.set(l);
            theme.set(s.theme);
        })
    };
    {
        let (info, sync, synced, refresh_session, apply_settings) = (
            info.clone(),
            sync.clone(),
            synced.clone(),
            refresh_session.clone(),
            apply_settings.clone(),
        );
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local({
                let (info, sync) = (info.clone(), sync.clone());
                async move {
                    if let Ok(s) = ipc::call(cmd::GetSettings {}).await {
                        apply_settings.emit(s);
                    }
                    match ipc::call(cmd::AppInfo {}).await {
                        Ok(i) => info.set(Some(i)),
                        Err(e) => web_sys::console::error_1(&e.to_string().into()),
                    }
                    if let Ok(s) = ipc::call(cmd::SyncStatus {}).await {
                        sync.set(Some(s));
                    }
                }
            });
            refresh_session.emit(());
            // A sync that pulled or delivered something moves `synced` (screens showing relay
            // data reload); after any sync the login state may have changed with a reconnect.
            let last_sync = std::rc::Rc::new(std::cell::Cell::new(None::<u64>));
            let last_changes = std::rc::Rc::new(std::cell::Cell::new(0u64));
            let subscription = ipc::on_sync(move |s: SyncStatus| {
                if s.last_sync_ms != last_sync.get() {
                    last_sync.set(s.last_sync_ms);
                    refresh_session.emit(());
                }
                if s.changes != last_changes.get() {
                    last_changes.set(s.changes);
                    synced.set(s.changes);
                }
                sync.set(Some(s));
            });
            move || drop(subscription)
        });
    }
    {
        // Ctrl+K / Cmd+K focuses the search box from anywhere.
        let search_ref = search_ref.clone();
        use_effect_with((), move |()| {
            let handler = Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
                if (e.ctrl_key() || e.meta_key()) && e.key().eq_ignore_ascii_case("k") {
                    e.prevent_default();
                    if let Some(input) = search_ref.cast::<HtmlInputElement>() {
                        let _ = input.focus();
                        input.select();
                    }
                }
            });
            let document = web_sys::window().and_then(|w| w.document());
            if let Some(d) = &document {
                let _ =
                    d.add_event_listener_with_callback("keydown", handler.as_ref().unchecked_ref());
            }
            move || {
                if let Some(d) = document {
                    let _ = d.remove_event_listener_with_callback(
                        "keydown",
                        handler.as_ref().unchecked_ref(),
                    );
                }
            }
        });
    }
    {
        let (l, th) = (*lang, *theme);
        use_effect_with((l, th), |(l, th)| {
            if let Some(root) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.document_element())
            {
                let _ = root.set_attribute("lang", l.code());
                let _ = root.set_attribute(
                    "data-theme",
                    match th {
                        Theme::System => "system",
                        Theme::Light => "light",
                        Theme::Dark => "dark",
                    },
                );
            }
        });
    }

    let on_input = {
        let (query, go) = (query.clone(), go.clone());
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let text = input.value();
            if !text.trim().is_empty() {
                go.emit(Route::Search);
            }
            query.set(text);
        })
    };
    let toggle_lang = {
        let lang = lang.clone();
        Callback::from(move |_| {
            let next = lang.other();
            next.save();
            lang.set(next);
            // Remember it in the settings too, so the choice survives a cleared web cache.
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(mut s) = ipc::call(cmd::GetSettings {}).await {
                    s.language = Some(next.code().to_owned());
                    let _ = ipc::call(cmd::SetSettings {
                        settings: s.clone(),
                    })
                    .await;
                }
            });
        })
    };
    let l = *lang;
    let ctx = Ctx {
        lang: l,
        go: go.clone(),
        account: (*account).clone(),
        guest_name: info
            .as_ref()
            .map(|i| i.user_name.clone())
            .unwrap_or_default(),
        online: matches!(
            sync.as_ref().map(|s| &s.relay),
            Some(movietalk_protocol::ipc::RelayStatus::Online)
        ),
        synced: *synced,
        asset_urls: info.as_ref().map(|i| i.asset_urls).unwrap_or_default(),
        query: (*query).clone(),
    };
    let nav = |target: Route, id: &'static str, text: Text| {
        let go = go.clone();
        let active = std::mem::discriminant(&*route) == std::mem::discriminant(&target);
        html! {
            <button id={id} class={classes!("nav", active.then_some("active"))} aria-current={active.then_some("page")}
                onclick={Callback::from(move |_| go.emit(target.clone()))}>{ t(l, text) }</button>
        }
    };
    let on_account_change = {
        let refresh_session = refresh_session.clone();
        Callback::from(move |()| refresh_session.emit(()))
    };
    let page = match &*route {
        Route::Home => html! { <HomePage /> },
        Route::Browse => html! { <BrowsePage /> },
        Route::Feed => html! { <FeedScreen /> },
        Route::Watchlist => html! { <WatchlistPage /> },
        Route::Diary => html! { <DiaryPage /> },
        Route::Stats => html! { <StatsPage /> },
        Route::Search => html! { <SearchPage /> },
        Route::Movie(key) => html! { <MoviePage key={key.clone()} movie_key={key.clone()} /> },
        Route::Review(id) => html! { <ReviewScreen key={*id} review_id={*id} /> },
        Route::Profile(h) => {
            html! { <ProfilePage handle={h.clone()} on_account_change={on_account_change} /> }
        }
        Route::Chat(room) => html! { <ChatPage room={room.clone()} /> },
        Route::Account => {
            let account = account.clone();
            html! { <AccountPage on_session={Callback::from(move |s: movietalk_protocol::ipc::SessionInfo| account.set(s.account))} /> }
        }
        Route::Settings => {
            html! { <SettingsPage info={(*info).clone()} on_saved={apply_settings.clone()} /> }
        }
    };
    let account_label = account.as_ref().map(|a| format!("@{}", a.handle));
    html! {
        <ContextProvider<Ctx> context={ctx}>
            <div class="app">
                <header>
                    <h1>{ t(l, Text::AppName) }</h1>
                    <button class="nav back" id="back" aria-label={ t(l, Text::Back) } disabled={history.borrow().is_empty()} onclick={back}>{ format!("‹ {}", t(l, Text::Back)) }</button>
                    <nav aria-label={ t(l, Text::Navigation) }>
                        { nav(Route::Home, "nav-home", Text::Home) }
                        { nav(Route::Browse, "nav-browse", Text::Browse) }
                        { nav(Route::Feed, "nav-feed", Text::Feed) }
                        { nav(Route::Watchlist, "nav-watchlist", Text::Watchlist) }
                        { nav(Route::Diary, "nav-diary", Text::Diary) }
                        { nav(Route::Stats, "nav-stats", Text::Stats) }
                        { nav(Route::Chat(None), "nav-chat", Text::Chat) }
                        { nav(Route::Profile(None), "nav-profile", Text::Profile) }
                        { nav(Route::Settings, "nav-settings", Text::Settings) }
                    </nav>
                    <input id="search" type="search" ref={search_ref} autofocus=true
                        aria-label={ t(l, Text::SearchLabel) } placeholder={ t(l, Text::SearchPlaceholder) }
                        value={(*query).clone()} oninput={on_input}
                        onfocus={{ let go = go.clone(); let q = query.clone(); Callback::from(move |_| if !q.trim().is_empty() { go.emit(Route::Search) }) }} />
                    <button id="nav-account" class="nav" onclick={{ let go = go.clone(); Callback::from(move |_| go.emit(Route::Account)) }}>
                        { account_label.unwrap_or_else(|| t(l, Text::LogIn).to_owned()) }
                    </button>
                    <button id="lang-toggle" onclick={toggle_lang}>{ t(l, Text::SwitchLanguage) }</button>
                </header>
                if let Some(u) = &*update {
                    <div class="warning row" id="update-available" role="status">
                        <span>{ tf(l, Text::UpdateAvailable, &[&u.version]) }</span>
                        <button class="primary" id="install-update" onclick={Callback::from(|_| {
                            wasm_bindgen_futures::spawn_local(async {
                                if let Err(e) = ipc::call(cmd::InstallUpdate {}).await {
                                    web_sys::console::error_1(&e.to_string().into());
                                }
                            })
                        })}>{ t(l, Text::InstallUpdate) }</button>
                        <button id="update-later" onclick={{ let update = update.clone(); Callback::from(move |_| update.set(None)) }}>{ t(l, Text::Later) }</button>
                    </div>
                }
                <main>{ page }</main>
                <StatusBar info={(*info).clone()} sync={(*sync).clone()} />
            </div>
        </ContextProvider<Ctx>>
    }
}
