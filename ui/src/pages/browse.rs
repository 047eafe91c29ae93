//! Browse by genre, by decade, or popular — as one virtualised list: only the rows in view
//! (and a margin) are in the page, and pages of films are fetched as they scroll into view, so
//! a 10,000-film genre scrolls as smoothly as a 10-film one. Rows are placed through the CSS
//! object model after each render (the Content-Security-Policy forbids inline `style`).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use movietalk_protocol::ipc::{MovieSummary, Sort};
use yew::prelude::*;

use crate::components::movie_list::{Poster, titles};
use crate::components::watch_toggle::WatchToggle;
use crate::i18n::{Text, t};
use crate::ipc::{self, cmd};
use crate::pages::{error_note, use_load};
use crate::route::{Route, use_ctx};

/// Height of one row, in CSS pixels (the stylesheet's `.vrow` must match).
const ROW: f64 = 64.0;
/// Films fetched per request.
const FETCH: u32 = 100;
/// The rendered window moves in steps of this many rows, so most scroll frames change nothing
/// in the page and only the browser's own scrolling runs.
const CHUNK: usize = 8;
/// Rows kept above and below the visible ones (more than a chunk, so a step never shows a gap).
const MARGIN: usize = CHUNK + 4;
const DECADES: [i32; 11] = [
    1920, 1930, 1940, 1950, 1960, 1970, 1980, 1990, 2000, 2010, 2020,
];

/// What is being browsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shelf {
    Popular,
    Genre(String),
    Decade(i32),
}

impl Shelf {
    fn search(&self, offset: u32) -> cmd::SearchMovies {
        let mut s = cmd::SearchMovies {
            limit: FETCH,
            offset,
            ..cmd::SearchMovies::default()
        };
        match self {
            Shelf::Popular => s.sort = Some(Sort::Popularity),
            Shelf::Genre(g) => {
                s.genre = Some(g.clone());
                s.sort = Some(Sort::Popularity);
            }
            Shelf::Decade(d) => {
                s.year_from = Some(*d);
                s.year_to = Some(d + 9);
                s.sort = Some(Sort::Popularity);
            }
        }
        s
    }
}

/// Fetched pages of the current shelf.
#[derive(Default)]
struct Pages {
    rows: HashMap<u32, Vec<MovieSummary>>,
    asked: HashSet<u32>,
}

