//! The UI's one door to the shell: [`call`] sends a command's request (`cmd::…`, defined once in
//! `movietalk_protocol::command`) and answers its typed response; `on_…` listen to events.
//! Pages and components use these, never `invoke` or `listen` directly.

pub use movietalk_protocol::command::cmd;
use movietalk_protocol::command::{Command, Response};
use movietalk_protocol::ipc::{
    ChatMessage, EVENT_CHAT_MESSAGE, EVENT_IMPORT_PROGRESS, EVENT_INDEX_PROGRESS,
    EVENT_MESSAGE_DELETED, EVENT_PRESENCE, EVENT_SYNC, EVENT_TYPING, EVENT_UPDATE_AVAILABLE,
    ImportProgress, IpcError, IpcErrorCode, MessageDeleted, Presence, SyncStatus, Typing,
    UpdateAvailable,
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

/// Calls a command of the shell: the request names the command and fixes the answer's type
/// (`movietalk_protocol::command`).
pub async fn call<C: Command>(request: C) -> Result<Response<C>, IpcError> {
    #[derive(Serialize)]
    struct Args<C> {
        request: C,
    }
    let name = C::NAME;
    match invoke(name, to_js(&Args { request })).await {
        Ok(value) => serde_wasm_bindgen::from_value(value)
            .map_err(|e| internal(format!("{name}: bad reply: {e}"))),
        Err(err) => Err(
            serde_wasm_bindgen::from_value::<IpcError>(err.clone()).unwrap_or_else(|_| {
                internal(format!(
                    "{name}: {}",
                    err.as_string().unwrap_or_else(|| format!("{err:?}"))
                ))
            }),
        ),
    }
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

pub fn on_presence(callback: impl FnMut(Presence) + 'static) -> Subscription {
    subscribe(EVENT_PRESENCE, callback)
}

pub fn on_typing(callback: impl FnMut(Typing) + 'static) -> Subscription {
    subscribe(EVENT_TYPING, callback)
}

pub fn on_message_deleted(callback: impl FnMut(MessageDeleted) + 'static) -> Subscription {
    subscribe(EVENT_MESSAGE_DELETED, callback)
}

pub fn on_sync(callback: impl FnMut(SyncStatus) + 'static) -> Subscription {
    subscribe(EVENT_SYNC, callback)
}

pub fn on_update_available(callback: impl FnMut(UpdateAvailable) + 'static) -> Subscription {
    subscribe(EVENT_UPDATE_AVAILABLE, callback)
}

pub fn on_import_progress(callback: impl FnMut(ImportProgress) + 'static) -> Subscription {
    subscribe(EVENT_IMPORT_PROGRESS, callback)
}

pub fn on_index_progress(callback: impl FnMut(ImportProgress) + 'static) -> Subscription {
    subscribe(EVENT_INDEX_PROGRESS, callback)
}
