//! The main screen: search box, movie list, chat panel, status bar.

use std::cell::Cell;
use std::rc::Rc;

use movietalk_protocol::ipc::{AppInfo, IpcError, MoviePage, RelayStatus};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::chat::ChatPanel;
use crate::components::movie_list::MovieList;
use crate::components::status_bar::StatusBar;
use crate::i18n::{Lang, Text, t};
use crate::ipc;

/// Movies fetched per search.
const PAGE_SIZE: u32 = 120;

#[function_component(App)]
pub fn app() -> Html {
    let lang = use_state(Lang::initial);
    let query = use_state(String::new);
    let page = use_state(|| None::<Result<MoviePage, IpcError>>);
    let info = use_state(|| None::<AppInfo>);
    let relay_status = use_state(|| None::<RelayStatus>);
    // Each search bumps the generation; a reply for an older one is dropped, so fast typing
    // never shows stale results.
    let generation = use_memo((), |()| Rc::new(Cell::new(0u64)));
    let search_ref = use_node_ref();

    {
        let page = page.clone();
        let generation = (*generation).clone();
        use_effect_with((*query).clone(), move |q| {
            let mine = generation.get() + 1;
            generation.set(mine);
            let q = q.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let result = ipc::search_movies(&q, PAGE_SIZE, 0).await;
                if generation.get() == mine {
                    page.set(Some(result));
                }
            });
        });
    }
    {
        let info = info.clone();
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::app_info().await {
                    Ok(i) => info.set(Some(i)),
                    Err(e) => web_sys::console::error_1(&e.to_string().into()),
                }
            });
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
        let lang = *lang;
        use_effect_with(lang, |lang| {
            if let Some(root) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.document_element())
            {
                let _ = root.set_attribute("lang", lang.code());
            }
        });
    }

    let on_input = {
        let query = query.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            query.set(input.value());
        })
    };
    let toggle_lang = {
        let lang = lang.clone();
        Callback::from(move |_| {
            let next = lang.other();
            next.save();
            lang.set(next);
        })
    };
    let on_status = {
        let relay_status = relay_status.clone();
        Callback::from(move |s: RelayStatus| relay_status.set(Some(s)))
    };
    let l = *lang;
    html! {
        <div class="app">
            <header>
                <h1>{ t(l, Text::AppName) }</h1>
                <input id="search" type="search" ref={search_ref} autofocus=true
                    aria-label={ t(l, Text::SearchLabel) } placeholder={ t(l, Text::SearchPlaceholder) }
                    value={ (*query).clone() } oninput={on_input} />
                <button id="lang-toggle" onclick={toggle_lang}>{ t(l, Text::SwitchLanguage) }</button>
            </header>
            <main>
                <MovieList lang={l} page={(*page).clone()} />
                <ChatPanel lang={l} user_name={ info.as_ref().map(|i| i.user_name.clone()).unwrap_or_default() }
                    on_status={on_status} />
            </main>
            <StatusBar lang={l} info={(*info).clone()} status={(*relay_status).clone()} />
        </div>
    }
}
