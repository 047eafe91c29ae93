//! The movie page: facts, synopsis in the user's language, your rating and review (saved here
//! at once, shared when the relay is reachable), everyone's reviews with likes, similar films,
//! and the way into the film's chat room.

use movietalk_protocol::ipc::{Delivery, IpcError, MovieDetail, MyReview, ReviewView};
use movietalk_protocol::relay::LikeTarget;
use yew::prelude::*;

use crate::components::avatar::Avatar;
use crate::components::movie_list::{MovieGrid, Poster, overview, titles};
use crate::components::stars::{StarInput, stars_text};
use crate::components::watch_toggle::WatchToggle;
use crate::i18n::{Lang, Text, t};
use crate::ipc::{self, cmd};
use crate::pages::diary::LogWatch;
use crate::pages::{checked, error_note, input_value, loaded, use_load};
use crate::route::{Route, use_ctx};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub movie_key: String,
}

/// Words for where a write of this user's is.
pub fn delivery_text(l: Lang, d: Delivery) -> &'static str {
    t(
        l,
        match d {
            Delivery::Pending => Text::DeliveryPending,
            Delivery::Sent => Text::DeliverySent,
            Delivery::Failed => Text::DeliveryFailed,
            Delivery::Superseded => Text::DeliverySuperseded,
        },
    )
}

