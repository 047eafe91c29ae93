//! The diary: every watch this user logged, by month, most recent first; and the form on a
//! film's page that logs one. Read from this machine, so it works offline.

use movietalk_protocol::ipc::{DiaryItem, IpcError};
use yew::prelude::*;

use crate::components::movie_list::titles;
use crate::components::stars::stars_text;
use crate::i18n::{Lang, Text, t};
use crate::ipc::{self, cmd};
use crate::pages::{checked, error_note, input_value, loaded, select_value, use_load};
use crate::route::{Route, use_ctx};

/// A month (`YYYY-MM`) as a heading: "Dec 2026", "2026년 12월".
fn month_title(l: Lang, month: &str) -> String {
    let names = t(l, Text::MonthNames).split(' ').collect::<Vec<_>>();
    let (year, m) = month.split_once('-').unwrap_or((month, ""));
    let name = m
        .parse::<usize>()
        .ok()
        .and_then(|m| names.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or(m);
    match l {
        Lang::En => format!("{name} {year}"),
        Lang::Ko => format!("{year}년 {name}"),
    }
}

/// Today here, `YYYY-MM-DD`.
fn today() -> String {
    let d = js_sys::Date::new_0();
    format!(
        "{:04}-{:02}-{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date()
    )
}

#[function_component(DiaryPage)]
pub fn diary_page() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let changed = use_state(|| 0u32);
    let diary = use_load((ctx.synced, *changed), |_| async {
        ipc::call(cmd::Diary {}).await
    });
    let body = loaded(l, &diary, |items: &Vec<DiaryItem>| {
        if items.is_empty() {
            return html! { <p class="empty" id="diary-empty">{ t(l, Text::DiaryEmpty) }</p> };
        }
        // Months in order, each with its watches.
        let mut months: Vec<(&str, Vec<&DiaryItem>)> = Vec::new();
        for item in items {
            let month = item.entry.watched_on.get(..7).unwrap_or_default();
            match months.last_mut() {
                Some((m, list)) if *m == month => list.push(item),
                _ => months.push((month, vec![item])),
            }
        }
        html! {
            <div id="diary">
                { for months.into_iter().map(|(month, list)| html! {
                    <section class="diary-month" data-month={month.to_owned()}>
                        <h3>{ month_title(l, month) }</h3>
                        <ul>
                            { for list.into_iter().map(|item| {
                                let e = &item.entry;
                                let (title, _) = titles(l, &item.movie);
                                let go = ctx.go.clone();
                                let key = e.movie_key.clone();
                                let open = Callback::from(move |_| go.emit(Route::Movie(key.clone())));
                                let remove = {
                                    let (id, changed) = (e.client_id.clone(), changed.clone());
                                    Callback::from(move |_| {
                                        let (id, changed) = (id.clone(), changed.clone());
                                        wasm_bindgen_futures::spawn_local(async move {
                                            if ipc::call(cmd::DeleteWatch { client_id: id }).await.is_ok() {
                                                changed.set(*changed + 1);
                                            }
                                        });
                                    })
                                };
                                html! {
                                    <li class="diary-entry" data-id={e.client_id.clone()} data-key={e.movie_key.clone()}>
                                        <span class="day">{ e.watched_on.get(8..).unwrap_or_default().to_owned() }</span>
                                        <button class="link" onclick={open}>{ title }</button>
                                        if let Some(r) = e.rating { <span class="stars">{ stars_text(r) }</span> }
                                        if e.rewatch { <span class="tag" title={t(l, Text::Rewatch)}>{ "↻" }</span> }
                                        if e.review { <span class="tag">{ t(l, Text::WithReview) }</span> }
                                        <button class="link delete-watch" onclick={remove}>{ t(l, Text::Delete) }</button>
                                    </li>
                                }
                            }) }
                        </ul>
                    </section>
                }) }
            </div>
        }
    });
    html! {
        <section class="page diary-page" id="diary-page">
            <h2>{ t(l, Text::Diary) }</h2>
            { body }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct LogProps {
    pub movie_key: String,
    /// Told after a watch was logged.
    pub on_logged: Callback<()>,
}

/// "Log a watch" on a film's page: the day, a rating, rewatch, and a review.
#[function_component(LogWatch)]
pub fn log_watch(props: &LogProps) -> Html {
    let l = use_ctx().lang;
    let day = use_state(today);
    let rating = use_state(|| None::<f32>);
    let rewatch = use_state(|| false);
    let review = use_state(String::new);
    let result = use_state(|| None::<Result<(), IpcError>>);
    let save = {
        let (day, rating, rewatch, review, result) = (
            day.clone(),
            rating.clone(),
            rewatch.clone(),
            review.clone(),
            result.clone(),
        );
        let (key, on_logged) = (props.movie_key.clone(), props.on_logged.clone());
        Callback::from(move |_| {
            let request = cmd::LogWatch {
                key: key.clone(),
                watched_on: (*day).clone(),
                rating: *rating,
                rewatch: *rewatch,
                review: Some((*review).clone()).filter(|r| !r.trim().is_empty()),
                spoiler: false,
            };
            let (result, review, on_logged) = (result.clone(), review.clone(), on_logged.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::call(request).await {
                    Ok(_) => {
                        review.set(String::new());
                        result.set(Some(Ok(())));
                        on_logged.emit(());
                    }
                    Err(e) => result.set(Some(Err(e))),
                }
            });
        })
    };
    html! {
        <section class="my-review log-watch" aria-labelledby="log-watch-title">
            <h2 id="log-watch-title">{ t(l, Text::LogWatch) }</h2>
            <div class="row">
                <input type="date" id="watch-date" value={(*day).clone()} max={today()}
                    oninput={{ let day = day.clone(); Callback::from(move |e: InputEvent| day.set(input_value(&e))) }} />
                <select id="watch-rating" onchange={{ let rating = rating.clone(); Callback::from(move |e: Event| rating.set(select_value(&e).parse().ok())) }}>
                    <option value="" selected={rating.is_none()}>{ t(l, Text::NoRating) }</option>
                    { for (1..=10).map(|half| {
                        let r = half as f32 / 2.0;
                        html! { <option value={r.to_string()} selected={*rating == Some(r)}>{ stars_text(r) }</option> }
                    }) }
                </select>
                <label class="row">
                    <input type="checkbox" id="watch-rewatch" checked={*rewatch}
                        onchange={{ let rewatch = rewatch.clone(); Callback::from(move |e: Event| rewatch.set(checked(&e))) }} />
                    { t(l, Text::Rewatch) }
                </label>
            </div>
            <textarea id="watch-review" placeholder={t(l, Text::WatchReviewPlaceholder)} value={(*review).clone()}
                oninput={{ let review = review.clone(); Callback::from(move |e: InputEvent| review.set(input_value(&e))) }} />
            <div class="row">
                <button class="primary" id="log-watch" onclick={save}>{ t(l, Text::LogIt) }</button>
                { match &*result {
                    Some(Ok(())) => html! { <span id="watch-logged" role="status">{ t(l, Text::WatchLogged) }</span> },
                    Some(Err(e)) => error_note(l, e),
                    None => html! {},
                } }
            </div>
        </section>
    }
}
