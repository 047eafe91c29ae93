//! A profile: for this user, their ratings and reviews (with where each is on its way to the
//! relay), profile editing and account deletion; for anyone, their shared reviews.

use movietalk_protocol::ipc::{IpcError, IpcErrorCode, Profile};
use yew::prelude::*;

use crate::components::avatar::Avatar;
use crate::components::movie_list::MovieGrid;
use crate::components::stars::stars_text;
use crate::i18n::{Text, t};
use crate::ipc::{self, cmd};
use crate::pages::movie::{ReviewItem, delivery_text};
use crate::pages::{error_note, input_value, loaded, use_load};
use crate::route::{Route, use_ctx};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub handle: Option<String>,
    /// Told when the account was deleted or edited.
    pub on_account_change: Callback<()>,
}

#[function_component(ProfilePage)]
pub fn profile_page(props: &Props) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let changed = use_state(|| 0u32);
    let profile = use_load(
        (
            props.handle.clone(),
            ctx.synced,
            *changed,
            ctx.account.clone(),
        ),
        |(h, _, _, _)| async move { ipc::call(cmd::Profile { handle: h }).await },
    );
    let bump = {
        let changed = changed.clone();
        Callback::from(move |()| changed.set(*changed + 1))
    };
    let own = props.handle.is_none()
        || props.handle.as_deref() == ctx.account.as_ref().map(|a| a.handle.as_str());
    let body = loaded(l, &profile, |p: &Profile| {
        let mine = p.my_reviews.iter().map(|r| {
            let go = ctx.go.clone();
            let key = r.movie_key.clone();
            html! {
                <li class="my-rating" data-key={r.movie_key.clone()}>
                    <button class="link" onclick={Callback::from(move |_| go.emit(Route::Movie(key.clone())))}>
                        { format!("{} ({})", r.title, r.year.map(|y| y.to_string()).unwrap_or_default()) }
                    </button>
                    <span class="stars">{ stars_text(r.rating) }</span>
                    <span class={classes!("delivery", format!("{:?}", r.delivery).to_lowercase())} title={r.error.clone().unwrap_or_default()}>
                        { delivery_text(l, r.delivery) }
                    </span>
                    if !r.body.is_empty() { <p class="review-body">{ &r.body }</p> }
                </li>
            }
        });
        html! {
            <>
                <div class="profile-head">
                    if !p.handle.is_empty() {
                        <Avatar large=true handle={p.handle.clone()}
                            name={p.account.as_ref().map(|a| a.display_name.clone())}
                            url={p.account.as_ref().and_then(|a| a.avatar_url.clone())} />
                    }
                    <h1 id="profile-handle">{ p.account.as_ref().map(|a| format!("{} (@{})", a.display_name, a.handle))
                        .unwrap_or_else(|| if p.handle.is_empty() { t(l, Text::Profile).to_owned() } else { format!("@{}", p.handle) }) }</h1>
                </div>
                if let Some(bio) = p.account.as_ref().map(|a| a.bio.clone()).filter(|b| !b.is_empty()) { <p class="bio">{ bio }</p> }
                if own {
                    <section>
                        <h2>{ t(l, Text::YourRatings) }</h2>
                        if p.my_reviews.is_empty() { <p class="empty">{ t(l, Text::NoRatingsYet) }</p> }
                        <ul class="my-ratings" id="my-ratings">{ for mine }</ul>
                    </section>
                } else {
                    <section>
                        <h2>{ t(l, Text::Reviews) }</h2>
                        if p.reviews.is_empty() { <p class="empty">{ t(l, Text::NoReviewsYet) }</p> }
                        <ul class="reviews" id="profile-reviews">
                            { for p.reviews.iter().map(|r| html! { <ReviewItem key={r.review.id} review={r.clone()} on_change={bump.clone()} show_film=true /> }) }
                        </ul>
                    </section>
                }
            </>
        }
    });
    let shown = match &*profile {
        Some(Ok(p)) if !p.handle.is_empty() => Some(p.handle.clone()),
        _ => None,
    };
    html! {
        <div class="page profile" id="profile-page">
            { body }
            if let Some(handle) = shown.clone().filter(|_| !own) { <TheirWatchlist handle={handle} /> }
            if let Some(handle) = shown { <Follows handle={handle} own={own} /> }
            if own && ctx.account.is_some() {
                <EditProfile on_change={props.on_account_change.clone()} />
                <DeleteAccount on_deleted={props.on_account_change.clone()} />
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct HandleProps {
    handle: String,
}

/// Another person's watchlist when they made it public (from the relay; not shown offline).
#[function_component(TheirWatchlist)]
fn their_watchlist(props: &HandleProps) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let list = use_load(
        (props.handle.clone(), ctx.synced),
        |(handle, _)| async move { ipc::call(cmd::WatchlistOf { handle }).await },
    );
    let body = match &*list {
        None => return html! {},
        Some(Err(e)) if e.code == IpcErrorCode::Forbidden => {
            html! { <p class="empty" id="their-watchlist-private">{ t(l, Text::WatchlistPrivate) }</p> }
        }
        // Offline or no such account: the rest of the page says so.
        Some(Err(_)) => return html! {},
        Some(Ok(v)) if v.films.is_empty() => {
            html! { <p class="empty">{ t(l, Text::WatchlistEmpty) }</p> }
        }
        Some(Ok(v)) => html! {
            <MovieGrid movies={v.films.iter().map(|e| e.movie.clone()).collect::<Vec<_>>()} id="their-watchlist" />
        },
    };
    html! {
        <section>
            <h2>{ t(l, Text::Watchlist) }</h2>
            { body }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct ChangeProps {
    on_change: Callback<()>,
}

#[function_component(EditProfile)]
fn edit_profile(props: &ChangeProps) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let account = ctx
        .account
        .clone()
        .unwrap_or_else(|| movietalk_protocol::relay::Account {
            id: 0,
            handle: String::new(),
            display_name: String::new(),
            bio: String::new(),
            avatar_url: None,
        });
    let name = use_state(|| account.display_name.clone());
    let bio = use_state(|| account.bio.clone());
    let avatar = use_state(|| account.avatar_url.clone().unwrap_or_default());
    let error = use_state(|| None::<IpcError>);
    let done = use_state(|| false);
    let save = {
        let (name, bio, avatar, error, done, on_change) = (
            name.clone(),
            bio.clone(),
            avatar.clone(),
            error.clone(),
            done.clone(),
            props.on_change.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (n, b, a) = ((*name).clone(), (*bio).clone(), (*avatar).clone());
            let (error, done, on_change) = (error.clone(), done.clone(), on_change.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::UpdateProfile {
                    display_name: n.to_string(),
                    bio: b.to_string(),
                    avatar_url: a.to_string(),
                })
                .await
                {
                    Ok(_) => {
                        error.set(None);
                        done.set(true);
                        on_change.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let field = |s: &UseStateHandle<String>| {
        let s = s.clone();
        Callback::from(move |e: InputEvent| s.set(input_value(&e)))
    };
    html! {
        <section>
            <h2>{ t(l, Text::EditProfile) }</h2>
            <form class="stack" onsubmit={save}>
                <label>{ t(l, Text::DisplayName) }<input id="profile-name" maxlength="40" value={(*name).clone()} oninput={field(&name)} /></label>
                <label>{ t(l, Text::Bio) }<textarea id="profile-bio" rows="3" maxlength="500" value={(*bio).clone()} oninput={field(&bio)} /></label>
                <label>{ t(l, Text::AvatarUrl) }<input id="profile-avatar" type="url" value={(*avatar).clone()} oninput={field(&avatar)} /></label>
                <button type="submit" class="primary" id="profile-save">{ t(l, Text::Save) }</button>
                if *done { <span class="ok" role="status">{ t(l, Text::Saved) }</span> }
            </form>
            if let Some(e) = &*error { { error_note(l, e) } }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct DeleteProps {
    on_deleted: Callback<()>,
}

/// Deleting the account: says exactly what goes and what stays, and asks for the password.
#[function_component(DeleteAccount)]
fn delete_account(props: &DeleteProps) -> Html {
    let l = use_ctx().lang;
    let confirming = use_state(|| false);
    let password = use_state(String::new);
    let error = use_state(|| None::<IpcError>);
    let ask = {
        let confirming = confirming.clone();
        Callback::from(move |_| confirming.set(true))
    };
    let cancel = {
        let confirming = confirming.clone();
        Callback::from(move |_| confirming.set(false))
    };
    let confirm = {
        let (password, error, on_deleted) =
            (password.clone(), error.clone(), props.on_deleted.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (p, error, on_deleted) = ((*password).clone(), error.clone(), on_deleted.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::DeleteAccount {
                    password: p.to_string(),
                })
                .await
                {
                    Ok(()) => on_deleted.emit(()),
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_password = {
        let password = password.clone();
        Callback::from(move |e: InputEvent| password.set(input_value(&e)))
    };
    html! {
        <section class="danger">
            <h2>{ t(l, Text::DeleteAccount) }</h2>
            if *confirming {
                <form class="stack" role="alertdialog" aria-labelledby="delete-what" onsubmit={confirm}>
                    <p id="delete-what">{ t(l, Text::DeleteAccountWhat) }</p>
                    <label>{ t(l, Text::Password) }
                        <input id="delete-password" type="password" required=true autocomplete="current-password" value={(*password).clone()} oninput={on_password} />
                    </label>
                    <div class="row">
                        <button type="button" onclick={cancel}>{ t(l, Text::Cancel) }</button>
                        <button type="submit" class="danger" id="delete-confirm">{ t(l, Text::DeleteForever) }</button>
                    </div>
                </form>
            } else {
                <button class="danger" id="delete-account" onclick={ask}>{ t(l, Text::DeleteAccount) }</button>
            }
            if let Some(e) = &*error { { error_note(l, e) } }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct FollowsProps {
    handle: String,
    own: bool,
}

/// Followers and following (from the relay: shown when online), and Follow / Unfollow on
/// someone else's profile.
#[function_component(Follows)]
fn follows(props: &FollowsProps) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let changed = use_state(|| 0u32);
    let lists = use_load(
        (props.handle.clone(), *changed, ctx.online),
        |(h, _, _)| async move { ipc::call(cmd::Follows { handle: h }).await },
    );
    let error = use_state(|| None::<IpcError>);
    let me = ctx.account.as_ref().map(|a| a.handle.clone());
    let body = loaded(l, &lists, |f: &movietalk_protocol::ipc::FollowsView| {
        let i_follow = me.as_ref().is_some_and(|m| f.followers.contains(m));
        let toggle = {
            let (handle, changed, error) = (props.handle.clone(), changed.clone(), error.clone());
            Callback::from(move |_| {
                let (handle, changed, error) = (handle.clone(), changed.clone(), error.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    match ipc::call(cmd::Follow {
                        handle: handle.to_string(),
                        on: !i_follow,
                    })
                    .await
                    {
                        Ok(()) => changed.set(*changed + 1),
                        Err(e) => error.set(Some(e)),
                    }
                });
            })
        };
        let people = |list: &Vec<String>, id: &'static str| {
            html! {
                <ul class="chips" id={id}>
                    { for list.iter().map(|h| {
                        let (go, h2) = (ctx.go.clone(), h.clone());
                        html! { <li><button class="chip" onclick={Callback::from(move |_| go.emit(Route::Profile(Some(h2.clone()))))}>{ format!("@{h}") }</button></li> }
                    }) }
                </ul>
            }
        };
        html! {
            <>
                if !props.own && me.is_some() {
                    <button id="follow-toggle" class={classes!(if i_follow { "" } else { "primary" })} onclick={toggle}>
                        { t(l, if i_follow { Text::Unfollow } else { Text::Follow }) }
                    </button>
                }
                <h3>{ format!("{} ({})", t(l, Text::Followers), f.followers.len()) }</h3>
                { people(&f.followers, "followers") }
                <h3>{ format!("{} ({})", t(l, Text::Following), f.following.len()) }</h3>
                { people(&f.following, "following") }
            </>
        }
    });
    html! {
        <section class="follows">
            { body }
            if let Some(e) = &*error { { error_note(l, e) } }
        </section>
    }
}
