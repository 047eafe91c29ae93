//! The list of movies for the current search, with loading, empty and error states.

use movietalk_protocol::ipc::{IpcError, MoviePage, MovieSummary};
use yew::prelude::*;

use crate::i18n::{Lang, Text, error_text, t};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub lang: Lang,
    /// `None` while the first search runs.
    pub page: Option<Result<MoviePage, IpcError>>,
}

#[function_component(MovieList)]
pub fn movie_list(props: &Props) -> Html {
    let l = props.lang;
    let body = match &props.page {
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
                <ul class="movies" id="movies">
                    { for page.movies.iter().map(|m| html! { <MovieCard key={m.key.clone()} lang={l} movie={m.clone()} /> }) }
                </ul>
            </>
        },
    };
    html! { <section class="catalog" aria-label={ t(l, Text::Movies) }>{ body }</section> }
}

#[derive(Properties, PartialEq)]
struct CardProps {
    lang: Lang,
    movie: MovieSummary,
}

#[function_component(MovieCard)]
fn movie_card(props: &CardProps) -> Html {
    let m = &props.movie;
    // In Korean, the Korean title leads and the English one follows; in English, the reverse.
    let (main, other) = match (props.lang, &m.title_ko) {
        (Lang::Ko, Some(ko)) => (ko.clone(), Some(m.title.clone())),
        (_, ko) => (m.title.clone(), ko.clone()),
    };
    let overview = match props.lang {
        Lang::Ko => m.overview_ko.as_ref().or(m.overview.as_ref()),
        Lang::En => m.overview.as_ref().or(m.overview_ko.as_ref()),
    };
    let year = m.year.map(|y| y.to_string()).unwrap_or_default();
    let sub = [
        Some(year),
        other,
        (!m.directors.is_empty()).then(|| m.directors.join(", ")),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    html! {
        <li class="movie-card" data-key={m.key.clone()}>
            <h2 class="title">{ main }</h2>
            <p class="sub">{ sub }</p>
            <div class="genres">{ for m.genres.iter().map(|g| html! { <span class="genre">{ g }</span> }) }</div>
            if let Some(o) = overview { <p class="overview">{ o }</p> }
        </li>
    }
}
