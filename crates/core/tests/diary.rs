//! The diary on a real SQLite catalog: watches logged and deleted, the film's rating and review
//! following its most recent watch, bad watches refused, and the year in film counting watches.

use movietalk_core::Catalog;
use movietalk_core::diary::NewWatch;

fn starter() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Catalog::open(&dir.path().join("movietalk.sqlite3")).unwrap();
    c.seed_if_empty().unwrap();
    (dir, c)
}

fn watch(key: &str, on: &str, rating: Option<f32>) -> NewWatch {
    NewWatch {
        movie_key: key.into(),
        watched_on: on.into(),
        rating,
        ..NewWatch::default()
    }
}

const GODFATHER: &str = "the-godfather-1972";

#[test]
fn the_most_recent_watch_gives_the_film_its_rating_and_review() {
    let (_dir, mut c) = starter();
    let first = c
        .log_watch(&watch(GODFATHER, "2024-05-01", Some(4.0)))
        .unwrap();
    assert_eq!(c.my_review(GODFATHER).unwrap().unwrap().rating, 4.0);
    // A rewatch with a review: the film's rating and review are the new ones.
    let again = NewWatch {
        rewatch: true,
        review: Some("Better the second time.".into()),
        ..watch(GODFATHER, "2025-02-01", Some(5.0))
    };
    let second = c.log_watch(&again).unwrap();
    assert!(second.review && second.rewatch);
    let mine = c.my_review(GODFATHER).unwrap().unwrap();
    assert_eq!(
        (mine.rating, mine.body.as_str()),
        (5.0, "Better the second time.")
    );
    // Logging an older watch later keeps the film's rating; the entry keeps its own.
    let older = c
        .log_watch(&watch(GODFATHER, "2023-01-01", Some(2.0)))
        .unwrap();
    assert_eq!(c.my_review(GODFATHER).unwrap().unwrap().rating, 5.0);
    assert_eq!(older.rating, Some(2.0));
    // One rating per film for the recommender.
    assert_eq!(c.ratings().unwrap().len(), 1);
    let days: Vec<String> = c
        .diary()
        .unwrap()
        .into_iter()
        .map(|e| e.watched_on)
        .collect();
    assert_eq!(days, ["2025-02-01", "2024-05-01", "2023-01-01"]);
    // Deleting a watch leaves the film's rating.
    assert!(c.delete_watch(&first.client_id).unwrap());
    assert!(!c.delete_watch(&first.client_id).unwrap());
    assert_eq!(c.diary().unwrap().len(), 2);
    assert_eq!(c.my_review(GODFATHER).unwrap().unwrap().rating, 5.0);
}

#[test]
fn bad_watches_are_refused_and_nothing_is_kept() {
    let (_dir, mut c) = starter();
    let review_only = NewWatch {
        review: Some("no stars".into()),
        ..watch(GODFATHER, "2025-01-01", None)
    };
    for (bad, why) in [
        (watch(GODFATHER, "2025-02-30", None), "date like"),
        (watch(GODFATHER, "9999-01-01", None), "date like"),
        (watch(GODFATHER, "2199-01-01", None), "in the future"),
        (watch(GODFATHER, "2025-01-01", Some(4.2)), "not a rating"),
        (watch("no-such-film-1900", "2025-01-01", None), "no movie"),
        (review_only, "needs a rating"),
    ] {
        let e = c.log_watch(&bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad:?}: {e}");
    }
    assert!(c.diary().unwrap().is_empty());
    assert_eq!(c.pending_writes().unwrap(), 0);
}

#[test]
fn the_year_in_film_counts_each_watch_and_ratings_without_one() {
    let (_dir, mut c) = starter();
    c.log_watch(&watch(GODFATHER, "2025-01-10", Some(5.0)))
        .unwrap();
    c.log_watch(&NewWatch {
        rewatch: true,
        ..watch(GODFATHER, "2025-03-10", None)
    })
    .unwrap();
    c.log_watch(&watch("parasite-2019", "2024-12-31", Some(4.5)))
        .unwrap();
    let y = c.year_in_film(Some(2025)).unwrap();
    assert_eq!(y.films, 2, "a rewatch counts again");
    assert_eq!((y.per_month[0], y.per_month[2]), (1, 1));
    assert_eq!(
        y.ratings[9], 1,
        "a watch without a rating is not in the spread"
    );
    assert_eq!(y.mean_rating, Some(5.0));
    assert_eq!(c.watch_years().unwrap()[..2], [2025, 2024]);
}
