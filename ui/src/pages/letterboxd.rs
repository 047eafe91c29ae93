//! "Import from Letterboxd" in Settings: the export's .zip, a progress bar while it is read,
//! then what came in and which rows named no film here.

use movietalk_protocol::ipc::LetterboxdReport;
use yew::prelude::*;

use crate::i18n::{Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::{input_value, use_import};
use crate::route::use_ctx;

#[function_component(LetterboxdImport)]
pub fn letterboxd_import() -> Html {
    let l = use_ctx().lang;
    let path = use_state(String::new);
    let import = use_import::<LetterboxdReport>();
    let start = {
        let (path, import) = (path.clone(), import.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let path = (*path).clone();
            import.start(ipc::call(cmd::ImportLetterboxd { path }));
        })
    };
    let running = import.running();
    let status = import.status(l, "letterboxd-progress", |r| {
        html! {
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
        }
    });
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
