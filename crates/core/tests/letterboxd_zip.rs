//! A whole Letterboxd export (.zip) imported into a real SQLite catalog: the diary with its
//! reviews, a review without a watch, the watchlist (a Korean title matched too), the ratings,
//! unmatched rows reported with their file and line — and a second import adding nothing.

use std::path::Path;

use movietalk_core::Catalog;
use movietalk_core::import::letterboxd_zip::{Report, import};

fn export() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/letterboxd/export.zip")
}

fn run(c: &mut Catalog) -> Report {
    let mut last = None;
    let report = import(c, &export(), &mut |p| last = Some(p)).unwrap();
    let last = last.expect("progress was reported");
    assert_eq!(last.done, last.total);
    report
}

#[test]
fn a_letterboxd_export_brings_the_diary_reviews_watchlist_and_ratings_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Catalog::open(&dir.path().join("movietalk.sqlite3")).unwrap();
    c.seed_if_empty().unwrap();

    let report = run(&mut c);
    assert_eq!(
        (
            report.diary,
            report.reviews,
            report.watchlist,
            report.ratings
        ),
        (3, 2, 2, 1),
        "{report:?}"
    );
    let unmatched: Vec<(&str, u64, &str)> = report
        .unmatched
        .iter()
        .map(|u| (u.file.as_str(), u.line, u.name.as_str()))
        .collect();
    assert_eq!(
        unmatched,
        [
            ("diary.csv", 5, "No Such Film"),
            ("watchlist.csv", 4, "No Such Film")
        ]
    );

    // The diary: both watches of The Godfather, the second a rewatch with its review.
    let diary = c.diary().unwrap();
    let days: Vec<(&str, &str)> = diary
        .iter()
        .map(|e| (e.movie_key.as_str(), e.watched_on.as_str()))
        .collect();
    assert_eq!(
        days,
        [
            ("spirited-away-2001", "2025-03-03"),
            ("the-godfather-1972", "2025-02-01"),
            ("the-godfather-1972", "2024-01-05"),
        ]
    );
    assert!(diary[1].rewatch && diary[1].review && !diary[2].review);
    let godfather = c.my_review("the-godfather-1972").unwrap().unwrap();
    assert_eq!(godfather.rating, 5.0, "the most recent watch's rating");
    assert_eq!(
        godfather.body,
        r#"Even better the second time, "an offer" indeed."#
    );
    // A review without a watch, with its rating; a rating from ratings.csv alone.
    let casablanca = c.my_review("casablanca-1942").unwrap().unwrap();
    assert_eq!(
        (casablanca.rating, casablanca.body.as_str()),
        (4.5, "Here's looking at you.")
    );
    assert_eq!(
        c.my_review("spirited-away-2001").unwrap().unwrap().rating,
        4.0
    );
    // The watchlist, Parasite found by its Korean title.
    let mut on: Vec<String> = c.watchlist_keys().unwrap().into_iter().collect();
    on.sort();
    assert_eq!(on, ["casablanca-1942", "parasite-2019"]);

    // The same export again: nothing new, nothing queued twice.
    let pending = c.pending_writes().unwrap();
    let again = run(&mut c);
    assert_eq!(
        (again.diary, again.reviews, again.watchlist, again.ratings),
        (0, 0, 0, 0),
        "{again:?}"
    );
    assert_eq!(again.unmatched.len(), 2);
    assert_eq!(c.diary().unwrap().len(), 3);
    assert_eq!(c.pending_writes().unwrap(), pending);
}

#[test]
fn what_is_not_a_letterboxd_export_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Catalog::open(&dir.path().join("movietalk.sqlite3")).unwrap();
    c.seed_if_empty().unwrap();
    let not_zip = dir.path().join("ratings.csv");
    std::fs::write(&not_zip, "Date,Name,Year,Letterboxd URI,Rating\n").unwrap();
    let e = import(&mut c, &not_zip, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a zip"), "{e}");
    let empty = dir.path().join("empty.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&empty).unwrap());
        z.start_file("profile.csv", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.finish().unwrap();
    }
    let e = import(&mut c, &empty, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("is it a Letterboxd export"), "{e}");
    assert!(c.diary().unwrap().is_empty());
}
