//! The feed: reviews by the people this user follows, newest first, a page at a time. It reads
//! from the local cache of everyone's reviews, so it works offline (saying so); whom the user
//! follows is refreshed from the relay when it is reachable.

use movietalk_protocol::ipc::{FeedCursor, FeedPage, IpcError, IpcErrorCode, ReviewView};
use yew::prelude::*;

use crate::i18n::{Text, t};
use crate::ipc::{self, cmd};
use crate::pages::movie::ReviewItem;
use crate::pages::{error_note, loaded, use_load};
use crate::route::{Route, use_ctx};

/// Reviews per page.
const PAGE: u32 = 20;

#[function_component(FeedScreen)]
pub fn feed_screen() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let changed = use_state(|| 0u32);
    let first = use_load((ctx.synced, *changed, ctx.account.clone()), |_| async {
        ipc::call(cmd::Feed {
            cursor: None,
            limit: PAGE,
        })
        .await
    });
    // Pages after the first, appended by "Show more"; reset whenever the first page reloads.
    let more = use_state(Vec::<ReviewView>::new);
    let next = use_state(|| None::<FeedCursor>);
    let more_error = use_state(|| None::<IpcError>);
    {
        let (more, next, more_error) = (more.clone(), next.clone(), more_error.clone());
        use_effect_with((*first).clone(), move |first| {
            more.set(Vec::new());
            more_error.set(None);
            next.set(
                first
                    .as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|p| p.next),
            );
        });
    }
    let bump = {
        let changed = changed.clone();
        Callback::from(move |()| changed.set(*changed + 1))
    };
    let show_more = {
        let (more, next, more_error) = (more.clone(), next.clone(), more_error.clone());
        Callback::from(move |_| {
            let Some(cursor) = *next else { return };
            let (more, next, more_error) = (more.clone(), next.clone(), more_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::Feed {
                    cursor: Some(cursor),
                    limit: PAGE,
                })
                .await
                {
                    Ok(page) => {
                        let mut all = (*more).clone();
                        all.extend(page.reviews);
                        more.set(all);
                        next.set(page.next);
                    }
                    Err(e) => more_error.set(Some(e)),
                }
            });
        })
    };
    if let Some(Err(e)) = &*first
        && e.code == IpcErrorCode::NotLoggedIn
    {
        let go = ctx.go.clone();
        return html! {
            <div class="page feed" id="feed-page">
                <h1>{ t(l, Text::Feed) }</h1>
                <div class="empty" id="feed-log-in">
                    <p>{ t(l, Text::FeedLogIn) }</p>
                    <button class="primary" onclick={Callback::from(move |_| go.emit(Route::Account))}>{ t(l, Text::LogIn) }</button>
                </div>
            </div>
        };
    }
    let body = loaded(l, &first, |page: &FeedPage| {
        if page.following.is_empty() {
            let go = ctx.go.clone();
            return html! {
                <div class="empty" id="feed-empty">
                    <p>{ t(l, Text::FeedFollowNobody) }</p>
                    <button onclick={Callback::from(move |_| go.emit(Route::Browse))}>{ t(l, Text::Browse) }</button>
                </div>
            };
        }
        html! {
            <>
                if !page.live { <p class="feed-note" id="feed-offline">{ t(l, Text::FeedOffline) }</p> }
                if page.reviews.is_empty() { <p class="empty">{ t(l, Text::FeedNothingYet) }</p> }
                <ul class="reviews" id="feed-reviews">
                    { for page.reviews.iter().chain(more.iter()).map(|r| html! {
                        <ReviewItem key={r.review.id} review={r.clone()} on_change={bump.clone()} show_film=true />
                    }) }
                </ul>
                if next.is_some() {
                    <button id="feed-more" onclick={show_more.clone()}>{ t(l, Text::ShowMore) }</button>
                }
                if let Some(e) = &*more_error { { error_note(l, e) } }
            </>
        }
    });
    html! {
        <div class="page feed" id="feed-page">
            <h1>{ t(l, Text::Feed) }</h1>
            { body }
        </div>
    }
}
