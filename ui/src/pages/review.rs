//! A review with its comments: write, edit and delete your own; the review's author may delete
//! any comment on it. Comments written offline show as waiting until the relay has them.

use movietalk_protocol::ipc::{CommentView, IpcError, ReviewPage};
use movietalk_protocol::relay::LikeTarget;
use yew::prelude::*;

use crate::components::avatar::Avatar;
use crate::i18n::{Text, t};
use crate::ipc::{self, cmd};
use crate::pages::movie::{ReviewItem, delivery_text};
use crate::pages::{error_note, input_value, loaded, use_load};
use crate::route::{Route, use_ctx};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub review_id: u64,
}

#[function_component(ReviewScreen)]
pub fn review_screen(props: &Props) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let changed = use_state(|| 0u32);
    let page = use_load(
        (props.review_id, ctx.synced, *changed),
        |(id, _, _)| async move { ipc::call(cmd::ReviewPage { review_id: id }).await },
    );
    let draft = use_state(String::new);
    let error = use_state(|| None::<IpcError>);
    let bump = {
        let changed = changed.clone();
        Callback::from(move |()| changed.set(*changed + 1))
    };
    let send = {
        let (id, draft, error, bump) =
            (props.review_id, draft.clone(), error.clone(), bump.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text = (*draft).clone();
            if text.trim().is_empty() {
                return;
            }
            let (draft, error, bump) = (draft.clone(), error.clone(), bump.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::PostComment {
                    review_id: id,
                    body: text.to_string(),
                })
                .await
                {
                    Ok(_) => {
                        draft.set(String::new());
                        error.set(None);
                        bump.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_draft = {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| draft.set(input_value(&e)))
    };
    let body = loaded(l, &page, |p: &ReviewPage| {
        let go = ctx.go.clone();
        let key = p.review.review.movie_key.clone();
        let film = format!(
            "{} ({})",
            p.review.review.title,
            p.review
                .review
                .year
                .map(|y| y.to_string())
                .unwrap_or_default()
        );
        html! {
            <>
                <button class="link" id="review-film" onclick={Callback::from(move |_| go.emit(Route::Movie(key.clone())))}>{ film }</button>
                <ul class="reviews"><ReviewItem review={p.review.clone()} on_change={bump.clone()} standalone=true /></ul>
                <h2>{ t(l, Text::Comments) }</h2>
                if p.comments.is_empty() { <p class="empty" id="no-comments">{ t(l, Text::NoCommentsYet) }</p> }
                <ul class="comments" id="comments">
                    { for p.comments.iter().map(|c| html! {
                        <CommentItem key={c.id.map(|i| i.to_string()).or(c.client_id.clone()).unwrap_or_default()} comment={c.clone()} on_change={bump.clone()} />
                    }) }
                </ul>
            </>
        }
    });
    html! {
        <div class="page review-page" id="review-page">
            { body }
            <form class="comment-form" onsubmit={send}>
                <textarea id="comment-input" rows="2" maxlength="4000" aria-label={ t(l, Text::WriteComment) }
                    placeholder={ t(l, Text::WriteComment) } value={(*draft).clone()} oninput={on_draft} />
                <button type="submit" class="primary" id="comment-send">{ t(l, Text::Send) }</button>
            </form>
            if let Some(e) = &*error { { error_note(l, e) } }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct CommentProps {
    comment: CommentView,
    on_change: Callback<()>,
}

#[function_component(CommentItem)]
fn comment_item(props: &CommentProps) -> Html {
    let l = use_ctx().lang;
    let c = &props.comment;
    let editing = use_state(|| None::<String>);
    let error = use_state(|| None::<IpcError>);
    let run = {
        let (error, on_change) = (error.clone(), props.on_change.clone());
        move |fut: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), IpcError>>>>| {
            let (error, on_change) = (error.clone(), on_change.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match fut.await {
                    Ok(()) => on_change.emit(()),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let delete = {
        let (run, id, client_id) = (run.clone(), c.id, c.client_id.clone());
        Callback::from(move |_| match (id, client_id.clone()) {
            (Some(id), _) => run(Box::pin(ipc::call(cmd::DeleteComment { comment_id: id }))),
            (None, Some(cid)) => run(Box::pin(async move {
                ipc::call(cmd::CancelComment {
                    client_id: cid.to_string(),
                })
                .await
                .map(|_| ())
            })),
            _ => {}
        })
    };
    let like = {
        let (run, id, on) = (run.clone(), c.id, !c.liked);
        Callback::from(move |_| {
            if let Some(id) = id {
                run(Box::pin(ipc::call(cmd::Like {
                    target: LikeTarget::Comment(id),
                    on,
                })));
            }
        })
    };
    let start_edit = {
        let (editing, body) = (editing.clone(), c.body.clone());
        Callback::from(move |_| editing.set(Some(body.clone())))
    };
    let save_edit = {
        let (run, editing, id) = (run.clone(), editing.clone(), c.id);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let (Some(id), Some(text)) = (id, (*editing).clone()) {
                editing.set(None);
                run(Box::pin(async move {
                    ipc::call(cmd::EditComment {
                        comment_id: id,
                        body: text.to_string(),
                    })
                    .await
                }));
            }
        })
    };
    let on_edit = {
        let editing = editing.clone();
        Callback::from(move |e: InputEvent| editing.set(Some(input_value(&e))))
    };
    html! {
        <li class={classes!("comment", c.mine.then_some("mine"))} data-id={c.id.map(|i| i.to_string()).unwrap_or_default()}>
            <Avatar handle={c.author.clone()}
                name={c.author_profile.as_ref().map(|a| a.display_name.clone())}
                url={c.author_profile.as_ref().and_then(|a| a.avatar_url.clone())} />
            <span class="author">{ &c.author }</span>
            if let Some(text) = &*editing {
                <form onsubmit={save_edit}>
                    <textarea class="comment-edit" rows="2" maxlength="4000" aria-label={ t(l, Text::Edit) } value={text.clone()} oninput={on_edit} />
                    <button type="submit" class="primary">{ t(l, Text::Save) }</button>
                </form>
            } else {
                <p class="comment-body">{ &c.body }</p>
            }
            <div class="review-actions">
                if c.id.is_some() {
                    <button class={classes!("like", c.liked.then_some("liked"))} onclick={like}>{ format!("♥ {}", c.likes) }</button>
                } else {
                    <span class="delivery pending">{ delivery_text(l, c.delivery) }</span>
                }
                if c.mine && c.id.is_some() && editing.is_none() { <button class="link edit" onclick={start_edit}>{ t(l, Text::Edit) }</button> }
                if c.can_delete || c.id.is_none() { <button class="link delete" onclick={delete}>{ t(l, Text::Delete) }</button> }
            </div>
            if let Some(e) = &*error { { error_note(l, e) } }
        </li>
    }
}
