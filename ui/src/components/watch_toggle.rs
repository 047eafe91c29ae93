//! The "+ Watchlist" button of a film, on its page and on every card: saved here at once (the
//! next sync shares it), and showing the film's new standing as soon as it is saved.

use yew::prelude::*;

use crate::i18n::{Text, t};
use crate::ipc::{self, cmd};
use crate::route::use_ctx;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub movie_key: String,
    /// On the watchlist as the screen last loaded it.
    pub on: bool,
    #[prop_or_default]
    pub id: Option<AttrValue>,
    /// Told the new standing after it was saved.
    #[prop_or_default]
    pub on_change: Callback<bool>,
}

#[function_component(WatchToggle)]
pub fn watch_toggle(props: &Props) -> Html {
    let l = use_ctx().lang;
    let on = use_state(|| props.on);
    {
        // A reload of the screen brings the stored standing.
        let on = on.clone();
        use_effect_with(props.on, move |loaded| on.set(*loaded));
    }
    let failed = use_state(|| false);
    let toggle = {
        let (on, failed) = (on.clone(), failed.clone());
        let key = props.movie_key.clone();
        let told = props.on_change.clone();
        Callback::from(move |e: MouseEvent| {
            // Not the card's own click, which opens the film.
            e.stop_propagation();
            let want = !*on;
            let (on, failed, key, told) = (on.clone(), failed.clone(), key.clone(), told.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::SetWatchlist { key, on: want }).await {
                    Ok(_) => {
                        on.set(want);
                        failed.set(false);
                        told.emit(want);
                    }
                    Err(_) => failed.set(true),
                }
            });
        })
    };
    let label = if *on {
        t(l, Text::OnWatchlist)
    } else {
        t(l, Text::AddToWatchlist)
    };
    html! {
        <button class={classes!("watch-toggle", on.then_some("on"), failed.then_some("failed"))}
            id={props.id.clone()} data-key={props.movie_key.clone()} aria-pressed={on.to_string()}
            title={failed.then(|| t(l, Text::WatchlistFailed))}
            onclick={toggle} onkeydown={Callback::from(|e: KeyboardEvent| e.stop_propagation())}>
            { label }
        </button>
    }
}
