//! The status bar: relay connection, catalog size, data folder.

use movietalk_protocol::ipc::{AppInfo, RelayStatus};
use yew::prelude::*;

use crate::i18n::{Lang, Text, t};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub lang: Lang,
    pub info: Option<AppInfo>,
    pub status: Option<RelayStatus>,
}

#[function_component(StatusBar)]
pub fn status_bar(props: &Props) -> Html {
    let l = props.lang;
    let (class, label) = match &props.status {
        Some(RelayStatus::Online) => ("status-online", t(l, Text::Online)),
        Some(RelayStatus::Connecting) => ("", t(l, Text::Connecting)),
        Some(RelayStatus::Offline { .. }) => ("status-offline", t(l, Text::Offline)),
        None => ("", ""),
    };
    let title = match &props.status {
        Some(RelayStatus::Offline { reason }) => reason.clone(),
        _ => String::new(),
    };
    html! {
        <footer>
            if let Some(info) = &props.info {
                <span id="relay-info">
                    { format!("{}: {}", t(l, Text::Relay), info.relay_url) }
                    if info.relay_hosted_here { { format!(" ({})", t(l, Text::HostedRelay)) } }
                </span>
                <span id="relay-status" class={class} title={title}>{ label }</span>
                <span>{ format!("{}: {}", t(l, Text::Movies), info.movie_count) }</span>
                <span>{ format!("{}: {}", t(l, Text::DataFolder), info.data_dir) }</span>
            }
        </footer>
    }
}
