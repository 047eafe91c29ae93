//! `movietalk diary`: the watches you logged, kept here at once and delivered to the relay by
//! the next sync — the same [`movietalk_core::App`] calls the window makes.

use std::path::Path;

use anyhow::bail;
use clap::Subcommand;
use movietalk_core::diary::NewWatch;

use crate::app::open;

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Log a watch of a film (by its key, as `search` shows it). With a rating or a review, the
    /// most recent watch gives the film its rating and review.
    Log {
        key: String,
        /// The day you watched it, YYYY-MM-DD (default: today).
        #[arg(long)]
        on: Option<String>,
        /// Half stars, 0.5 to 5.
        #[arg(long)]
        rating: Option<f32>,
        #[arg(long)]
        rewatch: bool,
        #[arg(long)]
        review: Option<String>,
        /// The review gives away the plot.
        #[arg(long)]
        spoiler: bool,
        #[arg(long)]
        json: bool,
    },
    /// Your diary, most recent watch first.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Delete a watch (by the id `diary ls` shows).
    Rm { id: String },
}

pub fn run(data_dir: &Path, action: &Action) -> anyhow::Result<()> {
    let app = open(data_dir, None, |_| {})?;
    match action {
        Action::Log {
            key,
            on,
            rating,
            rewatch,
            review,
            spoiler,
            json,
        } => {
            let watched_on = match on {
                Some(day) => day.clone(),
                None => app.catalog().today()?,
            };
            let entry = app.log_watch(&NewWatch {
                movie_key: key.clone(),
                watched_on,
                rating: *rating,
                rewatch: *rewatch,
                review: review.clone(),
                spoiler: *spoiler,
                client_id: None,
            })?;
            if *json {
                println!("{}", serde_json::to_string(&entry)?);
            } else {
                println!(
                    "{} on {}: logged; the next sync delivers it",
                    entry.title, entry.watched_on
                );
            }
        }
        Action::Ls { json } => {
            let items = app.diary()?;
            if *json {
                println!("{}", serde_json::to_string(&items)?);
                return Ok(());
            }
            let mut month = "";
            for item in &items {
                let e = &item.entry;
                if e.watched_on.get(..7) != Some(month) {
                    month = e.watched_on.get(..7).unwrap_or_default();
                    println!("{month}");
                }
                let stars = e.rating.map(|r| format!(" ★{r}")).unwrap_or_default();
                let again = if e.rewatch { " (rewatch)" } else { "" };
                println!(
                    "  {}  {}{stars}{again}  [{}]",
                    e.watched_on, e.title, e.client_id
                );
            }
        }
        Action::Rm { id } => {
            if !app.delete_watch(id)? {
                bail!("no watch {id:?} in your diary");
            }
            println!("deleted; the next sync tells the relay");
        }
    }
    Ok(())
}
