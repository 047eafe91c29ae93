//! The screens, one module each, and what they share: loading data for a screen without ever
//! showing a stale answer, and showing an error as a sentence in the user's language.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use movietalk_protocol::ipc::{ImportProgress, IpcError};
use yew::prelude::*;

use crate::i18n::{Lang, Text, error_text, t};

pub mod account;
pub mod browse;
pub mod chat;
pub mod diary;
pub mod feed;
pub mod home;
pub mod letterboxd;
pub mod movie;
pub mod profile;
pub mod review;
pub mod search;
pub mod settings;
pub mod stats;
pub mod watchlist;

/// What a screen loaded: `None` while loading.
pub type Loaded<T> = UseStateHandle<Option<Result<T, IpcError>>>;

/// Loads `load(deps)` whenever `deps` change; an answer to older deps is dropped.
#[hook]
pub fn use_load<T, D, F, Fut>(deps: D, load: F) -> Loaded<T>
where
    T: 'static,
    D: PartialEq + Clone + 'static,
    F: Fn(D) -> Fut + 'static,
    Fut: Future<Output = Result<T, IpcError>> + 'static,
{
    let state = use_state(|| None);
    let generation = use_memo((), |()| Rc::new(Cell::new(0u64)));
    {
        let state = state.clone();
        let generation = (*generation).clone();
        use_effect_with(deps, move |d| {
            let mine = generation.get() + 1;
            generation.set(mine);
            let fut = load(d.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let result = fut.await;
                if generation.get() == mine {
                    state.set(Some(result));
                }
            });
        });
    }
    state
}

/// An import started from a screen: its progress as the import events arrive, and its answer.
/// Progress events say nothing of which import they are about, so a handle listens only while
/// its own import runs: another section's import moves no bar here.
pub struct Import<T: 'static> {
    progress: UseStateHandle<Option<ImportProgress>>,
    result: UseStateHandle<Option<Result<T, IpcError>>>,
    running: Rc<Cell<bool>>,
}

#[hook]
pub fn use_import<T>() -> Import<T>
where
    T: 'static,
{
    let progress = use_state(|| None::<ImportProgress>);
    let result = use_state(|| None::<Result<T, IpcError>>);
    let running = (*use_memo((), |()| Rc::new(Cell::new(false)))).clone();
    {
        let (progress, running) = (progress.clone(), running.clone());
        use_effect_with((), move |()| {
            let sub = crate::ipc::on_import_progress(move |p| {
                if running.get() {
                    progress.set(Some(p));
                }
            });
            move || drop(sub)
        });
    }
    Import {
        progress,
        result,
        running,
    }
}

impl<T: 'static> Clone for Import<T> {
    fn clone(&self) -> Self {
        Import {
            progress: self.progress.clone(),
            result: self.result.clone(),
            running: self.running.clone(),
        }
    }
}

impl<T: 'static> Import<T> {
    /// Runs `call`, showing a bar until it answers.
    pub fn start(&self, call: impl Future<Output = Result<T, IpcError>> + 'static) {
        self.progress.set(Some(ImportProgress {
            done: 0,
            total: 0,
            finished: false,
        }));
        self.result.set(None);
        self.running.set(true);
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let answer = call.await;
            this.running.set(false);
            this.result.set(Some(answer));
        });
    }

    /// Whether an import is under way (its buttons wait).
    pub fn running(&self) -> bool {
        self.result.is_none() && self.progress.as_ref().is_some_and(|p| !p.finished)
    }

    /// The bar (`<progress id={id}>`) while it runs, then `done` of the answer or the error.
    pub fn status(&self, lang: Lang, id: &'static str, done: impl FnOnce(&T) -> Html) -> Html {
        match (&*self.result, &*self.progress) {
            (Some(Ok(r)), _) => done(r),
            (Some(Err(e)), _) => error_note(lang, e),
            (None, Some(p)) if !p.finished => html! {
                <progress id={id} max={p.total.max(1).to_string()} value={p.done.to_string()}
                    aria-label={ t(lang, Text::Importing) }>{ format!("{}/{}", p.done, p.total) }</progress>
            },
            _ => Html::default(),
        }
    }
}

/// A failed command, in words (the English detail as a tooltip).
pub fn error_note(lang: Lang, e: &IpcError) -> Html {
    html! { <p class="error" role="alert" title={e.message.clone()}>{ error_text(lang, e.code) }</p> }
}

/// Loading / error / content.
pub fn loaded<T>(
    lang: Lang,
    state: &Option<Result<T, IpcError>>,
    content: impl FnOnce(&T) -> Html,
) -> Html {
    match state {
        None => html! { <p class="empty">{ t(lang, Text::Loading) }</p> },
        Some(Err(e)) => error_note(lang, e),
        Some(Ok(v)) => content(v),
    }
}

/// The value of the input or textarea an event came from.
pub fn input_value(e: &InputEvent) -> String {
    use wasm_bindgen::JsCast;
    let target = e.target();
    if let Some(i) = target
        .as_ref()
        .and_then(|t| t.dyn_ref::<web_sys::HtmlInputElement>())
    {
        return i.value();
    }
    target
        .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
        .map(|t| t.value())
        .unwrap_or_default()
}

/// The value of the select a change event came from.
pub fn select_value(e: &Event) -> String {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
        .map(|s| s.value())
        .unwrap_or_default()
}

/// Whether the checkbox a change event came from is checked.
pub fn checked(e: &Event) -> bool {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .is_some_and(|i| i.checked())
}