#[function_component(MoviePage)]
pub fn movie_page(props: &Props) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    // Reload after a sync (others' reviews) and after this user's own writes.
    let saved = use_state(|| 0u32);
    let detail = use_load(
        (props.movie_key.clone(), ctx.synced, *saved),
        |(key, _, _)| async move { ipc::call(cmd::MovieDetail { key }).await },
    );
    let bump = {
        let saved = saved.clone();
        Callback::from(move |()| saved.set(*saved + 1))
    };
    let body = loaded(l, &detail, |d: &MovieDetail| {
        let m = &d.movie;
        let (main, other) = titles(l, m);
        let facts = [
            m.year.map(|y| y.to_string()),
            d.runtime.map(|r| format!("{r} {}", t(l, Text::Minutes))),
            (!m.genres.is_empty()).then(|| m.genres.join(", ")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
        let go = ctx.go.clone();
        let room = d.room.clone();
        let open_chat = Callback::from(move |_| go.emit(Route::Chat(Some(room.clone()))));
        html! {
            <>
                <div class="movie-head">
                    <Poster title={main.clone()} movie_key={m.key.clone()} cached={m.poster} />
                    <div>
                        <h1 id="movie-title">{ main }</h1>
                        if let Some(o) = other { <p class="sub">{ o }</p> }
                        if let Some(o) = d.original_title.as_ref().filter(|o| **o != m.title) { <p class="sub">{ o }</p> }
                        <p class="facts">{ facts }</p>
                        if !m.directors.is_empty() { <p><span class="label">{ t(l, Text::Directors) }</span>{ m.directors.join(", ") }</p> }
                        if !d.cast.is_empty() { <p><span class="label">{ t(l, Text::Cast) }</span>{ d.cast.iter().take(8).cloned().collect::<Vec<_>>().join(", ") }</p> }
                        <div class="row">
                            <button class="primary" id="open-chat" onclick={open_chat}>{ t(l, Text::OpenFilmChat) }</button>
                            <WatchToggle movie_key={m.key.clone()} on={m.on_watchlist} id="watchlist-toggle" />
                        </div>
                    </div>
                </div>
                if let Some(o) = overview(l, m) { <p class="synopsis" id="synopsis">{ o }</p> }
                <ReviewEditor movie_key={m.key.clone()} mine={d.my_review.clone()} on_saved={bump.clone()} />
                <LogWatch movie_key={m.key.clone()} on_logged={bump.clone()} />
                <section aria-labelledby="reviews-title">
                    <h2 id="reviews-title">{ t(l, Text::Reviews) }</h2>
                    if d.reviews.is_empty() {
                        <p class="empty" id="no-reviews">{ t(l, Text::NoReviewsYet) }</p>
                    } else {
                        <ul class="reviews" id="reviews">
                            { for d.reviews.iter().map(|r| html! { <ReviewItem key={r.review.id} review={r.clone()} on_change={bump.clone()} /> }) }
                        </ul>
                    }
                </section>
                if !d.similar.is_empty() {
                    <section aria-labelledby="similar-title">
                        <h2 id="similar-title">{ t(l, Text::Similar) }</h2>
                        <MovieGrid movies={d.similar.clone()} id="similar" />
                    </section>
                }
            </>
        }
    });
    html! { <div class="page movie" id="movie-page">{ body }</div> }
}

#[derive(Properties, PartialEq)]
struct EditorProps {
    movie_key: String,
    mine: Option<MyReview>,
    on_saved: Callback<()>,
}

/// This user's rating and review of the film.
#[function_component(ReviewEditor)]
fn review_editor(props: &EditorProps) -> Html {
    let l = use_ctx().lang;
    let rating = use_state(|| props.mine.as_ref().map(|r| r.rating));
    let body = use_state(|| {
        props
            .mine
            .as_ref()
            .map(|r| r.body.clone())
            .unwrap_or_default()
    });
    let spoiler = use_state(|| props.mine.as_ref().is_some_and(|r| r.spoiler));
    let error = use_state(|| None::<IpcError>);
    {
        // Another device's edit (pulled by a sync) replaces what is shown, unless being typed.
        let (rating, body, spoiler) = (rating.clone(), body.clone(), spoiler.clone());
        use_effect_with(props.mine.as_ref().map(|m| m.edited_at_ms), {
            let mine = props.mine.clone();
            move |_| {
                rating.set(mine.as_ref().map(|r| r.rating));
                body.set(mine.as_ref().map(|r| r.body.clone()).unwrap_or_default());
                spoiler.set(mine.as_ref().is_some_and(|r| r.spoiler));
            }
        });
    }
    let save = {
        let (key, rating, body, spoiler, error, on_saved) = (
            props.movie_key.clone(),
            rating.clone(),
            body.clone(),
            spoiler.clone(),
            error.clone(),
            props.on_saved.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(stars) = *rating else {
                error.set(Some(IpcError::new(
                    movietalk_protocol::ipc::IpcErrorCode::InvalidInput,
                    "choose a rating first",
                )));
                return;
            };
            let (key, text, spoiler, error, on_saved) = (
                key.clone(),
                (*body).clone(),
                *spoiler,
                error.clone(),
                on_saved.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::SaveReview {
                    key: key.to_string(),
                    rating: stars,
                    body: text.to_string(),
                    spoiler,
                })
                .await
                {
                    Ok(_) => {
                        error.set(None);
                        on_saved.emit(());
                    }
                    // What was typed stays in the box.
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_star = {
        let rating = rating.clone();
        Callback::from(move |v: f32| rating.set(Some(v)))
    };
    let delete = {
        let (key, error, on_saved) = (
            props.movie_key.clone(),
            error.clone(),
            props.on_saved.clone(),
        );
        Callback::from(move |_| {
            let (key, error, on_saved) = (key.clone(), error.clone(), on_saved.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::DeleteReview {
                    key: key.to_string(),
                })
                .await
                {
                    Ok(_) => on_saved.emit(()),
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_body = {
        let body = body.clone();
        Callback::from(move |e: InputEvent| body.set(input_value(&e)))
    };
    let on_spoiler = {
        let spoiler = spoiler.clone();
        Callback::from(move |e: Event| spoiler.set(checked(&e)))
    };
    html! {
        <section class="my-review" aria-labelledby="my-review-title">
            <h2 id="my-review-title">{ t(l, Text::YourReview) }</h2>
            <form onsubmit={save}>
                <StarInput value={*rating} on_change={on_star} />
                <textarea id="review-body" rows="4" maxlength="20000" placeholder={ t(l, Text::ReviewPlaceholder) }
                    aria-label={ t(l, Text::YourReview) } value={(*body).clone()} oninput={on_body} />
                <div class="row">
                    <label><input type="checkbox" id="review-spoiler" checked={*spoiler} onchange={on_spoiler} />{ t(l, Text::ContainsSpoilers) }</label>
                    <span class="spacer" />
                    if let Some(mine) = &props.mine {
                        <span id="my-review-state" class={classes!("delivery", format!("{:?}", mine.delivery).to_lowercase())}
                            title={mine.error.clone().unwrap_or_default()}>{ delivery_text(l, mine.delivery) }</span>
                        <button type="button" id="review-delete" onclick={delete}>{ t(l, Text::Delete) }</button>
                    }
                    <button type="submit" class="primary" id="review-save">{ t(l, Text::Save) }</button>
                </div>
            </form>
            if let Some(e) = &*error { { error_note(l, e) } }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct ItemProps {
    pub review: ReviewView,
    pub on_change: Callback<()>,
    /// On the review's own page: no "open" link.
    #[prop_or_default]
    pub standalone: bool,
    /// Name the film (lists mixing films: a profile, the feed).
    #[prop_or_default]
    pub show_film: bool,
}

/// One review: author, stars, text (a spoiler hidden until asked), likes, comments.
#[function_component(ReviewItem)]
pub fn review_item(props: &ItemProps) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let r = &props.review.review;
    let revealed = use_state(|| false);
    let like = {
        let (id, on, on_change) = (r.id, !props.review.liked, props.on_change.clone());
        Callback::from(move |_| {
            let on_change = on_change.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if ipc::call(cmd::Like {
                    target: LikeTarget::Review(id),
                    on,
                })
                .await
                .is_ok()
                {
                    on_change.emit(());
                }
            });
        })
    };
    let open = {
        let (go, id) = (ctx.go.clone(), r.id);
        Callback::from(move |_| go.emit(Route::Review(id)))
    };
    let author = {
        let (go, handle) = (ctx.go.clone(), r.author.clone());
        Callback::from(move |_| go.emit(Route::Profile(Some(handle.clone()))))
    };
    let reveal = {
        let revealed = revealed.clone();
        Callback::from(move |_| revealed.set(true))
    };
    let film = {
        let (go, key) = (ctx.go.clone(), r.movie_key.clone());
        Callback::from(move |_| go.emit(Route::Movie(key.clone())))
    };
    html! {
        <li class={classes!("review", props.review.mine.then_some("mine"))} data-id={r.id.to_string()}>
            <div class="review-head">
                <Avatar handle={r.author.clone()}
                    name={props.review.author.as_ref().map(|a| a.display_name.clone())}
                    url={props.review.author.as_ref().and_then(|a| a.avatar_url.clone())} />
                <button class="link author" onclick={author}>{ &r.author }</button>
                if props.show_film {
                    <button class="link film" onclick={film}>
                        { match r.year { Some(y) => format!("{} ({y})", r.title), None => r.title.clone() } }
                    </button>
                }
                <span class="stars" aria-label={format!("{} {}", r.rating, t(l, Text::Stars))}>{ stars_text(r.rating) }</span>
            </div>
            if r.spoiler && !*revealed {
                <button class="spoiler" onclick={reveal}>{ t(l, Text::ShowSpoiler) }</button>
            } else if !r.body.is_empty() {
                <p class="review-body">{ &r.body }</p>
            }
            <div class="review-actions">
                <button class={classes!("like", props.review.liked.then_some("liked"))} aria-pressed={props.review.liked.to_string()}
                    onclick={like}>{ format!("♥ {}", r.likes) }</button>
                if !props.standalone {
                    <button class="link open-review" onclick={open}>{ format!("{} ({})", t(l, Text::Comments), r.comments) }</button>
                }
            </div>
        </li>
    }
}
