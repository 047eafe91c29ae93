//! Typed wrappers over every Tauri command and event the UI uses. Pages and components call
//! these, never `invoke` or `listen` directly.

use movietalk_protocol::ipc::{
    AppInfo, ChatMessage, EVENT_CHAT_MESSAGE, EVENT_PRESENCE, EVENT_RELAY_STATUS, IpcError,
    IpcErrorCode, JoinedRoom, MoviePage, Presence, RelayStatus,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], catch)]
    async fn invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

    /// Returns a promise of the function that stops listening.
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], catch)]
    fn listen(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<js_sys::Promise, JsValue>;
}

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .expect("command arguments always serialise")
}

fn internal(message: String) -> IpcError {
    IpcError::new(IpcErrorCode::Internal, message)
}

async fn call<A: Serialize, R: DeserializeOwned>(cmd: &str, args: &A) -> Result<R, IpcError> {
    match invoke(cmd, to_js(args)).await {
        Ok(value) => serde_wasm_bindgen::from_value(value)
            .map_err(|e| internal(format!("{cmd}: bad reply: {e}"))),
        Err(err) => Err(
            serde_wasm_bindgen::from_value::<IpcError>(err.clone()).unwrap_or_else(|_| {
                internal(format!(
                    "{cmd}: {}",
                    err.as_string().unwrap_or_else(|| format!("{err:?}"))
                ))
            }),
        ),
    }
}

#[derive(Serialize)]
struct NoArgs {}

pub async fn app_info() -> Result<AppInfo, IpcError> {
    call("app_info", &NoArgs {}).await
}

#[derive(Serialize)]
struct SearchArgs<'a> {
    query: &'a str,
    limit: u32,
    offset: u32,
}

pub async fn search_movies(query: &str, limit: u32, offset: u32) -> Result<MoviePage, IpcError> {
    call(
        "search_movies",
        &SearchArgs {
            query,
            limit,
            offset,
        },
    )
    .await
}

#[derive(Serialize)]
struct RoomArgs<'a> {
    room: &'a str,
}

pub async fn join_room(room: &str) -> Result<JoinedRoom, IpcError> {
    call("join_room", &RoomArgs { room }).await
}

pub async fn leave_room(room: &str) -> Result<(), IpcError> {
    call("leave_room", &RoomArgs { room }).await
}

#[derive(Serialize)]
struct SendArgs<'a> {
    room: &'a str,
    text: &'a str,
}

pub async fn send_chat(room: &str, text: &str) -> Result<u64, IpcError> {
    call("send_chat", &SendArgs { room, text }).await
}

/// A live event subscription; dropping it stops delivery.
pub struct Subscription {
    _handler: Closure<dyn FnMut(JsValue)>,
    unlisten: std::rc::Rc<std::cell::RefCell<Option<js_sys::Function>>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(unlisten) = self.unlisten.borrow_mut().take() {
            let _ = unlisten.call0(&JsValue::NULL);
        }
    }
}

fn subscribe<T: DeserializeOwned + 'static>(
    event: &'static str,
    mut callback: impl FnMut(T) + 'static,
) -> Subscription {
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let payload =
            js_sys::Reflect::get(&e, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        match serde_wasm_bindgen::from_value::<T>(payload) {
            Ok(value) => callback(value),
            Err(err) => web_sys::console::error_1(&format!("bad {event} payload: {err}").into()),
        }
    });
    let unlisten = std::rc::Rc::new(std::cell::RefCell::new(None));
    let slot = unlisten.clone();
    // The Subscription owns the closure, so it outlives the listener.
    let promise = listen(event, &handler);
    wasm_bindgen_futures::spawn_local(async move {
        let unlisten = match promise {
            Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await,
            Err(err) => Err(err),
        };
        match unlisten {
            Ok(f) => *slot.borrow_mut() = f.dyn_into::<js_sys::Function>().ok(),
            Err(err) => {
                web_sys::console::error_2(&format!("cannot listen to {event}").into(), &err)
            }
        }
    });
    Subscription {
        _handler: handler,
        unlisten,
    }
}

pub fn on_chat_message(callback: impl FnMut(ChatMessage) + 'static) -> Subscription {
    subscribe(EVENT_CHAT_MESSAGE, callback)
}

pub fn on_relay_status(callback: impl FnMut(RelayStatus) + 'static) -> Subscription {
    subscribe(EVENT_RELAY_STATUS, callback)
}

pub fn on_presence(callback: impl FnMut(Presence) + 'static) -> Subscription {
    subscribe(EVENT_PRESENCE, callback)
}
