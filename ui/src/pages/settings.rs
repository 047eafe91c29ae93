//! Settings: relay address or hosting one here, language, theme, the TMDB key (kept in the OS
//! keyring), the data folder, importing films with a progress bar, and exporting your data.

use movietalk_protocol::ipc::{AppInfo, ImportReport, IpcError, Settings, Theme};
use yew::prelude::*;

use crate::i18n::{Lang, Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::letterboxd::LetterboxdImport;
use crate::pages::{checked, error_note, input_value, loaded, select_value, use_import, use_load};
use crate::route::use_ctx;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub info: Option<AppInfo>,
    /// Told when the saved settings change (language, theme).
    pub on_saved: Callback<Settings>,
}

#[function_component(SettingsPage)]
pub fn settings_page(props: &Props) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let loaded_settings = use_load((), |()| ipc::call(cmd::GetSettings {}));
    let has_key = use_load((), |()| ipc::call(cmd::HasTmdbKey {}));
    let draft = use_state(|| None::<Settings>);
    let relay_text = use_state(|| None::<String>);
    let error = use_state(|| None::<IpcError>);
    let saved = use_state(|| false);
    let tmdb = use_state(String::new);
    let tmdb_saved = use_state(|| None::<bool>);
    let import_source = use_state(String::new);
    let import = use_import::<ImportReport>();
    let exported = use_state(|| None::<Result<String, IpcError>>);
    let current: Settings = (*draft)
        .clone()
        .or_else(|| {
            loaded_settings
                .as_ref()
                .and_then(|r| r.as_ref().ok().cloned())
        })
        .unwrap_or_default();
    let hosting = current.relay_url.is_none();
    let save = {
        let (current, relay_text, error, saved, on_saved, draft) = (
            current.clone(),
            relay_text.clone(),
            error.clone(),
            saved.clone(),
            props.on_saved.clone(),
            draft.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let mut s = current.clone();
            if let Some(text) = (*relay_text).clone()
                && s.relay_url.is_some()
            {
                s.relay_url = Some(text);
            }
            let (error, saved, on_saved, draft) = (
                error.clone(),
                saved.clone(),
                on_saved.clone(),
                draft.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::SetSettings {
                    settings: s.clone(),
                })
                .await
                {
                    Ok(s) => {
                        error.set(None);
                        saved.set(true);
                        draft.set(Some(s.clone()));
                        on_saved.emit(s);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let edit = |change: fn(&mut Settings, String)| {
        let (draft, current, saved) = (draft.clone(), current.clone(), saved.clone());
        Callback::from(move |e: Event| {
            let mut s = current.clone();
            change(&mut s, select_value(&e));
            saved.set(false);
            draft.set(Some(s));
        })
    };
    let on_update_check = {
        let (draft, current, saved) = (draft.clone(), current.clone(), saved.clone());
        Callback::from(move |e: Event| {
            let mut s = current.clone();
            s.skip_update_check = !checked(&e);
            saved.set(false);
            draft.set(Some(s));
        })
    };
    let on_host = {
        let (draft, current, relay_text, saved) = (
            draft.clone(),
            current.clone(),
            relay_text.clone(),
            saved.clone(),
        );
        Callback::from(move |e: Event| {
            let mut s = current.clone();
            s.relay_url = if checked(&e) {
                None
            } else {
                Some((*relay_text).clone().unwrap_or_else(|| "ws://".to_owned()))
            };
            saved.set(false);
            draft.set(Some(s));
        })
    };
    let on_relay = {
        let (relay_text, saved) = (relay_text.clone(), saved.clone());
        Callback::from(move |e: InputEvent| {
            saved.set(false);
            relay_text.set(Some(input_value(&e)));
        })
    };
    let save_tmdb = {
        let (tmdb, tmdb_saved, error) = (tmdb.clone(), tmdb_saved.clone(), error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (key, tmdb, tmdb_saved, error) = (
                (*tmdb).clone(),
                tmdb.clone(),
                tmdb_saved.clone(),
                error.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::SetTmdbKey {
                    key: key.to_string(),
                })
                .await
                {
                    Ok(set) => {
                        tmdb.set(String::new());
                        tmdb_saved.set(Some(set));
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_tmdb = {
        let tmdb = tmdb.clone();
        Callback::from(move |e: InputEvent| tmdb.set(input_value(&e)))
    };
    let tmdb_pages = use_state(|| "1".to_owned());
    let start_tmdb = {
        let (pages, import) = (tmdb_pages.clone(), import.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let pages = pages.trim().parse().unwrap_or(1);
            import.start(ipc::call(cmd::ImportTmdb { pages, genre: None }));
        })
    };
    let on_tmdb_pages = {
        let s = tmdb_pages.clone();
        Callback::from(move |e: InputEvent| s.set(input_value(&e)))
    };
    let start_import = {
        let (source, import) = (import_source.clone(), import.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let source = source.to_string();
            import.start(ipc::call(cmd::ImportWikipedia { source }));
        })
    };
    let on_source = {
        let s = import_source.clone();
        Callback::from(move |e: InputEvent| s.set(input_value(&e)))
    };
    let export = {
        let exported = exported.clone();
        Callback::from(move |_| {
            let exported = exported.clone();
            wasm_bindgen_futures::spawn_local(async move {
                exported.set(Some(ipc::call(cmd::ExportData {}).await))
            });
        })
    };
    let save_providers = {
        let (error, draft, on_saved) = (error.clone(), draft.clone(), props.on_saved.clone());
        Callback::from(move |s: Settings| {
            let (error, draft, on_saved) = (error.clone(), draft.clone(), on_saved.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::SetSettings {
                    settings: s.clone(),
                })
                .await
                {
                    Ok(s) => {
                        error.set(None);
                        draft.set(Some(s.clone()));
                        on_saved.emit(s);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let importing = import.running();
    let form = loaded(l, &loaded_settings, |_| {
        html! {
            <form class="stack" onsubmit={save.clone()}>
                <fieldset>
                    <legend>{ t(l, Text::Relay) }</legend>
                    if let Some(info) = props.info.as_ref().filter(|i| hosting && !i.relay_hosted_here) {
                        <p class="warning" id="relay-from-env">{ tf(l, Text::RelayFromEnvironment, &[&info.relay_url]) }</p>
                    }
                    <label class="row"><input type="checkbox" id="host-relay" checked={hosting} onchange={on_host.clone()} />{ t(l, Text::HostRelay) }</label>
                    if !hosting {
                        <label>{ t(l, Text::RelayAddress) }
                            <input id="relay-url" placeholder="wss://relay.example.org" value={(*relay_text).clone().or(current.relay_url.clone()).unwrap_or_default()}
                                oninput={on_relay.clone()} />
                        </label>
                    }
                </fieldset>
                <label>{ t(l, Text::Language) }
                    <select id="language" onchange={edit(|s, v| s.language = (!v.is_empty()).then_some(v))}>
                        <option value="" selected={current.language.is_none()}>{ t(l, Text::FromSystem) }</option>
                        <option value="ko" selected={current.language.as_deref() == Some("ko")}>{ "한국어" }</option>
                        <option value="en" selected={current.language.as_deref() == Some("en")}>{ "English" }</option>
                    </select>
                </label>
                <label>{ t(l, Text::Theme) }
                    <select id="theme" onchange={edit(|s, v| s.theme = match v.as_str() { "light" => Theme::Light, "dark" => Theme::Dark, _ => Theme::System })}>
                        <option value="system" selected={current.theme == Theme::System}>{ t(l, Text::FromSystem) }</option>
                        <option value="light" selected={current.theme == Theme::Light}>{ t(l, Text::Light) }</option>
                        <option value="dark" selected={current.theme == Theme::Dark}>{ t(l, Text::Dark) }</option>
                    </select>
                </label>
                <label class="row"><input type="checkbox" id="update-check" checked={!current.skip_update_check} onchange={on_update_check.clone()} />{ t(l, Text::CheckForUpdates) }</label>
                <div class="row">
                    <button type="submit" class="primary" id="save-settings">{ t(l, Text::Save) }</button>
                    if *saved { <span class="ok" role="status" id="settings-saved">{ t(l, Text::Saved) }</span> }
                </div>
            </form>
        }
    });
    let import_status = import.status(l, "import-progress", |r| {
        html! {
            <p class="ok" id="import-result" role="status">
                { tf(l, Text::ImportDone, &[&r.added.to_string(), &r.updated.to_string(), &r.unchanged.to_string()]) }
            </p>
        }
    });
    html! {
        <div class="page settings" id="settings-page">
            <h1>{ t(l, Text::Settings) }</h1>
            { form }
            if let Some(e) = &*error { { error_note(l, e) } }
            if ctx.account.is_some() { <AccountSecurity /> }
            <LoginProviders settings={current.clone()} on_change={save_providers} />
            <section>
                <h2>{ t(l, Text::TmdbKey) }</h2>
                <p class="hint">{ t(l, Text::TmdbKeyHint) }
                    { match (&*tmdb_saved, &*has_key) {
                        (Some(true), _) | (None, Some(Ok(true))) => format!(" {}", t(l, Text::KeySet)),
                        _ => String::new(),
                    } }
                </p>
                <form class="row" onsubmit={save_tmdb}>
                    <input id="tmdb-key" type="password" autocomplete="off" aria-label={ t(l, Text::TmdbKey) } value={(*tmdb).clone()} oninput={on_tmdb} />
                    <button type="submit" id="save-tmdb">{ t(l, Text::Save) }</button>
                </form>
            </section>
            <section>
                <h2>{ t(l, Text::Import) }</h2>
                <p class="hint">{ t(l, Text::ImportHint) }</p>
                <form class="row" onsubmit={start_import}>
                    <input id="import-source" aria-label={ t(l, Text::Import) } placeholder="/path/to/movies.json" value={(*import_source).clone()} oninput={on_source} />
                    <button type="submit" id="import-start" disabled={importing}>{ t(l, Text::Import) }</button>
                </form>
                <form class="row" onsubmit={start_tmdb}>
                    <label class="row">{ t(l, Text::TmdbPages) }
                        <input id="tmdb-pages" type="number" min="1" max="500" value={(*tmdb_pages).clone()} oninput={on_tmdb_pages} />
                    </label>
                    <button type="submit" id="import-tmdb" disabled={importing}>{ t(l, Text::ImportFromTmdb) }</button>
                </form>
                { import_status }
            </section>
            <LetterboxdImport />
            <section>
                <h2>{ t(l, Text::DataFolder) }</h2>
                <p id="data-dir"><code>{ props.info.as_ref().map(|i| i.data_dir.clone()).unwrap_or_default() }</code></p>
                <button id="export" onclick={export}>{ t(l, Text::Export) }</button>
                { match &*exported {
                    Some(Ok(path)) => html! { <p class="ok" id="export-path">{ tf(l, Text::ExportedTo, &[path]) }</p> },
                    Some(Err(e)) => error_note(l, e),
                    None => Html::default(),
                } }
            </section>
        </div>
    }
}

/// The language the settings choose, else the one detected at start.
pub fn settings_lang(s: &Settings, detected: Lang) -> Lang {
    match s.language.as_deref() {
        Some("ko") => Lang::Ko,
        Some("en") => Lang::En,
        _ => detected,
    }
}

/// Where the account is logged in (each session revocable) and how it can log in (providers
/// linked and unlinked; the relay keeps at least one way in).
#[function_component(AccountSecurity)]
pub fn account_security() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let changed = use_state(|| 0u32);
    let sessions = use_load(*changed, |_| ipc::call(cmd::ListSessions {}));
    let methods = use_load(*changed, |_| ipc::call(cmd::LoginMethods {}));
    let configured = use_load((), |()| ipc::call(cmd::GetSettings {}));
    let error = use_state(|| None::<IpcError>);
    let run = {
        let (changed, error) = (changed.clone(), error.clone());
        move |fut: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), IpcError>>>>| {
            let (changed, error) = (changed.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match fut.await {
                    Ok(()) => {
                        error.set(None);
                        changed.set(*changed + 1);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let session_list = loaded(
        l,
        &sessions,
        |list: &Vec<movietalk_protocol::ipc::RelaySession>| {
            html! {
                <ul class="sessions" id="sessions">
                    { for list.iter().map(|s| {
                        let (run, id) = (run.clone(), s.id);
                        let when = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(s.last_used_at_ms as f64))
                            .to_locale_string(l.code(), &wasm_bindgen::JsValue::UNDEFINED);
                        html! {
                            <li class="session" data-id={s.id.to_string()}>
                                <span>{ if s.client.is_empty() { s.method.clone() } else { format!("{} · {}", s.client, s.method) } }</span>
                                if s.current { <span class="delivery sent">{ t(l, Text::ThisDevice) }</span> }
                                <span class="sub">{ format!("{} {}", t(l, Text::LastUsed), String::from(when)) }</span>
                                if !s.current {
                                    <button class="link revoke" onclick={Callback::from(move |_| run(Box::pin(ipc::call(cmd::RevokeSession { session_id: id }))))}>{ t(l, Text::Revoke) }</button>
                                }
                            </li>
                        }
                    }) }
                </ul>
            }
        },
    );
    let linked: Vec<String> = match &*methods {
        Some(Ok(m)) => m.providers.iter().map(|p| p.provider.clone()).collect(),
        _ => Vec::new(),
    };
    let offered: Vec<String> = match &*configured {
        Some(Ok(s)) => s
            .login_providers
            .iter()
            .map(|p| p.name.clone())
            .filter(|n| !linked.contains(n))
            .collect(),
        _ => Vec::new(),
    };
    let method_list = loaded(
        l,
        &methods,
        |m: &movietalk_protocol::ipc::LoginMethodsView| {
            html! {
                <ul class="sessions" id="login-methods">
                    if m.password { <li>{ t(l, Text::PasswordMethod) }</li> }
                    { for m.providers.iter().map(|p| {
                        let (run, name) = (run.clone(), p.provider.clone());
                        html! {
                            <li data-provider={p.provider.clone()}>
                                { crate::pages::account::provider_label(&p.provider) }
                                <button class="link" onclick={Callback::from(move |_| {
                                    let name = name.clone();
                                    run(Box::pin(async move { ipc::call(cmd::UnlinkProvider { provider: name.to_string() }).await.map(|_| ()) }))
                                })}>{ t(l, Text::Unlink) }</button>
                            </li>
                        }
                    }) }
                </ul>
            }
        },
    );
    html! {
        <>
            <section>
                <h2>{ t(l, Text::Sessions) }</h2>
                { session_list }
            </section>
            <section>
                <h2>{ t(l, Text::LoginMethods) }</h2>
                { method_list }
                <div class="row">
                    { for offered.iter().map(|p| {
                        let (run, name) = (run.clone(), p.clone());
                        html! {
                            <button onclick={Callback::from(move |_| {
                                let name = name.clone();
                                run(Box::pin(async move { ipc::call(cmd::LinkProvider { provider: name.to_string() }).await.map(|_| ()) }))
                            })}>{ format!("{} {}", t(l, Text::Link), crate::pages::account::provider_label(p)) }</button>
                        }
                    }) }
                </div>
                if let Some(e) = &*error { { error_note(l, e) } }
            </section>
        </>
    }
}

#[derive(Properties, PartialEq)]
pub struct ProvidersProps {
    pub settings: Settings,
    pub on_change: Callback<Settings>,
}

/// The login providers this app offers: a name, an issuer and the app's public client id each.
#[function_component(LoginProviders)]
pub fn login_providers(props: &ProvidersProps) -> Html {
    let l = use_ctx().lang;
    let name = use_state(String::new);
    let issuer = use_state(String::new);
    let client_id = use_state(String::new);
    let add = {
        let (name, issuer, client_id, settings, on_change) = (
            name.clone(),
            issuer.clone(),
            client_id.clone(),
            props.settings.clone(),
            props.on_change.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let mut s = settings.clone();
            let n = name.trim().to_lowercase();
            s.login_providers.retain(|p| p.name != n);
            s.login_providers
                .push(movietalk_protocol::ipc::LoginProviderConfig {
                    name: n,
                    client_id: client_id.trim().to_owned(),
                    issuer: Some(issuer.trim().to_owned()).filter(|i| !i.is_empty()),
                    authorize_url: None,
                    token_url: None,
                });
            name.set(String::new());
            issuer.set(String::new());
            client_id.set(String::new());
            on_change.emit(s);
        })
    };
    let field = |s: &UseStateHandle<String>| {
        let s = s.clone();
        Callback::from(move |e: InputEvent| s.set(input_value(&e)))
    };
    html! {
        <section>
            <h2>{ t(l, Text::LoginProviders) }</h2>
            <p class="hint">{ t(l, Text::LoginProvidersHint) }</p>
            <ul class="sessions" id="login-providers">
                { for props.settings.login_providers.iter().map(|p| {
                    let (settings, on_change, n) = (props.settings.clone(), props.on_change.clone(), p.name.clone());
                    html! {
                        <li>
                            <strong>{ crate::pages::account::provider_label(&p.name) }</strong>
                            <span class="sub">{ format!(" {} · {}", p.issuer.clone().unwrap_or_default(), p.client_id) }</span>
                            <button class="link" onclick={Callback::from(move |_| {
                                let mut s = settings.clone();
                                s.login_providers.retain(|x| x.name != n);
                                on_change.emit(s);
                            })}>{ t(l, Text::Remove) }</button>
                        </li>
                    }
                }) }
            </ul>
            <form class="row" onsubmit={add}>
                <input id="provider-name" required=true maxlength="40" placeholder={ t(l, Text::ProviderName) } aria-label={ t(l, Text::ProviderName) }
                    value={(*name).clone()} oninput={field(&name)} />
                <input id="provider-issuer" type="url" placeholder={ t(l, Text::Issuer) } aria-label={ t(l, Text::Issuer) }
                    value={(*issuer).clone()} oninput={field(&issuer)} />
                <input id="provider-client-id" required=true placeholder={ t(l, Text::ClientId) } aria-label={ t(l, Text::ClientId) }
                    value={(*client_id).clone()} oninput={field(&client_id)} />
                <button type="submit">{ t(l, Text::Add) }</button>
            </form>
        </section>
    }
}
