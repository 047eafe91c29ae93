//! Chat: rooms with live presence and unread counts, and a room with history scrollback,
//! typing indicators and reconnects that neither lose nor repeat a message (the shell resumes
//! from the last sequence number; this screen keeps messages ordered and unique by it).

use std::collections::HashMap;
use std::rc::Rc;

use movietalk_protocol::ipc::{ChatMessage, IpcError, JoinedRoom, RoomSummary};
use yew::prelude::*;

use crate::components::avatar::Avatar;
use crate::i18n::{Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::{error_note, input_value};
use crate::route::use_ctx;

const DEFAULT_ROOM: &str = "lobby";
/// How long a "someone is typing" note stays without a new typing signal, in ms.
const TYPING_MS: f64 = 4000.0;

#[derive(Properties, PartialEq)]
pub struct Props {
    /// The room to open.
    pub room: Option<String>,
}

/// Names and pictures of the people in the room; each answer adds to what is known.
#[derive(Debug, Default, PartialEq)]
struct Authors(HashMap<String, movietalk_protocol::ipc::Author>);

impl Reducible for Authors {
    type Action = HashMap<String, movietalk_protocol::ipc::Author>;

    fn reduce(self: Rc<Self>, found: Self::Action) -> Rc<Self> {
        let mut all = self.0.clone();
        all.extend(found);
        Rc::new(Authors(all))
    }
}

/// What the room panel shows.
#[derive(Debug, Default, PartialEq)]
struct Room {
    name: Option<String>,
    /// Ordered by sequence number, without duplicates.
    messages: Vec<ChatMessage>,
    present: u32,
    /// Who is typing, and when they last said so.
    typing: HashMap<String, f64>,
    /// No older history left.
    at_start: bool,
    /// Live presence of every room heard about, for the room list.
    presence: HashMap<String, u32>,
}

enum Action {
    Joined(JoinedRoom),
    Left,
    Messages(Vec<ChatMessage>),
    Older(Vec<ChatMessage>),
    Deleted(String, u64),
    Presence(String, u32),
    Typing(String, String),
    Tick,
}

impl Reducible for Room {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = Room {
            name: self.name.clone(),
            messages: self.messages.clone(),
            present: self.present,
            typing: self.typing.clone(),
            at_start: self.at_start,
            presence: self.presence.clone(),
        };
        let here = |room: &str| next.name.as_deref() == Some(room);
        match action {
            Action::Joined(j) => {
                let mut presence = std::mem::take(&mut next.presence);
                presence.insert(j.room.clone(), j.present);
                next = Room {
                    at_start: j.history.first().is_none_or(|m| m.seq <= 1),
                    name: Some(j.room),
                    present: j.present,
                    presence,
                    ..Room::default()
                };
                insert(&mut next.messages, j.history);
            }
            Action::Left => {
                next = Room {
                    presence: std::mem::take(&mut next.presence),
                    ..Room::default()
                }
            }
            Action::Messages(ms) | Action::Older(ms)
                if ms.first().is_some_and(|m| here(&m.room)) =>
            {
                for m in &ms {
                    next.typing.remove(&m.author);
                }
                if ms.len() < 50 && ms.first().is_some_and(|m| m.seq <= 1) {
                    next.at_start = true;
                }
                insert(&mut next.messages, ms);
            }
            Action::Older(_) => next.at_start = true,
            Action::Messages(_) => return self,
            Action::Deleted(room, seq) if here(&room) => {
                if let Ok(i) = next.messages.binary_search_by_key(&seq, |m| m.seq) {
                    next.messages[i].deleted = true;
                    next.messages[i].text.clear();
                }
            }
            Action::Presence(room, n) => {
                if here(&room) {
                    next.present = n;
                }
                next.presence.insert(room, n);
            }
            Action::Typing(room, who) if here(&room) => {
                next.typing.insert(who, js_sys::Date::now());
            }
            Action::Tick => {
                let now = js_sys::Date::now();
                next.typing.retain(|_, at| now - *at < TYPING_MS);
                if next.typing.len() == self.typing.len() {
                    return self;
                }
            }
            _ => return self,
        }
        Rc::new(next)
    }
}

/// Adds messages keeping the list ordered by sequence and free of repeats (history and the
/// live stream may both carry one).
fn insert(list: &mut Vec<ChatMessage>, new: Vec<ChatMessage>) {
    for m in new {
        match list.binary_search_by_key(&m.seq, |x| x.seq) {
            Ok(i) => list[i] = m,
            Err(i) => list.insert(i, m),
        }
    }
}