#[function_component(BrowsePage)]
pub fn browse_page() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let shelf = use_state(|| Shelf::Popular);
    let genres = use_load((), |()| ipc::call(cmd::Genres {}));
    let total = use_state(|| None::<u64>);
    let error = use_state(|| None);
    let pages = use_mut_ref(Pages::default);
    // Bumped when a page arrives, to re-render.
    let arrived = use_state(|| 0u32);
    // The first row in view and the view's height, in rows: re-rendered only when they change.
    let top_row = use_state_eq(|| 0usize);
    let viewport = use_state_eq(|| 13usize);
    let list_ref = use_node_ref();

    let fetch = {
        let pages = pages.clone();
        let arrived = arrived.clone();
        let total = total.clone();
        let error = error.clone();
        let shelf = (*shelf).clone();
        Rc::new(move |page: u32| {
            if !pages.borrow_mut().asked.insert(page) {
                return;
            }
            let (pages, arrived, total, error, search) = (
                pages.clone(),
                arrived.clone(),
                total.clone(),
                error.clone(),
                shelf.search(page * FETCH),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(search).await {
                    Ok(found) => {
                        total.set(Some(found.total));
                        pages.borrow_mut().rows.insert(page, found.movies);
                        arrived.set(*arrived + 1);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    {
        // A new shelf starts over at the top.
        let (pages, fetch, list_ref, top_row, total) = (
            pages.clone(),
            fetch.clone(),
            list_ref.clone(),
            top_row.clone(),
            total.clone(),
        );
        use_effect_with((*shelf).clone(), move |_| {
            *pages.borrow_mut() = Pages::default();
            total.set(None);
            top_row.set(0);
            if let Some(el) = list_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(0);
            }
            fetch(0);
        });
    }

    let first = top_row.saturating_sub(MARGIN);
    let count = *viewport + 2 * MARGIN + 1;
    let n = total.unwrap_or(0) as usize;
    let last = (first + count).min(n);
    for page in (first as u32 / FETCH)..=((last.max(1) as u32 - 1) / FETCH) {
        if !pages.borrow().asked.contains(&page) && (page as usize) * (FETCH as usize) < n.max(1) {
            fetch(page);
        }
    }

    {
        // Place the rows: the list is as tall as all its rows, each row at its index's offset.
        let list_ref = list_ref.clone();
        use_effect(move || {
            use wasm_bindgen::JsCast;
            let Some(list) = list_ref.cast::<web_sys::Element>() else {
                return;
            };
            let Some(ul) = list
                .first_element_child()
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            else {
                return;
            };
            let _ = ul
                .style()
                .set_property("height", &format!("{}px", n as f64 * ROW));
            let rows = ul.children();
            for i in 0..rows.length() {
                let Some(row) = rows
                    .item(i)
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                else {
                    continue;
                };
                if let Some(index) = row
                    .get_attribute("data-index")
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    let _ = row
                        .style()
                        .set_property("top", &format!("{}px", index * ROW));
                }
            }
        });
    }
    let on_scroll = {
        let (top_row, viewport) = (top_row.clone(), viewport.clone());
        Callback::from(move |e: Event| {
            use wasm_bindgen::JsCast;
            if let Some(el) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            {
                top_row.set((el.scroll_top() as f64 / ROW) as usize / CHUNK * CHUNK);
                viewport.set((el.client_height() as f64 / ROW).ceil() as usize);
            }
        })
    };
    let chip = |label: String, target: Shelf, id: String| {
        let shelf = shelf.clone();
        let active = *shelf == target;
        html! {
            <button class={classes!("chip", active.then_some("active"))} id={id} aria-pressed={active.to_string()}
                onclick={Callback::from(move |_| shelf.set(target.clone()))}>{ label }</button>
        }
    };
    let rows = {
        let pages = pages.borrow();
        (first..last)
            .map(|i| {
                let page = pages.rows.get(&(i as u32 / FETCH)).and_then(|p| p.get(i % FETCH as usize));
                match page {
                    Some(m) => {
                        let (main, other) = titles(l, m);
                        let go = ctx.go.clone();
                        let key = m.key.clone();
                        let open = Callback::from(move |_| go.emit(Route::Movie(key.clone())));
                        let on_key = open.reform(|_: KeyboardEvent| ());
                        html! {
                            <li key={i} class="vrow" data-index={i.to_string()} data-key={m.key.clone()} tabindex="0" role="link"
                                onclick={open.reform(|_: MouseEvent| ())}
                                onkeydown={Callback::from(move |e: KeyboardEvent| if e.key() == "Enter" { on_key.emit(e) })}>
                                <Poster title={main.clone()} movie_key={m.key.clone()} cached={m.poster} />
                                <div>
                                    <strong>{ main }</strong>
                                    <span class="sub">{ [m.year.map(|y| y.to_string()), other, Some(m.genres.join(", "))]
                                        .into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" · ") }</span>
                                </div>
                                <WatchToggle movie_key={m.key.clone()} on={m.on_watchlist} />
                            </li>
                        }
                    }
                    None => html! { <li key={i} class="vrow placeholder" data-index={i.to_string()} aria-hidden="true"></li> },
                }
            })
            .collect::<Html>()
    };
    let genre_chips = match &*genres {
        Some(Ok(list)) => list
            .iter()
            .take(24)
            .map(|(g, n)| {
                chip(
                    format!("{g} {n}"),
                    Shelf::Genre(g.clone()),
                    format!("genre-{g}"),
                )
            })
            .collect::<Html>(),
        Some(Err(e)) => error_note(l, e),
        None => Html::default(),
    };
    let _ = &*arrived;
    html! {
        <div class="page browse" id="browse-page">
            <div class="chips" role="group" aria-label={ t(l, Text::Browse) }>
                { chip(t(l, Text::Popular).to_owned(), Shelf::Popular, "shelf-popular".into()) }
                { for DECADES.iter().map(|d| chip(format!("{d}s"), Shelf::Decade(*d), format!("decade-{d}"))) }
            </div>
            <div class="chips genres-row" role="group" aria-label={ t(l, Text::Genre) }>{ genre_chips }</div>
            if let Some(e) = &*error { { error_note(l, e) } }
            <p class="result-count" id="browse-count">
                { total.map(|n| format!("{n} {}", t(l, Text::ResultCount))).unwrap_or_else(|| t(l, Text::Loading).to_owned()) }
            </p>
            <div class="vlist" id="browse-list" ref={list_ref} onscroll={on_scroll}>
                <ul>{ rows }</ul>
            </div>
        </div>
    }
}
