//! The chat panel: join a room, read its messages as they arrive, send your own.

use std::rc::Rc;

use movietalk_protocol::ipc::{ChatMessage, IpcError, JoinedRoom, Presence, RelayStatus};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::i18n::{Lang, Text, error_text, t};
use crate::ipc;

const DEFAULT_ROOM: &str = "lobby";

#[derive(Properties, PartialEq)]
pub struct Props {
    pub lang: Lang,
    /// This user's chat name, to mark their own messages.
    pub user_name: String,
    /// Told about every relay connection change.
    pub on_status: Callback<RelayStatus>,
}

/// What the panel shows.
#[derive(Debug, Default, PartialEq)]
struct ChatState {
    room: Option<String>,
    /// Messages of `room`, ordered by sequence number, without duplicates.
    messages: Vec<ChatMessage>,
    present: u32,
}

enum Action {
    Joined(JoinedRoom),
    Left,
    Message(ChatMessage),
    Presence(Presence),
}

impl Reducible for ChatState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = ChatState {
            room: self.room.clone(),
            messages: self.messages.clone(),
            present: self.present,
        };
        match action {
            Action::Joined(j) => {
                next = ChatState {
                    room: Some(j.room),
                    messages: j.history,
                    present: j.present,
                };
            }
            Action::Left => next = ChatState::default(),
            Action::Message(m) => {
                if next.room.as_deref() != Some(m.room.as_str()) {
                    return self;
                }
                // The history and the live stream may both carry a message: keep one, in order.
                match next.messages.binary_search_by_key(&m.seq, |x| x.seq) {
                    Ok(_) => return self,
                    Err(at) => next.messages.insert(at, m),
                }
            }
            Action::Presence(p) => {
                if next.room.as_deref() != Some(p.room.as_str()) {
                    return self;
                }
                next.present = p.present;
            }
        }
        Rc::new(next)
    }
}

#[function_component(ChatPanel)]
pub fn chat_panel(props: &Props) -> Html {
    let l = props.lang;
    let state = use_reducer(ChatState::default);
    let room_input = use_state(|| DEFAULT_ROOM.to_owned());
    let draft = use_state(String::new);
    let error = use_state(|| None::<IpcError>);
    let busy = use_state(|| false);
    let list_ref = use_node_ref();

    {
        let dispatch = state.dispatcher();
        let on_status = props.on_status.clone();
        use_effect_with((), move |()| {
            let d = dispatch.clone();
            let messages = ipc::on_chat_message(move |m| d.dispatch(Action::Message(m)));
            let d = dispatch;
            let presence = ipc::on_presence(move |p| d.dispatch(Action::Presence(p)));
            let status = ipc::on_relay_status(move |s| on_status.emit(s));
            move || drop((messages, presence, status))
        });
    }
    {
        // Keep the newest message in view.
        let list_ref = list_ref.clone();
        use_effect_with(state.messages.len(), move |_| {
            if let Some(list) = list_ref.cast::<web_sys::Element>() {
                list.set_scroll_top(list.scroll_height());
            }
        });
    }

    let on_join = {
        let state = state.clone();
        let room_input = room_input.clone();
        let error = error.clone();
        let busy = busy.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let room = room_input.trim().to_owned();
            let previous = state.room.clone();
            let dispatch = state.dispatcher();
            let error = error.clone();
            let busy = busy.clone();
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(prev) = previous.filter(|p| *p != room) {
                    let _ = ipc::leave_room(&prev).await;
                }
                match ipc::join_room(&room).await {
                    Ok(joined) => {
                        error.set(None);
                        dispatch.dispatch(Action::Joined(joined));
                    }
                    Err(e) => error.set(Some(e)),
                }
                busy.set(false);
            });
        })
    };
    let on_leave = {
        let state = state.clone();
        Callback::from(move |_| {
            if let Some(room) = state.room.clone() {
                let dispatch = state.dispatcher();
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = ipc::leave_room(&room).await;
                    dispatch.dispatch(Action::Left);
                });
            }
        })
    };
    let on_send = {
        let state = state.clone();
        let draft = draft.clone();
        let error = error.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(room) = state.room.clone() else {
                return;
            };
            let text = (*draft).clone();
            if text.trim().is_empty() {
                return;
            }
            let draft = draft.clone();
            let error = error.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::send_chat(&room, &text).await {
                    // The message itself arrives through the relay's event, like everyone's.
                    Ok(_) => {
                        error.set(None);
                        draft.set(String::new());
                    }
                    // The draft stays, so nothing typed is lost.
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_room_input = {
        let room_input = room_input.clone();
        Callback::from(move |e: InputEvent| {
            room_input.set(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    let on_draft_input = {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| {
            draft.set(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };

    let messages = if state.room.is_none() {
        html! { <li class="empty">{ t(l, Text::NotJoined) }</li> }
    } else if state.messages.is_empty() {
        html! { <li class="empty">{ t(l, Text::NoMessagesYet) }</li> }
    } else {
        html! {
            for state.messages.iter().map(|m| {
                let mine = m.author == props.user_name;
                html! {
                    <li key={m.seq} class={classes!("chat-message", mine.then_some("mine"))} data-seq={m.seq.to_string()}>
                        <span class="author">{ &m.author }</span>
                        <span class="text">{ &m.text }</span>
                    </li>
                }
            })
        }
    };

    html! {
        <aside class="chat" aria-label={ t(l, Text::Chat) }>
            <h2>
                <span id="chat-room">{ state.room.clone().unwrap_or_else(|| t(l, Text::Chat).to_owned()) }</span>
                if state.room.is_some() {
                    <span class="present" id="present">{ format!("{} {}", state.present, t(l, Text::Present)) }</span>
                }
            </h2>
            <form onsubmit={on_join}>
                <input id="room" aria-label={ t(l, Text::RoomPlaceholder) } placeholder={ t(l, Text::RoomPlaceholder) }
                    value={ (*room_input).clone() } oninput={on_room_input} maxlength="80" />
                <button id="join" type="submit" class="primary" disabled={*busy}>{ t(l, Text::Join) }</button>
                if state.room.is_some() {
                    <button id="leave" type="button" onclick={on_leave}>{ t(l, Text::Leave) }</button>
                }
            </form>
            if let Some(e) = &*error {
                <p class="error" id="chat-error" role="alert" title={ e.message.clone() }>{ error_text(l, e.code) }</p>
            }
            <ul class="messages" id="messages" ref={list_ref} aria-live="polite">{ messages }</ul>
            <form onsubmit={on_send}>
                <input id="chat-input" aria-label={ t(l, Text::MessagePlaceholder) } placeholder={ t(l, Text::MessagePlaceholder) }
                    value={ (*draft).clone() } oninput={on_draft_input} disabled={ state.room.is_none() } maxlength="4000" />
                <button id="send" type="submit" disabled={ state.room.is_none() }>{ t(l, Text::Send) }</button>
            </form>
        </aside>
    }
}
