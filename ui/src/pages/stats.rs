//! A year in film: films per month, how they were rated, and the leading genres, directors and
//! decades, drawn as charts (SVG, coloured by the theme's variables so both themes fit). From
//! this machine's ratings, so it works offline.

use movietalk_protocol::ipc::{Tally, YearInFilm};
use yew::prelude::*;

use crate::i18n::{Lang, Text, t, tf};
use crate::ipc::{self, cmd};
use crate::pages::{loaded, select_value, use_load};
use crate::route::use_ctx;

/// The chart's drawing area, in SVG units (it scales to the page's width).
const WIDTH: u32 = 600;
const HEIGHT: u32 = 160;

/// Columns: one per label, each as tall as its share of the largest.
fn columns(id: &'static str, title: &str, bars: &[(String, u32)]) -> Html {
    let most = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let step = WIDTH / bars.len().max(1) as u32;
    let plot = HEIGHT - 20;
    html! {
        <figure class="chart" id={id}>
            <figcaption>{ title }</figcaption>
            <svg viewBox={format!("0 0 {WIDTH} {HEIGHT}")} role="img" aria-label={title.to_owned()}>
                { for bars.iter().enumerate().map(|(i, (label, n))| {
                    let h = plot * n / most;
                    let x = i as u32 * step;
                    html! {
                        <g class="bar" data-label={label.clone()} data-count={n.to_string()}>
                            <title>{ format!("{label}: {n}") }</title>
                            <rect x={(x + 4).to_string()} y={(plot - h).to_string()}
                                width={step.saturating_sub(8).to_string()} height={h.to_string()} />
                            if *n > 0 {
                                <text class="count" x={(x + step / 2).to_string()} y={(plot - h).saturating_sub(3).max(10).to_string()}>{ n.to_string() }</text>
                            }
                            <text class="label" x={(x + step / 2).to_string()} y={(HEIGHT - 4).to_string()}>{ label.clone() }</text>
                        </g>
                    }
                }) }
            </svg>
        </figure>
    }
}

/// Rows: a name and a bar as long as its share of the largest.
fn rows(id: &'static str, title: &str, tallies: &[Tally]) -> Html {
    let most = tallies.iter().map(|t| t.count).max().unwrap_or(0).max(1);
    let row = 24;
    let height = (tallies.len() as u32 * row).max(row);
    let label_w = 180;
    html! {
        <figure class="chart" id={id}>
            <figcaption>{ title }</figcaption>
            <svg viewBox={format!("0 0 {WIDTH} {height}")} role="img" aria-label={title.to_owned()}>
                { for tallies.iter().enumerate().map(|(i, tally)| {
                    let y = i as u32 * row;
                    let w = (WIDTH - label_w - 40) * tally.count / most;
                    html! {
                        <g class="bar" data-label={tally.name.clone()} data-count={tally.count.to_string()}>
                            <text class="name" x="0" y={(y + 16).to_string()}>{ tally.name.clone() }</text>
                            <rect x={label_w.to_string()} y={(y + 4).to_string()} width={w.max(2).to_string()} height={(row - 8).to_string()} />
                            <text class="count" x={(label_w + w + 6).to_string()} y={(y + 16).to_string()}>{ tally.count.to_string() }</text>
                        </g>
                    }
                }) }
            </svg>
        </figure>
    }
}

fn month_names(l: Lang) -> Vec<String> {
    t(l, Text::MonthNames)
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[function_component(StatsPage)]
pub fn stats_page() -> Html {
    let ctx = use_ctx();
    let l = ctx.lang;
    let year = use_state(|| None::<i32>);
    let stats = use_load((*year, ctx.synced), |(year, _)| async move {
        ipc::call(cmd::YearInFilm { year }).await
    });
    let on_year = {
        let year = year.clone();
        Callback::from(move |e: Event| year.set(select_value(&e).parse().ok()))
    };
    let body = loaded(l, &stats, |y: &YearInFilm| {
        let months: Vec<(String, u32)> = month_names(l).into_iter().zip(y.per_month).collect();
        let stars: Vec<(String, u32)> = (1..=10)
            .map(|half| format!("{}", half as f32 / 2.0))
            .zip(y.ratings)
            .collect();
        let mean = y.mean_rating.map(|m| format!("{m:.1}")).unwrap_or_default();
        html! {
            <>
                <div class="row toolbar">
                    <label>{ t(l, Text::Year) }
                        <select id="stats-year" onchange={on_year.clone()}>
                            { for y.years.iter().chain((!y.years.contains(&y.year)).then_some(&y.year)).map(|v| html! {
                                <option value={v.to_string()} selected={*v == y.year}>{ v.to_string() }</option>
                            }) }
                        </select>
                    </label>
                    <strong id="stats-films">{ tf(l, Text::YearFilms, &[&y.films.to_string()]) }</strong>
                    if y.mean_rating.is_some() { <span id="stats-mean">{ tf(l, Text::MeanRating, &[&mean]) }</span> }
                </div>
                if y.films == 0 {
                    <p class="empty" id="stats-empty">{ t(l, Text::StatsEmpty) }</p>
                } else {
                    <div class="charts">
                        { columns("stats-months", t(l, Text::FilmsPerMonth), &months) }
                        { columns("stats-ratings", t(l, Text::RatingSpread), &stars) }
                        { rows("stats-genres", t(l, Text::TopGenres), &y.genres) }
                        { rows("stats-directors", t(l, Text::TopDirectors), &y.directors) }
                        { rows("stats-decades", t(l, Text::Decades), &y.decades) }
                    </div>
                }
            </>
        }
    });
    html! {
        <section class="page stats-page" id="stats-page">
            <h2>{ t(l, Text::YearInFilm) }</h2>
            { body }
        </section>
    }
}
