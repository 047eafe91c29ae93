//! Sign up or log in to the relay with a local account; log out. The session token is kept in
//! the OS keyring; where there is none, the screen says the session lasts until the app closes.

use movietalk_protocol::ipc::{IpcError, SessionInfo};
use yew::prelude::*;

use crate::i18n::{Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::{error_note, input_value, use_load};
use crate::route::use_ctx;

#[derive(Properties, PartialEq)]
pub struct Props {
    /// Told when the session changes.
    pub on_session: Callback<SessionInfo>,
}

#[function_component(AccountPage)]
pub fn account_page(props: &Props) -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let info = use_load(ctx.account.clone(), |_| ipc::call(cmd::Session {}));
    let signing_up = use_state(|| false);
    let handle = use_state(String::new);
    let password = use_state(String::new);
    let display_name = use_state(String::new);
    let error = use_state(|| None::<IpcError>);
    let busy = use_state(|| false);
    let submit = {
        let (signing_up, handle, password, display_name, error, busy, on_session) = (
            signing_up.clone(),
            handle.clone(),
            password.clone(),
            display_name.clone(),
            error.clone(),
            busy.clone(),
            props.on_session.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (up, h, p, d) = (
                *signing_up,
                (*handle).clone(),
                (*password).clone(),
                (*display_name).clone(),
            );
            let (error, busy, on_session, password) = (
                error.clone(),
                busy.clone(),
                on_session.clone(),
                password.clone(),
            );
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let result = if up {
                    ipc::call(cmd::SignUp {
                        handle: h.to_string(),
                        password: p.to_string(),
                        display_name: Some(d.to_string()),
                    })
                    .await
                } else {
                    ipc::call(cmd::LogIn {
                        handle: h.to_string(),
                        password: p.to_string(),
                    })
                    .await
                };
                busy.set(false);
                match result {
                    Ok(s) => {
                        error.set(None);
                        password.set(String::new());
                        on_session.emit(s);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let log_out = {
        let (error, on_session) = (error.clone(), props.on_session.clone());
        Callback::from(move |_| {
            let (error, on_session) = (error.clone(), on_session.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::LogOut {}).await {
                    Ok(()) => {
                        if let Ok(s) = ipc::call(cmd::Session {}).await {
                            on_session.emit(s);
                        }
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let field = |state: &UseStateHandle<String>| {
        let state = state.clone();
        Callback::from(move |e: InputEvent| state.set(input_value(&e)))
    };
    let toggle = {
        let signing_up = signing_up.clone();
        Callback::from(move |_| signing_up.set(!*signing_up))
    };
    let keyring_note = match &*info {
        Some(Ok(s)) if !s.keyring => html! {
            <p class="warning" id="keyring-note" title={s.keyring_problem.clone().unwrap_or_default()}>{ t(l, Text::NoKeyring) }</p>
        },
        _ => Html::default(),
    };
    let settings = use_load((), |()| ipc::call(cmd::GetSettings {}));
    let providers: Vec<String> = match &*settings {
        Some(Ok(s)) => s.login_providers.iter().map(|p| p.name.clone()).collect(),
        _ => Vec::new(),
    };
    let waiting = use_state(|| None::<String>);
    let handle_needed = use_state(|| None::<String>);
    let with_provider = {
        let (waiting, handle_needed, error, on_session) = (
            waiting.clone(),
            handle_needed.clone(),
            error.clone(),
            props.on_session.clone(),
        );
        Callback::from(move |provider: String| {
            let (waiting, handle_needed, error, on_session) = (
                waiting.clone(),
                handle_needed.clone(),
                error.clone(),
                on_session.clone(),
            );
            waiting.set(Some(provider.clone()));
            error.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = ipc::call(cmd::ProviderLogIn {
                    provider: provider.to_string(),
                })
                .await;
                waiting.set(None);
                match outcome {
                    Ok(o) if o.handle_needed => {
                        handle_needed.set(Some(o.suggested_handle.unwrap_or_default()))
                    }
                    Ok(o) => {
                        if let Some(s) = o.session {
                            on_session.emit(s);
                        }
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let cancel = Callback::from(|_| {
        wasm_bindgen_futures::spawn_local(async {
            let _ = ipc::call(cmd::CancelProviderLogIn {}).await;
        })
    });
    let choose_handle = {
        let (handle_needed, error, on_session) = (
            handle_needed.clone(),
            error.clone(),
            props.on_session.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let chosen = (*handle_needed).clone().unwrap_or_default();
            let (handle_needed, error, on_session) =
                (handle_needed.clone(), error.clone(), on_session.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(cmd::ProviderChooseHandle {
                    handle: chosen.to_string(),
                })
                .await
                {
                    Ok(o) if o.handle_needed => error.set(Some(IpcError::new(
                        movietalk_protocol::ipc::IpcErrorCode::Conflict,
                        "taken",
                    ))),
                    Ok(o) => {
                        handle_needed.set(None);
                        if let Some(s) = o.session {
                            on_session.emit(s);
                        }
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let on_chosen = {
        let handle_needed = handle_needed.clone();
        Callback::from(move |e: InputEvent| handle_needed.set(Some(input_value(&e))))
    };
    let provider_section = if let Some(chosen) = &*handle_needed {
        html! {
            <form class="stack" id="choose-handle" onsubmit={choose_handle}>
                <p>{ t(l, Text::ChooseHandle) }</p>
                <label>{ t(l, Text::Handle) }
                    <input id="provider-handle" required=true minlength="3" maxlength="30" value={chosen.clone()} oninput={on_chosen} />
                </label>
                <button type="submit" class="primary" id="provider-create">{ t(l, Text::CreateAccount) }</button>
            </form>
        }
    } else if let Some(provider) = &*waiting {
        html! {
            <div class="stack" id="provider-waiting" role="status">
                <p>{ tf(l, Text::WaitingForBrowser, &[provider]) }</p>
                <button id="provider-cancel" onclick={cancel}>{ t(l, Text::Cancel) }</button>
            </div>
        }
    } else if providers.is_empty() {
        Html::default()
    } else {
        html! {
            <div class="stack providers">
                <p class="hint">{ t(l, Text::OrContinueWith) }</p>
                { for providers.iter().map(|p| {
                    let (with_provider, name) = (with_provider.clone(), p.clone());
                    html! {
                        <button id={format!("provider-{p}")} class="provider" onclick={Callback::from(move |_| with_provider.emit(name.clone()))}>
                            { tf(l, Text::ContinueWith, &[&provider_label(p)]) }
                        </button>
                    }
                }) }
            </div>
        }
    };
    if let Some(account) = &ctx.account {
        return html! {
            <div class="page account" id="account-page">
                <h1>{ t(l, Text::Account) }</h1>
                <p id="logged-in-as">{ format!("{} {} (@{})", t(l, Text::LoggedInAs), account.display_name, account.handle) }</p>
                { keyring_note }
                <button id="logout" onclick={log_out}>{ t(l, Text::LogOut) }</button>
                if let Some(e) = &*error { { error_note(l, e) } }
            </div>
        };
    }
    html! {
        <div class="page account" id="account-page">
            <h1>{ t(l, if *signing_up { Text::SignUp } else { Text::LogIn }) }</h1>
            <p class="hint">{ t(l, Text::AccountHint) }</p>
            <form class="stack" onsubmit={submit}>
                <label>{ t(l, Text::Handle) }
                    <input id="handle" autocomplete="username" required=true minlength="3" maxlength="30" value={(*handle).clone()} oninput={field(&handle)} />
                </label>
                if *signing_up {
                    <label>{ t(l, Text::DisplayName) }
                        <input id="display-name" maxlength="40" value={(*display_name).clone()} oninput={field(&display_name)} />
                    </label>
                }
                <label>{ t(l, Text::Password) }
                    <input id="password" type="password" required=true minlength="8"
                        autocomplete={ if *signing_up { "new-password" } else { "current-password" } }
                        value={(*password).clone()} oninput={field(&password)} />
                </label>
                <button type="submit" class="primary" id={ if *signing_up { "signup" } else { "login" } } disabled={*busy}>
                    { t(l, if *signing_up { Text::SignUp } else { Text::LogIn }) }
                </button>
            </form>
            <button class="link" id="account-mode" onclick={toggle}>
                { t(l, if *signing_up { Text::HaveAccount } else { Text::NeedAccount }) }
            </button>
            { provider_section }
            { keyring_note }
            if let Some(e) = &*error { <div id="account-error">{ error_note(l, e) }</div> }
        </div>
    }
}

/// A provider's name as people know it.
pub fn provider_label(name: &str) -> String {
    match name {
        "google" => "Google".into(),
        "github" => "GitHub".into(),
        "kakao" => "Kakao".into(),
        other => other.to_owned(),
    }
}
