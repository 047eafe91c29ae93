//! Half-star ratings: a read-only display and a keyboard-reachable input.

use yew::prelude::*;

use crate::i18n::{Text, t};
use crate::route::use_ctx;

/// "★★★½☆" for a rating in half stars.
pub fn stars_text(rating: f32) -> String {
    let halves = (rating * 2.0).round() as u32;
    let mut s = "★".repeat((halves / 2) as usize);
    if halves % 2 == 1 {
        s.push('½');
    }
    s.push_str(&"☆".repeat((5 - halves.div_ceil(2)) as usize));
    s
}

#[derive(Properties, PartialEq)]
pub struct InputProps {
    pub value: Option<f32>,
    pub on_change: Callback<f32>,
}

/// Ten buttons, 0.5 to 5 stars; the chosen one and those below it are lit.
#[function_component(StarInput)]
pub fn star_input(props: &InputProps) -> Html {
    let l = use_ctx().lang;
    let chosen = props.value.unwrap_or(0.0);
    html! {
        <div class="star-input" id="stars" role="group" aria-label={ t(l, Text::YourRating) }>
            { for (1..=10).map(|halves| {
                let value = halves as f32 / 2.0;
                let lit = value <= chosen;
                let on_change = props.on_change.clone();
                html! {
                    <button type="button" id={format!("star-{halves}")}
                        class={classes!("half", if halves % 2 == 1 { "left" } else { "right" }, lit.then_some("lit"))}
                        aria-pressed={(value == chosen).to_string()}
                        aria-label={format!("{value} {}", t(l, Text::Stars))}
                        title={format!("{value}")}
                        onclick={Callback::from(move |_| on_change.emit(value))}>
                        <span aria-hidden="true">{ "★" }</span>
                    </button>
                }
            }) }
            <span class="star-value">{ if chosen > 0.0 { format!("{chosen}") } else { t(l, Text::NotRated).to_owned() } }</span>
        </div>
    }
}
