//! The watchlist: the films this user means to watch, in the order chosen, with a pick for
//! tonight that favours what the recommendations rank highest, and whether others may see it.
//! Read from this machine, so it works offline.

use movietalk_protocol::ipc::{WatchlistEntry, WatchlistSort, WatchlistView};
use yew::prelude::*;

use crate::components::movie_list::{MovieCard, MovieGrid};
use crate::i18n::{Lang, Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::{checked, error_note, loaded, select_value, use_load};
use crate::route::use_ctx;

fn sort_text(l: Lang, s: WatchlistSort) -> &'static str {
    t(
        l,
        match s {
            WatchlistSort::Added => Text::SortAdded,
            WatchlistSort::ForYou => Text::SortForYou,
            WatchlistSort::Title => Text::SortTitle,
            WatchlistSort::Year => Text::SortNewest,
        },
    )
}

#[function_component(WatchlistPage)]
pub fn watchlist_page() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let sort = use_state(WatchlistSort::default);
    let changed = use_state(|| 0u32);
    let list = use_load((*sort, ctx.synced, *changed), |(sort, _, _)| async move {
        ipc::call(cmd::Watchlist { sort }).await
    });
    let tonight =
        use_state(|| None::<Result<Option<WatchlistEntry>, movietalk_protocol::ipc::IpcError>>);
    let bump = {
        let changed = changed.clone();
        Callback::from(move |_: bool| changed.set(*changed + 1))
    };
    let on_sort = {
        let sort = sort.clone();
        Callback::from(move |e: Event| {
            if let Some(s) = WatchlistSort::named(&select_value(&e)) {
                sort.set(s);
            }
        })
    };
    let pick = {
        let tonight = tonight.clone();
        Callback::from(move |_| {
            let not_this = match &*tonight {
                Some(Ok(Some(e))) => Some(e.movie.key.clone()),
                _ => None,
            };
            let tonight = tonight.clone();
            wasm_bindgen_futures::spawn_local(async move {
                tonight.set(Some(ipc::call(cmd::PickForTonight { not_this }).await));
            });
        })
    };
    let on_public = {
        let changed = changed.clone();
        Callback::from(move |e: Event| {
            let public = checked(&e);
            let changed = changed.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if ipc::call(cmd::SetWatchlistPublic { public }).await.is_ok() {
                    changed.set(*changed + 1);
                }
            });
        })
    };
    let body = loaded(l, &list, |v: &WatchlistView| {
        if v.films.is_empty() {
            return html! { <p class="empty" id="watchlist-empty">{ t(l, Text::WatchlistEmpty) }</p> };
        }
        let picked = match &*tonight {
            None | Some(Ok(None)) => html! {},
            Some(Err(e)) => error_note(l, e),
            Some(Ok(Some(e))) => html! {
                <div id="tonight" class="tonight" role="status">
                    <h3>{ t(l, Text::TonightPick) }</h3>
                    <ul class="movies"><MovieCard movie={e.movie.clone()} on_watchlist={bump.clone()} /></ul>
                </div>
            },
        };
        let again = matches!(&*tonight, Some(Ok(Some(_))));
        html! {
            <>
                <div class="row toolbar">
                    <span id="watchlist-count">{ tf(l, Text::WatchlistCount, &[&v.films.len().to_string()]) }</span>
                    <label>{ t(l, Text::SortBy) }
                        <select id="watchlist-sort" onchange={on_sort.clone()}>
                            { for WatchlistSort::ALL.iter().map(|s| html! {
                                <option value={s.as_str()} selected={*s == *sort}>{ sort_text(l, *s) }</option>
                            }) }
                        </select>
                    </label>
                    <button class="primary" id="pick-tonight" onclick={pick.clone()}>
                        { t(l, if again { Text::PickAnother } else { Text::PickTonight }) }
                    </button>
                </div>
                { picked }
                <MovieGrid movies={v.films.iter().map(|e| e.movie.clone()).collect::<Vec<_>>()} id="watchlist" on_watchlist={bump.clone()} />
                <label class="row">
                    <input type="checkbox" id="watchlist-public" checked={v.public} onchange={on_public.clone()} />
                    { t(l, Text::WatchlistPublic) }
                </label>
            </>
        }
    });
    html! {
        <section class="page watchlist-page" id="watchlist-page">
            <h2>{ t(l, Text::Watchlist) }</h2>
            { body }
        </section>
    }
}
