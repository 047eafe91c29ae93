//! Movie cards and grids, with a drawn poster placeholder (the catalog carries no images for
//! most films, and the window never loads one from the network).

use movietalk_protocol::ipc::{IpcError, MoviePage, MovieSummary};
use yew::prelude::*;

use crate::components::watch_toggle::WatchToggle;
use crate::i18n::{Lang, Text, error_text, t};
use crate::route::{Route, use_ctx};

/// The title to lead with and the other one: in Korean the Korean title leads.
pub fn titles(lang: Lang, m: &MovieSummary) -> (String, Option<String>) {
    match (lang, &m.title_ko) {
        (Lang::Ko, Some(ko)) => (ko.clone(), Some(m.title.clone())),
        (_, ko) => (m.title.clone(), ko.clone()),
    }
}

/// The synopsis in the user's language when there is one, else the other.
pub fn overview(lang: Lang, m: &MovieSummary) -> Option<&String> {
    match lang {
        Lang::Ko => m.overview_ko.as_ref().or(m.overview.as_ref()),
        Lang::En => m.overview.as_ref().or(m.overview_ko.as_ref()),
    }
}

#[derive(Properties, PartialEq)]
pub struct PosterProps {
    pub title: String,
    pub movie_key: String,
    /// A poster is cached on disk (served by the shell's `poster:` protocol).
    #[prop_or_default]
    pub cached: bool,
}

/// Colours a placeholder poster may take (`.hue-0` … in the stylesheet). A class, not an inline
/// style: the Content-Security-Policy allows no inline styles.
const POSTER_HUES: u32 = 12;

/// A placeholder poster: the title's first letter on a colour chosen from the film's key.
#[function_component(Poster)]
pub fn poster(props: &PosterProps) -> Html {
    let ctx = crate::route::use_ctx();
    let hue = props
        .movie_key
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
        % POSTER_HUES;
    if props.cached {
        let src = ctx.asset_url("poster", &props.movie_key);
        return html! { <img class="poster" alt="" src={src} /> };
    }
    let initial = props
        .title
        .chars()
        .find(|c| c.is_alphanumeric())
        .map(String::from)
        .unwrap_or_default();
    html! {
        <div class={classes!("poster", format!("hue-{hue}"))} aria-hidden="true">
            <span>{ initial }</span>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct CardProps {
    pub movie: MovieSummary,
    /// A line under the title: why it is recommended.
    #[prop_or_default]
    pub note: Option<String>,
    /// Told when the card's watchlist button changed the film's standing.
    #[prop_or_default]
    pub on_watchlist: Callback<bool>,
}

/// A film as a card; Enter or a click opens its page.
#[function_component(MovieCard)]
pub fn movie_card(props: &CardProps) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let m = &props.movie;
    let (main, other) = titles(l, m);
    let sub = [
        m.year.map(|y| y.to_string()),
        other,
        (!m.directors.is_empty()).then(|| m.directors.join(", ")),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    let open = {
        let go = ctx.go.clone();
        let key = m.key.clone();
        Callback::from(move |_| go.emit(Route::Movie(key.clone())))
    };
    let on_key = {
        let open = open.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" {
                open.emit(());
            }
        })
    };
    html! {
        <li class="movie-card" data-key={m.key.clone()} tabindex="0" role="link" aria-label={main.clone()}
            onclick={open.reform(|_: MouseEvent| ())} onkeydown={on_key}>
            <Poster title={main.clone()} movie_key={m.key.clone()} cached={m.poster} />
            <div class="card-body">
                <h3 class="title">{ main }</h3>
                <p class="sub">{ sub }</p>
                if let Some(note) = &props.note { <p class="note">{ note }</p> }
                <div class="genres">{ for m.genres.iter().take(4).map(|g| html! { <span class="genre">{ g }</span> }) }</div>
                if let Some(o) = overview(l, m) { <p class="overview">{ o }</p> }
                <WatchToggle movie_key={m.key.clone()} on={m.on_watchlist} on_change={props.on_watchlist.clone()} />
            </div>
        </li>
    }
}

#[derive(Properties, PartialEq)]
pub struct GridProps {
    pub movies: Vec<MovieSummary>,
    #[prop_or_default]
    pub id: Option<AttrValue>,
    /// Told when a card's watchlist button changed a film's standing.
    #[prop_or_default]
    pub on_watchlist: Callback<bool>,
}

#[function_component(MovieGrid)]
pub fn movie_grid(props: &GridProps) -> Html {
    html! {
        <ul class="movies" id={props.id.clone()}>
            { for props.movies.iter().map(|m| html! {
                <MovieCard key={m.key.clone()} movie={m.clone()} on_watchlist={props.on_watchlist.clone()} />
            }) }
        </ul>
    }
}

#[derive(Properties, PartialEq)]
pub struct ResultsProps {
    /// `None` while the first search runs.
    pub page: Option<Result<MoviePage, IpcError>>,
}

/// Search results with loading, empty, error and "recommended instead" states.
#[function_component(SearchResults)]
pub fn search_results(props: &ResultsProps) -> Html {
    let l = use_ctx().lang;
    match &props.page {
        None => html! { <p class="empty">{ t(l, Text::Loading) }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ error_text(l, e.code) }</p> },
        Some(Ok(page)) if page.movies.is_empty() => {
            html! { <p class="empty" id="no-results">{ t(l, Text::NoMatches) }</p> }
        }
        Some(Ok(page)) => html! {
            <>
                if page.fallback {
                    <p class="fallback" id="fallback-note" role="status">{ t(l, Text::FallbackNote) }</p>
                } else {
                    <p class="result-count" id="result-count">{ format!("{} {}", page.total, t(l, Text::ResultCount)) }</p>
                }
                <MovieGrid movies={page.movies.clone()} id="movies" />
            </>
        },
    }
}
