//! Search results for the header's box, as the user types, with filters and sorts.

use movietalk_protocol::ipc::{IpcError, MoviePage};
use yew::prelude::*;

use crate::components::movie_list::SearchResults;
use crate::i18n::{Text, t};
use crate::ipc::{self, cmd};
use crate::pages::{input_value, select_value, use_load};
use crate::route::use_ctx;
use movietalk_protocol::command::MAX_PAGE;
use movietalk_protocol::ipc::Sort;

/// Films per page of results.
const PAGE: u32 = 60;

#[function_component(SearchPage)]
pub fn search_page() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let genre = use_state(String::new);
    let year_from = use_state(String::new);
    let year_to = use_state(String::new);
    let sort = use_state(Sort::default);
    let limit = use_state(|| PAGE);
    let genres = use_load((), |()| ipc::call(cmd::Genres {}));
    let search = cmd::SearchMovies {
        query: ctx.query.clone(),
        limit: *limit,
        offset: 0,
        genre: Some((*genre).clone()).filter(|g| !g.is_empty()),
        year_from: year_from.trim().parse().ok(),
        year_to: year_to.trim().parse().ok(),
        sort: Some(*sort),
    };
    let page: crate::pages::Loaded<MoviePage> =
        use_load(search, |s| async move { ipc::call(s).await });
    let on_genre = {
        let genre = genre.clone();
        Callback::from(move |e: Event| genre.set(select_value(&e)))
    };
    let on_sort = {
        let sort = sort.clone();
        Callback::from(move |e: Event| sort.set(Sort::named(&select_value(&e)).unwrap_or_default()))
    };
    let on_from = {
        let year_from = year_from.clone();
        Callback::from(move |e: InputEvent| year_from.set(input_value(&e)))
    };
    let on_to = {
        let year_to = year_to.clone();
        Callback::from(move |e: InputEvent| year_to.set(input_value(&e)))
    };
    let more = {
        let limit = limit.clone();
        Callback::from(move |_| limit.set((*limit + PAGE).min(MAX_PAGE)))
    };
    let has_more = matches!(&*page, Some(Ok(p)) if !p.fallback && (p.movies.len() as u64) < p.total && *limit < MAX_PAGE);
    let genre_options = match &*genres {
        Some(Ok(list)) => list.clone(),
        _ => Vec::new(),
    };
    let current: Option<Result<MoviePage, IpcError>> = (*page).clone();
    html! {
        <div class="page search" id="search-page">
            <div class="filters" role="group" aria-label={ t(l, Text::Filters) }>
                <label>{ t(l, Text::Genre) }
                    <select id="filter-genre" onchange={on_genre}>
                        <option value="" selected={genre.is_empty()}>{ t(l, Text::AllGenres) }</option>
                        { for genre_options.iter().map(|(g, n)| html! {
                            <option value={g.clone()} selected={*genre == *g}>{ format!("{g} ({n})") }</option>
                        }) }
                    </select>
                </label>
                <label>{ t(l, Text::YearFrom) }
                    <input id="filter-from" type="number" min="1870" max="2100" value={(*year_from).clone()} oninput={on_from} />
                </label>
                <label>{ t(l, Text::YearTo) }
                    <input id="filter-to" type="number" min="1870" max="2100" value={(*year_to).clone()} oninput={on_to} />
                </label>
                <label>{ t(l, Text::SortBy) }
                    <select id="filter-sort" onchange={on_sort}>
                        { for [(Sort::Relevance, Text::SortRelevance), (Sort::Popularity, Text::SortPopularity), (Sort::Newest, Text::SortNewest),
                               (Sort::Oldest, Text::SortOldest), (Sort::Title, Text::SortTitle)].into_iter().map(|(v, label)| html! {
                            <option value={v.as_str()} selected={*sort == v}>{ t(l, label) }</option>
                        }) }
                    </select>
                </label>
            </div>
            <SearchResults page={current} />
            if has_more { <button class="more" id="more-results" onclick={more}>{ t(l, Text::ShowMore) }</button> }
        </div>
    }
}