#[function_component(ChatPage)]
pub fn chat_page(props: &Props) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let room = use_reducer(Room::default);
    // Names and pictures of the people in the room, asked for once per new name.
    let authors = use_reducer(Authors::default);
    let asked = use_mut_ref(std::collections::HashSet::<String>::new);
    {
        let (authors, asked) = (authors.clone(), asked.clone());
        let names: Vec<String> = room.messages.iter().map(|m| m.author.clone()).collect();
        use_effect_with(names, move |names| {
            let new: Vec<String> = names
                .iter()
                .filter(|n| asked.borrow_mut().insert((*n).clone()))
                .cloned()
                .collect();
            if !new.is_empty() {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(found) = ipc::call(cmd::Authors {
                        handles: new.to_vec(),
                    })
                    .await
                    {
                        authors.dispatch(found);
                    }
                });
            }
        });
    }
    let room_input = use_state(|| {
        props
            .room
            .clone()
            .unwrap_or_else(|| DEFAULT_ROOM.to_owned())
    });
    let draft = use_state(String::new);
    let error = use_state(|| None::<IpcError>);
    let busy = use_state(|| false);
    let rooms = use_state(|| None::<Result<Vec<RoomSummary>, IpcError>>);
    let unread = use_state(HashMap::<String, u64>::new);
    let list_ref = use_node_ref();
    let last_typing = use_mut_ref(|| 0.0f64);

    let refresh_rooms = {
        let (rooms, unread, logged_in) = (rooms.clone(), unread.clone(), ctx.account.is_some());
        Callback::from(move |()| {
            let (rooms, unread) = (rooms.clone(), unread.clone());
            wasm_bindgen_futures::spawn_local(async move {
                rooms.set(Some(ipc::call(cmd::ListRooms {}).await));
                if logged_in && let Ok(counts) = ipc::call(cmd::UnreadCounts {}).await {
                    unread.set(counts.into_iter().collect());
                }
            });
        })
    };
    let join = {
        let (room, error, busy, refresh_rooms) = (
            room.clone(),
            error.clone(),
            busy.clone(),
            refresh_rooms.clone(),
        );
        Callback::from(move |name: String| {
            let (previous, dispatch, error, busy, refresh_rooms) = (
                room.name.clone(),
                room.dispatcher(),
                error.clone(),
                busy.clone(),
                refresh_rooms.clone(),
            );
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(prev) = previous.filter(|p| *p != name) {
                    let _ = ipc::call(cmd::LeaveRoom {
                        room: prev.to_string(),
                    })
                    .await;
                }
                match ipc::call(cmd::JoinRoom {
                    room: name.to_string(),
                })
                .await
                {
                    Ok(joined) => {
                        error.set(None);
                        if let Some(last) = joined.history.last() {
                            let _ = ipc::call(cmd::MarkRead {
                                room: joined.room.clone(),
                                seq: last.seq,
                            })
                            .await;
                        }
                        dispatch.dispatch(Action::Joined(joined));
                        refresh_rooms.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
                busy.set(false);
            });
        })
    };
    {
        // Events from the shell, a ticker for typing notes, and the room list, for the life of the screen.
        let dispatch = room.dispatcher();
        let refresh_rooms = refresh_rooms.clone();
        use_effect_with((), move |()| {
            let d = dispatch.clone();
            let messages = ipc::on_chat_message(move |m| d.dispatch(Action::Messages(vec![m])));
            let d = dispatch.clone();
            let presence =
                ipc::on_presence(move |p| d.dispatch(Action::Presence(p.room, p.present)));
            let d = dispatch.clone();
            let typing = ipc::on_typing(move |t| d.dispatch(Action::Typing(t.room, t.who)));
            let d = dispatch.clone();
            let deleted =
                ipc::on_message_deleted(move |m| d.dispatch(Action::Deleted(m.room, m.seq)));
            let d = dispatch;
            let ticker =
                gloo_timers::callback::Interval::new(1000, move || d.dispatch(Action::Tick));
            refresh_rooms.emit(());
            move || drop((messages, presence, typing, deleted, ticker))
        });
    }
    {
        // Keep the newest message in view.
        let list_ref = list_ref.clone();
        use_effect_with(room.messages.last().map(|m| m.seq), move |_| {
            if let Some(list) = list_ref.cast::<web_sys::Element>() {
                list.set_scroll_top(list.scroll_height());
            }
        });
    }
    {
        // Rooms opened from elsewhere (a film's page) while this screen is shown.
        let (join, room_input) = (join.clone(), room_input.clone());
        use_effect_with(props.room.clone(), move |r| {
            if let Some(r) = r.clone() {
                room_input.set(r.clone());
                join.emit(r);
            }
        });
    }

    let on_join = {
        let (join, room_input) = (join.clone(), room_input.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            join.emit(room_input.trim().to_owned());
        })
    };
    let on_leave = {
        let room = room.clone();
        Callback::from(move |_| {
            if let Some(name) = room.name.clone() {
                let dispatch = room.dispatcher();
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = ipc::call(cmd::LeaveRoom {
                        room: name.to_string(),
                    })
                    .await;
                    dispatch.dispatch(Action::Left);
                });
            }
        })
    };
    let on_send = {
        let (room, draft, error) = (room.clone(), draft.clone(), error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(name) = room.name.clone() else {
                return;
            };
            let text = (*draft).clone();
            if text.trim().is_empty() {
                return;
            }
            let (draft, error) = (draft.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::SendChat {
                    room: name.to_string(),
                    text: text.to_string(),
                })
                .await
                {
                    // The message itself arrives through the relay's event, like everyone's.
                    Ok(seq) => {
                        error.set(None);
                        draft.set(String::new());
                        let _ = ipc::call(cmd::MarkRead {
                            room: name.to_string(),
                            seq,
                        })
                        .await;
                    }
                    // The draft stays, so nothing typed is lost.
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_older = {
        let room = room.clone();
        Callback::from(move |_| {
            let (Some(name), Some(first)) =
                (room.name.clone(), room.messages.first().map(|m| m.seq))
            else {
                return;
            };
            let dispatch = room.dispatcher();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(older) = ipc::call(cmd::ChatHistory {
                    room: name.to_string(),
                    before: first,
                })
                .await
                {
                    dispatch.dispatch(Action::Older(older));
                }
            });
        })
    };
    let on_room_input = {
        let room_input = room_input.clone();
        Callback::from(move |e: InputEvent| room_input.set(input_value(&e)))
    };
    let on_draft_input = {
        let (draft, room, last_typing) = (draft.clone(), room.clone(), last_typing.clone());
        Callback::from(move |e: InputEvent| {
            draft.set(input_value(&e));
            // Tell the room at most every two seconds.
            let now = js_sys::Date::now();
            if let Some(name) = room.name.clone()
                && now - *last_typing.borrow() > 2000.0
            {
                *last_typing.borrow_mut() = now;
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = ipc::call(cmd::Typing {
                        room: name.to_string(),
                    })
                    .await;
                });
            }
        })
    };
    let me = ctx.chat_name().to_owned();
    let messages = if room.name.is_none() {
        html! { <li class="empty">{ t(l, Text::NotJoined) }</li> }
    } else if room.messages.is_empty() {
        html! { <li class="empty">{ t(l, Text::NoMessagesYet) }</li> }
    } else {
        room.messages
            .iter()
            .map(|m| {
                let mine = m.author == me;
                let delete = (mine && !m.deleted && ctx.account.is_some()).then(|| {
                    let (name, seq) = (m.room.clone(), m.seq);
                    Callback::from(move |_| {
                        let name = name.clone();
                        wasm_bindgen_futures::spawn_local(async move {
                            let _ = ipc::call(cmd::DeleteMessage { room: name.to_string(), seq }).await;
                        });
                    })
                });
                html! {
                    <li key={m.seq} class={classes!("chat-message", mine.then_some("mine"), m.deleted.then_some("deleted"))} data-seq={m.seq.to_string()}>
                        <Avatar handle={m.author.clone()}
                            name={authors.0.get(&m.author).map(|a| a.display_name.clone())}
                            url={authors.0.get(&m.author).and_then(|a| a.avatar_url.clone())} />
                        <span class="author">{ &m.author }</span>
                        if m.deleted { <span class="text">{ t(l, Text::MessageDeleted) }</span> } else { <span class="text">{ &m.text }</span> }
                        if let Some(delete) = delete { <button class="link delete" aria-label={ t(l, Text::Delete) } onclick={delete}>{ "×" }</button> }
                    </li>
                }
            })
            .collect::<Html>()
    };
    let typing: Vec<String> = room.typing.keys().filter(|w| **w != me).cloned().collect();
    let room_list = match &*rooms {
        None => html! { <p class="empty">{ t(l, Text::Loading) }</p> },
        Some(Err(e)) => error_note(l, e),
        Some(Ok(list)) if list.is_empty() => html! { <p class="empty">{ t(l, Text::NoRooms) }</p> },
        Some(Ok(list)) => list
            .iter()
            .map(|r| {
                let join = join.clone();
                let name = r.name.clone();
                let count = unread.get(&r.name).copied().unwrap_or(0);
                let active = room.name.as_deref() == Some(r.name.as_str());
                html! {
                    <li class={classes!("room", active.then_some("active"))} data-room={r.name.clone()}>
                        <button class="link" onclick={Callback::from(move |_| join.emit(name.clone()))}>
                            <span class="room-name">{ &r.name }</span>
                            if !r.topic.is_empty() { <span class="sub">{ &r.topic }</span> }
                        </button>
                        <span class="present" title={ t(l, Text::Present) }>{ format!("● {}", room.presence.get(&r.name).copied().unwrap_or(r.present)) }</span>
                        if count > 0 && !active { <span class="badge" aria-label={ t(l, Text::Unread) }>{ count }</span> }
                    </li>
                }
            })
            .collect::<Html>(),
    };
    html! {
        <div class="page chat-page" id="chat-page">
            <aside class="room-list" aria-label={ t(l, Text::Rooms) }>
                <h2>{ t(l, Text::Rooms) }<button class="link" id="refresh-rooms" onclick={refresh_rooms.reform(|_| ())}>{ "↻" }</button></h2>
                <ul id="rooms">{ room_list }</ul>
                if ctx.account.is_some() { <CreateRoom on_created={join.clone()} /> }
            </aside>
            <section class="chat" aria-label={ t(l, Text::Chat) }>
                <h2>
                    <span id="chat-room">{ room.name.clone().unwrap_or_else(|| t(l, Text::Chat).to_owned()) }</span>
                    if room.name.is_some() {
                        <span class="present" id="present">{ format!("{} {}", room.present, t(l, Text::Present)) }</span>
                    }
                </h2>
                <form onsubmit={on_join}>
                    <input id="room" aria-label={ t(l, Text::RoomPlaceholder) } placeholder={ t(l, Text::RoomPlaceholder) }
                        value={(*room_input).clone()} oninput={on_room_input} maxlength="80" />
                    <button id="join" type="submit" class="primary" disabled={*busy}>{ t(l, Text::Join) }</button>
                    if room.name.is_some() { <button id="leave" type="button" onclick={on_leave}>{ t(l, Text::Leave) }</button> }
                </form>
                if let Some(e) = &*error { <div id="chat-error">{ error_note(l, e) }</div> }
                <ul class="messages" id="messages" ref={list_ref} aria-live="polite">
                    if room.name.is_some() && !room.at_start && !room.messages.is_empty() {
                        <li class="older"><button class="link" id="load-older" onclick={on_older}>{ t(l, Text::LoadOlder) }</button></li>
                    }
                    { messages }
                </ul>
                <p class="typing" id="typing" aria-live="polite">
                    { if typing.is_empty() { String::new() } else { tf(l, Text::IsTyping, &[&typing.join(", ")]) } }
                </p>
                <form onsubmit={on_send}>
                    <input id="chat-input" aria-label={ t(l, Text::MessagePlaceholder) } placeholder={ t(l, Text::MessagePlaceholder) }
                        value={(*draft).clone()} oninput={on_draft_input} disabled={room.name.is_none()} maxlength="4000" />
                    <button id="send" type="submit" disabled={room.name.is_none()}>{ t(l, Text::Send) }</button>
                </form>
            </section>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct CreateProps {
    on_created: Callback<String>,
}

#[function_component(CreateRoom)]
fn create_room(props: &CreateProps) -> Html {
    let l = use_ctx().lang;
    let name = use_state(String::new);
    let topic = use_state(String::new);
    let error = use_state(|| None::<IpcError>);
    let submit = {
        let (name, topic, error, on_created) = (
            name.clone(),
            topic.clone(),
            error.clone(),
            props.on_created.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (n, tp, error, on_created, name) = (
                (*name).clone(),
                (*topic).clone(),
                error.clone(),
                on_created.clone(),
                name.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::CreateRoom {
                    room: n.to_string(),
                    topic: tp.to_string(),
                })
                .await
                {
                    Ok(room) => {
                        error.set(None);
                        name.set(String::new());
                        on_created.emit(room.name);
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
        <form class="stack create-room" onsubmit={submit}>
            <h3>{ t(l, Text::CreateRoom) }</h3>
            <input id="new-room" required=true maxlength="80" placeholder={ t(l, Text::RoomPlaceholder) } aria-label={ t(l, Text::RoomPlaceholder) }
                value={(*name).clone()} oninput={field(&name)} />
            <input id="new-topic" maxlength="200" placeholder={ t(l, Text::Topic) } aria-label={ t(l, Text::Topic) } value={(*topic).clone()} oninput={field(&topic)} />
            <button type="submit">{ t(l, Text::Create) }</button>
            if let Some(e) = &*error { { error_note(l, e) } }
        </form>
    }
}
