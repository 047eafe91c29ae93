//! Home: personal recommendations with their reasons (the community's best-rated and
//! acclaimed picks, and a prompt to rate a few films, until there are a few ratings),
//! popular films, and the rooms to continue chatting in.

use yew::prelude::*;

use crate::components::movie_list::{MovieCard, MovieGrid};
use crate::i18n::{Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::{loaded, use_load};
use crate::route::{Route, use_ctx};
use movietalk_protocol::ipc::{FEW_RATINGS, Sort};

#[function_component(HomePage)]
pub fn home_page() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    // Popular films come straight from the catalog; recommendations may first need the content
    // index (rebuilt after an import), so they load on their own and never hold up the list.
    let popular = use_load((), |()| async {
        ipc::call(cmd::SearchMovies {
            limit: 12,
            sort: Some(Sort::Popularity),
            ..cmd::SearchMovies::default()
        })
        .await
    });
    let home = use_load(ctx.synced, |_| ipc::call(cmd::Home {}));
    let popular_section = html! {
        <section aria-labelledby="popular-title">
            <h2 id="popular-title">{ t(l, Text::Popular) }</h2>
            { loaded(l, &popular, |page: &movietalk_protocol::ipc::MoviePage| html! { <MovieGrid movies={page.movies.clone()} id="popular" /> }) }
        </section>
    };
    let body = loaded(l, &home, |home| {
        let recs = home.recommendations.iter().map(|r| {
            let join = |titles: &[String]| {
                titles.join(if l == crate::i18n::Lang::Ko {
                    ", "
                } else {
                    " and "
                })
            };
            let note = if let Some(genre) = &r.popular_in {
                Some(tf(l, Text::PopularIn, &[genre]))
            } else {
                let mut why = Vec::new();
                if !r.because.is_empty() {
                    why.push(tf(l, Text::BecauseYouLiked, &[&join(&r.because)]));
                }
                if !r.community_because.is_empty() {
                    why.push(tf(l, Text::FansAlsoLiked, &[&join(&r.community_because)]));
                }
                (!why.is_empty()).then(|| why.join(" · "))
            };
            html! { <MovieCard key={r.movie.key.clone()} movie={r.movie.clone()} note={note} /> }
        });
        html! {
            <>
                <section aria-labelledby="recs-title">
                    <h2 id="recs-title">{ t(l, if home.cold_start { Text::StartHere } else { Text::RecommendedForYou }) }</h2>
                    if home.cold_start {
                        <p class="hint" id="rate-a-few">{ tf(
                            l,
                            Text::RateAFewMore,
                            &[&FEW_RATINGS.saturating_sub(home.rated).to_string()],
                        ) }</p>
                    }
                    <ul class="movies" id="recommendations">{ for recs }</ul>
                </section>
                if !home.recent_rooms.is_empty() {
                    <section aria-labelledby="rooms-title">
                        <h2 id="rooms-title">{ t(l, Text::ContinueChat) }</h2>
                        <div class="chips" id="recent-rooms">
                            { for home.recent_rooms.iter().map(|room| {
                                let go = ctx.go.clone();
                                let r = room.clone();
                                html! { <button class="chip" onclick={Callback::from(move |_| go.emit(Route::Chat(Some(r.clone()))))}>{ room }</button> }
                            }) }
                        </div>
                    </section>
                }
            </>
        }
    });
    html! { <div class="page home" id="home-page">{ body }{ popular_section }</div> }
}
