//! The catalog against a real SQLite file in a temporary directory.

use movietalk_core::catalog::Source;
use movietalk_core::starter::starter_movies;
use movietalk_core::{Catalog, movie_key, paths};

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
    assert_eq!(reopened.seed_if_empty().unwrap(), 0, "a second start does not seed again");
    assert_eq!(reopened.count().unwrap(), starter.len() as u64);
    let first = &starter[0];
    assert_eq!(reopened.get(&first.key).unwrap().as_ref(), Some(first), "a film reads back exactly as written");
}

#[test]
fn search_finds_titles_korean_titles_and_people_and_blank_lists_all() {
    let (_dir, db) = fresh();
    let mut catalog = Catalog::open(&db).unwrap();
    catalog.seed_if_empty().unwrap();

    let (all, total) = catalog.search("   ", 1000, 0).unwrap();
    assert_eq!(total, catalog.count().unwrap());
    assert_eq!(all.len() as u64, total);

    let (hits, total) = catalog.search("godfather", 50, 0).unwrap();
    assert!(total >= 2, "the Godfather films: {hits:?}");
    assert!(hits.iter().all(|m| m.title.to_lowercase().contains("godfather")), "{hits:?}");
    assert!(hits.iter().any(|m| m.key == "the-godfather-1972"));

    let (hits, _) = catalog.search("기생", 50, 0).unwrap();
    assert!(hits.iter().any(|m| m.key == movie_key("Parasite", Some(2019))), "기생 finds 기생충: {hits:?}");

    let (hits, _) = catalog.search("Song Kang-ho", 50, 0).unwrap();
    assert!(hits.len() >= 2, "Song Kang-ho is in several starter films: {hits:?}");
    assert!(hits.iter().all(|m| m.cast.iter().any(|c| c == "Song Kang-ho")));

    let (hits, total) = catalog.search("zzqqxx-no-such-film", 50, 0).unwrap();
    assert!(hits.is_empty());
    assert_eq!(total, 0);
}

#[test]
fn search_pages_do_not_overlap() {
    let catalog = {
        let mut c = Catalog::open_in_memory().unwrap();
        c.seed_if_empty().unwrap();
        c
    };
    let (p1, total) = catalog.search("", 10, 0).unwrap();
    let (p2, _) = catalog.search("", 10, 10).unwrap();
    assert!(total > 20);
    assert_eq!(p1.len(), 10);
    assert!(p1.iter().all(|a| p2.iter().all(|b| a.key != b.key)));
}

#[test]
fn like_wildcards_in_queries_match_literally() {
    let mut catalog = Catalog::open_in_memory().unwrap();
    catalog.seed_if_empty().unwrap();
    let (hits, _) = catalog.search("%", 10, 0).unwrap();
    assert!(hits.iter().all(|m| format!("{m:?}").contains('%')), "% is not a wildcard: {hits:?}");
    let (hits, _) = catalog.search("_", 10, 0).unwrap();
    assert!(hits.iter().all(|m| format!("{m:?}").contains('_')), "_ is not a wildcard");
}

#[test]
fn upserting_the_same_films_twice_changes_nothing_and_edits_update() {
    let mut catalog = Catalog::open_in_memory().unwrap();
    let mut movies = starter_movies().unwrap();
    movies.truncate(5);
    catalog.upsert_all(&movies, Source::Starter).unwrap();
    catalog.upsert_all(&movies, Source::Starter).unwrap();
    assert_eq!(catalog.count().unwrap(), 5);
    movies[0].genres = vec!["Documentary".into()];
    movies[0].runtime = Some(1);
    catalog.upsert_all(&movies[..1], Source::Starter).unwrap();
    let back = catalog.get(&movies[0].key).unwrap().unwrap();
    assert_eq!(back.genres, vec!["Documentary".to_owned()]);
    assert_eq!(back.runtime, Some(1));
}
