//! The catalog against a real SQLite file in a temporary directory.

use movietalk_core::catalog::Source;
use movietalk_core::starter::starter_movies;
use movietalk_core::{Catalog, SearchQuery, paths};

fn q(text: &str, limit: u32) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        limit,
        ..Default::default()
    }
}

fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = paths::ensure_db_path(&dir.path().join("nested/data")).unwrap();
    (dir, db)
}

#[test]
fn first_open_seeds_the_starter_catalog_once() {
    let (_dir, db) = fresh();
    let starter = starter_movies().unwrap();
    {
        let mut catalog = Catalog::open(&db).unwrap();
        assert_eq!(catalog.seed_if_empty().unwrap(), starter.len());
        assert_eq!(catalog.count().unwrap(), starter.len() as u64);
    }
    assert!(db.is_file(), "the database is a real file on disk");
    let mut reopened = Catalog::open(&db).unwrap();
    assert_eq!(
        reopened.seed_if_empty().unwrap(),
        0,
        "a second start does not seed again"
    );
    assert_eq!(reopened.count().unwrap(), starter.len() as u64);
    let first = &starter[0];
    assert_eq!(
        reopened.get(&first.key).unwrap().as_ref(),
        Some(first),
        "a film reads back exactly as written"
    );
}

#[test]
fn search_finds_titles_korean_titles_and_people_and_blank_lists_all() {
    let (_dir, db) = fresh();
    let mut catalog = Catalog::open(&db).unwrap();
    catalog.seed_if_empty().unwrap();

    let all = catalog.search(&q("   ", 500)).unwrap();
    assert_eq!(all.total, catalog.count().unwrap());
    assert_eq!(all.movies.len() as u64, all.total);

    let hits = catalog.search(&q("godfather", 50)).unwrap().movies;
    assert!(hits.len() >= 3, "the Godfather films: {hits:?}");
    assert!(
        hits.iter()
            .all(|m| m.title.to_lowercase().contains("godfather")),
        "{hits:?}"
    );
    assert_eq!(
        hits[0].key, "the-godfather-1972",
        "the exact title comes first"
    );

    let hits = catalog.search(&q("기생", 50)).unwrap().movies;
    assert_eq!(
        hits.first().map(|m| m.key.as_str()),
        Some("parasite-2019"),
        "기생 finds 기생충: {hits:?}"
    );

    let hits = catalog.search(&q("Song Kang-ho", 50)).unwrap().movies;
    assert!(
        hits.len() >= 2,
        "Song Kang-ho is in several starter films: {hits:?}"
    );
    assert!(
        hits.iter()
            .all(|m| m.cast.iter().any(|c| c == "Song Kang-ho"))
    );

    let none = catalog.search(&q("zzqqxx", 50)).unwrap();
    assert_eq!(
        none.fallback,
        Some(movietalk_core::search::Fallback::Popular),
        "nothing matched: flagged fallback"
    );
    assert!(!none.movies.is_empty(), "the fallback still shows films");
}

#[test]
fn search_pages_do_not_overlap() {
    let catalog = {
        let mut c = Catalog::open_in_memory().unwrap();
        c.seed_if_empty().unwrap();
        c
    };
    let p1 = catalog.search(&q("", 10)).unwrap();
    let p2 = catalog
        .search(&SearchQuery {
            offset: 10,
            ..q("", 10)
        })
        .unwrap();
    assert!(p1.total > 20);
    assert_eq!(p1.movies.len(), 10);
    assert!(
        p1.movies
            .iter()
            .all(|a| p2.movies.iter().all(|b| a.key != b.key))
    );
}

#[test]
fn upserting_the_same_films_twice_changes_nothing_and_edits_update() {
    let mut catalog = Catalog::open_in_memory().unwrap();
    let mut movies = starter_movies().unwrap();
    movies.truncate(5);
    catalog.import(&movies, Source::Starter).unwrap();
    catalog.import(&movies, Source::Starter).unwrap();
    assert_eq!(catalog.count().unwrap(), 5);
    movies[0].genres = vec!["Documentary".into()];
    movies[0].runtime = Some(1);
    catalog.import(&movies[..1], Source::Starter).unwrap();
    let back = catalog.get(&movies[0].key).unwrap().unwrap();
    assert_eq!(back.genres, vec!["Documentary".to_owned()]);
    assert_eq!(back.runtime, Some(1));
}
