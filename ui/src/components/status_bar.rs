//! The status bar: relay connection (online / offline / reconnecting with backoff), writes
//! waiting to be sent, catalog size, and a slow rebuild of the recommendation index.

use movietalk_protocol::ipc::{AppInfo, ImportProgress, RelayStatus, SyncStatus};
use yew::prelude::*;

use crate::i18n::{Text, t, tf};
use crate::ipc::{self, cmd};
use crate::route::use_ctx;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub info: Option<AppInfo>,
    pub sync: Option<SyncStatus>,
}

#[function_component(StatusBar)]
pub fn status_bar(props: &Props) -> Html {
    let l = use_ctx().lang;
    let (class, label, title) = match props.sync.as_ref().map(|s| &s.relay) {
        Some(RelayStatus::Online) => (
            "status-online",
            t(l, Text::Online).to_owned(),
            String::new(),
        ),
        Some(RelayStatus::Connecting) | None => {
            ("", t(l, Text::Connecting).to_owned(), String::new())
        }
        Some(RelayStatus::Offline { reason }) => (
            "status-offline",
            t(l, Text::Offline).to_owned(),
            reason.clone(),
        ),
        Some(RelayStatus::Reconnecting { reason, in_secs }) => (
            "status-offline",
            tf(l, Text::ReconnectingIn, &[&in_secs.to_string()]),
            reason.clone(),
        ),
    };
    // A rebuild of the recommendation index after an import, when it takes a while.
    let index = use_state(|| None::<ImportProgress>);
    {
        let index = index.clone();
        use_effect_with((), move |()| {
            let sub = ipc::on_index_progress(move |p| index.set((!p.finished).then_some(p)));
            move || drop(sub)
        });
    }
    let pending = props.sync.as_ref().map_or(0, |s| s.pending);
    let sync_error = props.sync.as_ref().and_then(|s| s.error.clone());
    let sync_now = Callback::from(|_| {
        wasm_bindgen_futures::spawn_local(async {
            let _ = ipc::call(cmd::SyncNow {}).await;
        })
    });
    html! {
        <footer>
            <span id="relay-status" class={class} title={title} role="status">{ label }</span>
            <span id="pending-count" class={classes!((pending > 0).then_some("pending"))}>
                { if pending > 0 { tf(l, Text::PendingWrites, &[&pending.to_string()]) } else { t(l, Text::AllSent).to_owned() } }
            </span>
            if let Some(e) = sync_error { <span class="sync-error" title={e}>{ t(l, Text::SyncProblem) }</span> }
            <button class="link" id="sync-now" onclick={sync_now}>{ t(l, Text::SyncNow) }</button>
            if let Some(info) = &props.info {
                <span id="relay-info">
                    { format!("{}: {}", t(l, Text::Relay), info.relay_url) }
                    if info.relay_hosted_here { { format!(" ({})", t(l, Text::HostedRelay)) } }
                </span>
                <span>{ format!("{}: {}", t(l, Text::Movies), info.movie_count) }</span>
            }
            if let Some(p) = &*index {
                <span id="index-progress" role="status">
                    { tf(l, Text::PreparingRecommendations, &[&(p.done * 100 / p.total.max(1)).to_string()]) }
                    <progress max={p.total.to_string()} value={p.done.to_string()}></progress>
                </span>
            }
        </footer>
    }
}
