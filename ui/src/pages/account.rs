//! Sign up or log in to the relay with a local account; log out. The session token is kept in
//! the OS keyring; where there is none, the screen says the session lasts until the app closes.

use movietalk_protocol::ipc::{IpcError, SessionInfo};
use yew::prelude::*;

use crate::i18n::{Text, t};
use crate::ipc;
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
    let info = use_load(ctx.account.clone(), |_| ipc::session());
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
                    ipc::sign_up(&h, &p, Some(&d)).await
                } else {
                    ipc::log_in(&h, &p).await
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
                match ipc::log_out().await {
                    Ok(()) => {
                        if let Ok(s) = ipc::session().await {
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
            { keyring_note }
            if let Some(e) = &*error { <div id="account-error">{ error_note(l, e) }</div> }
        </div>
    }
}
