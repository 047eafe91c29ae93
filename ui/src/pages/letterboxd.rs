//! "Import from Letterboxd" in Settings: the export's .zip, a progress bar while it is read,
//! then what came in and which rows named no film here.

use movietalk_protocol::ipc::{ImportProgress, IpcError, LetterboxdReport};
use yew::prelude::*;

use crate::i18n::{Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::{error_note, input_value};
use crate::route::use_ctx;

#[function_component(LetterboxdImport)]
pub fn letterboxd_import() -> Html {
    let l = use_ctx().lang;
    let path = use_state(String::new);
    let progress = use_state(|| None::<ImportProgress>);
    let result = use_state(|| None::<Result<LetterboxdReport, IpcError>>);
    {
        let progress = progress.clone();
        use_effect_with((), move |()| {
            let sub = ipc::on_import_progress(move |p| progress.set(Some(p)));
            move || drop(sub)
        });
    }
    let running = result.is_none() && progress.as_ref().is_some_and(|p| !p.finished);
    let start = {
        let (path, progress, result) = (path.clone(), progress.clone(), result.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (path, result) = ((*path).clone(), result.clone());
            progress.set(Some(ImportProgress {
                done: 0,
                total: 0,
                finished: false,
            }));
            result.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                result.set(Some(ipc::call(cmd::ImportLetterboxd { path }).await));
            });
        })
    };
    let status = match (&*result, &*progress) {
        (Some(Ok(r)), _) => html! {
            <div id="letterboxd-result" role="status">
                <p class="ok">{ tf(l, Text::LetterboxdDone, &[
                    &r.diary.to_string(), &r.reviews.to_string(), &r.watchlist.to_string(), &r.ratings.to_string(),
                ]) }</p>
                if !r.unmatched.is_empty() {
                    <p>{ t(l, Text::LetterboxdUnmatched) }</p>
                    <ul id="letterboxd-unmatched">
                        { for r.unmatched.iter().map(|u| html! {
                            <li>{ format!("{} ({}), {}:{}", u.name, u.year.map(|y| y.to_string()).unwrap_or_default(), u.file, u.line) }</li>
                        }) }
                    </ul>
                }
            </div>
        },
        (Some(Err(e)), _) => error_note(l, e),
        (None, Some(p)) if !p.finished => html! {
            <progress id="letterboxd-progress" max={p.total.max(1).to_string()} value={p.done.to_string()}
                aria-label={ t(l, Text::Importing) }>{ format!("{}/{}", p.done, p.total) }</progress>
        },
        _ => Html::default(),
    };
    html! {
        <section>
            <h2>{ t(l, Text::LetterboxdImport) }</h2>
            <p class="hint">{ t(l, Text::LetterboxdHint) }</p>
            <form class="row" onsubmit={start}>
                <input id="letterboxd-path" aria-label={ t(l, Text::LetterboxdImport) } placeholder="/path/to/letterboxd-export.zip"
                    value={(*path).clone()} oninput={{ let path = path.clone(); Callback::from(move |e: InputEvent| path.set(input_value(&e))) }} />
                <button type="submit" id="letterboxd-import" disabled={running}>{ t(l, Text::Import) }</button>
            </form>
            { status }
        </section>
    }
}
