//! The Wikipedia importer against a real SQLite file: small fixtures written for the project
//! (fictional films beside one real one), bad input of every kind, and — when the shared
//! 36,273-film data set is present — the full set.

use std::path::{Path, PathBuf};

use movietalk_core::import::{ImportError, wikipedia};
use movietalk_core::search::Fallback;
use movietalk_core::{Catalog, SearchQuery};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wikipedia")
}

fn seeded() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(&dir.path().join("movietalk.sqlite3")).unwrap();
    catalog.seed_if_empty().unwrap();
    (dir, catalog)
}

fn import(catalog: &mut Catalog, path: &Path) -> Result<wikipedia::WikipediaReport, ImportError> {
    wikipedia::import_path(catalog, path, &mut |_| {})
}

fn top(catalog: &Catalog, text: &str) -> Vec<String> {
    let q = SearchQuery {
        text: text.into(),
        limit: 10,
        ..Default::default()
    };
    catalog
        .search(&q)
        .unwrap()
        .movies
        .into_iter()
        .map(|m| m.key)
        .collect()
}

#[test]
fn importing_the_fixtures_merges_dedupes_and_disambiguates() {
    let (_dir, mut catalog) = seeded();
    let before = catalog.count().unwrap();
    let mut reports = Vec::new();
    let report =
        wikipedia::import_path(&mut catalog, &fixtures(), &mut |p| reports.push(p)).unwrap();
    assert_eq!(report.files, 2);
    assert_eq!(report.records, 7);
    assert_eq!(
        report.duplicates, 1,
        "The Godfather is listed twice with the same page"
    );
    assert_eq!(
        report.stats.added, 5,
        "two Harbor Lights, Quiet Orchard, Skyline Sonata, Untitled Project"
    );
    assert_eq!(
        report.stats.updated, 1,
        "The Godfather merged into the starter film"
    );
    assert_eq!(catalog.count().unwrap(), before + 5);
    let last = reports.last().unwrap();
    assert_eq!(
        (last.done, last.total),
        (7, 7),
        "progress ends at the total"
    );

    // The page the starter catalog already had is the same film: the starter's Korean title and
    // synopsis stay, and its English synopsis is not overwritten; the poster is filled in.
    let godfather = catalog.get("the-godfather-1972").unwrap().unwrap();
    assert_eq!(godfather.title_ko.as_deref(), Some("대부"));
    assert!(
        godfather
            .overview
            .as_deref()
            .is_some_and(|o| !o.contains("Corleone crime family"))
    );
    assert_eq!(
        godfather.poster_url.as_deref(),
        Some("https://example.invalid/godfather.jpg")
    );

    // Two pages with the same title and year are two films with two keys.
    let noir = catalog.get("harbor-lights-1951").unwrap().unwrap();
    assert_eq!(noir.genres, ["Noir"]);
    assert_eq!(
        noir.directors,
        ["Carla Placeholder"],
        "director read from the lead"
    );
    let musical = catalog
        .get("harbor-lights-1951-harbor-lights-musical-film")
        .unwrap()
        .unwrap();
    assert_eq!(musical.genres, ["Musical"]);

    // Missing fields are fine: no page, no year, no cast.
    let orchard = catalog.get("quiet-orchard-1988").unwrap().unwrap();
    assert!(orchard.cast.is_empty() && orchard.wikipedia.is_none());
    assert_eq!(catalog.get("untitled-project").unwrap().unwrap().year, None);
    let sonata = catalog.get("skyline-sonata-2003").unwrap().unwrap();
    assert_eq!(sonata.directors, ["Gil Mock", "Hana Stub"]);

    // Imported films are searchable at once: by title, by cast, with a typo.
    assert_eq!(top(&catalog, "skyline sonata")[0], "skyline-sonata-2003");
    assert_eq!(top(&catalog, "Farid Testcase")[0], "skyline-sonata-2003");
    assert_eq!(top(&catalog, "skylime")[0], "skyline-sonata-2003");
    assert!(top(&catalog, "harbor lights").len() == 2);
}

#[test]
fn importing_again_changes_nothing_and_a_changed_source_updates() {
    let (dir, mut catalog) = seeded();
    import(&mut catalog, &fixtures()).unwrap();
    let count = catalog.count().unwrap();
    let again = import(&mut catalog, &fixtures()).unwrap();
    assert_eq!(
        (again.stats.added, again.stats.updated),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(again.stats.unchanged, 6);
    assert_eq!(catalog.count().unwrap(), count);

    let changed = dir.path().join("changed.json");
    std::fs::write(
        &changed,
        r#"[{"title": "Skyline Sonata", "year": 2003, "cast": ["Erin Fixture", "New Person"], "genres": ["Romance"], "href": "Skyline_Sonata"}]"#,
    )
    .unwrap();
    let report = import(&mut catalog, &changed).unwrap();
    assert_eq!(report.stats.updated, 1);
    let sonata = catalog.get("skyline-sonata-2003").unwrap().unwrap();
    assert_eq!(sonata.cast, ["Erin Fixture", "New Person"]);
    assert_eq!(sonata.genres, ["Romance"]);
    assert_eq!(
        top(&catalog, "New Person")[0],
        "skyline-sonata-2003",
        "the index follows the update"
    );
    let farid = catalog
        .search(&SearchQuery {
            text: "Farid Testcase".into(),
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    assert!(
        farid.fallback == Some(Fallback::Popular)
            || !farid.movies.iter().any(|m| m.key == "skyline-sonata-2003")
    );
}

/// Writes `bytes` as a file, imports it, and checks the error and that nothing changed.
fn rejects(bytes: &[u8], expect: &[&str]) {
    let (dir, mut catalog) = seeded();
    let count = catalog.count().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, bytes).unwrap();
    let err = import(&mut catalog, &path)
        .expect_err("bad input is refused")
        .to_string();
    for needle in expect {
        assert!(
            err.contains(needle),
            "error {err:?} should mention {needle:?}"
        );
    }
    assert_eq!(catalog.count().unwrap(), count, "the database is as it was");
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let good = r#"{"title": "Fine Film", "year": 2001, "href": "Fine_Film"}"#;
    rejects(b"{ this is not json", &["bad.json", "not valid JSON"]);
    rejects(
        format!("[{good}, {{\"title\": \"Cut Off\", \"year\": 19").as_bytes(),
        &["bad.json", "not valid JSON"],
    );
    rejects(
        format!(r#"[{good}, {{"title": "Wrong Year", "year": "nineteen"}}]"#).as_bytes(),
        &["record 2", "Wrong Year"],
    );
    rejects(
        format!(r#"[{good}, {{"title": 42}}]"#).as_bytes(),
        &["record 2"],
    );
    rejects(
        format!(r#"[{good}, {{"title": "Old", "year": 1066}}]"#).as_bytes(),
        &["record 2", "1066"],
    );
    rejects(
        format!(r#"[{good}, {{"title": "", "year": 2000}}]"#).as_bytes(),
        &["record 2", "title is empty"],
    );
    let huge = "x".repeat(wikipedia::MAX_TITLE_CHARS + 1);
    rejects(
        format!(r#"[{good}, {{"title": "{huge}", "year": 2000}}]"#).as_bytes(),
        &["record 2", "longer than"],
    );
    let mut invalid_utf8 = format!(r#"[{good}, {{"title": "Bad "#).into_bytes();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#"", "year": 2000}]"#);
    rejects(&invalid_utf8, &["bad.json", "not valid JSON"]);
}

#[test]
fn a_bad_file_stops_the_whole_import_before_anything_is_written() {
    let (dir, mut catalog) = seeded();
    let count = catalog.count().unwrap();
    let folder = dir.path().join("set");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(
        fixtures().join("movies-a.json"),
        folder.join("movies-1.json"),
    )
    .unwrap();
    std::fs::write(folder.join("movies-2.json"), "[{\"title\": 1}]").unwrap();
    let err = import(&mut catalog, &folder).unwrap_err().to_string();
    assert!(
        err.contains("movies-2.json") && err.contains("record 1"),
        "{err}"
    );
    assert_eq!(catalog.count().unwrap(), count);
    assert!(catalog.get("quiet-orchard-1988").unwrap().is_none());
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let (_dir, mut catalog) = seeded();
    let err = import(&mut catalog, Path::new("/no/such/movies.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/no/such/movies.json"), "{err}");
}

/// The shared 36,273-film set, when this checkout has it beside the project.
fn full_set() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/wikipedia-movies");
    dir.is_dir().then_some(dir)
}

#[test]
fn the_full_wikipedia_set_imports_and_finds_films_by_title_typo_and_cast() {
    let Some(data) = full_set() else {
        eprintln!("SKIPPED: ../shared/data/wikipedia-movies is not present in this checkout");
        return;
    };
    let (_dir, mut catalog) = seeded();
    let report = import(&mut catalog, &data).unwrap();
    assert_eq!(report.records, 36_273);
    assert!(report.duplicates > 0, "the set lists some pages twice");
    assert_eq!(
        report.stats.added + report.stats.updated + report.stats.unchanged + report.duplicates,
        report.records
    );
    let count = catalog.count().unwrap();
    assert!(count > 36_000, "{count} films");

    for (query, expected) in [
        ("the godfather", "the-godfather-1972"),
        ("godfater", "the-godfather-1972"),
        ("shawshank redemtion", "the-shawshank-redemption-1994"),
        ("casablanka", "casablanca-1942"),
        ("jurassic park", "jurassic-park-1993"),
        ("back to the futur", "back-to-the-future-1985"),
        ("기생", "parasite-2019"),
        ("대부", "the-godfather-1972"),
    ] {
        let got = top(&catalog, query);
        assert_eq!(
            got.first().map(String::as_str),
            Some(expected),
            "{query:?} → {got:?}"
        );
    }
    let hanks = catalog
        .search(&SearchQuery {
            text: "Tom Hanks".into(),
            limit: 500,
            ..Default::default()
        })
        .unwrap();
    assert!(hanks.total >= 40, "Tom Hanks films: {}", hanks.total);
    assert!(hanks.movies.iter().any(|m| m.key == "forrest-gump-1994"));

    let westerns = catalog
        .search(&SearchQuery {
            genre: Some("Western".into()),
            years: Some((1950, 1959)),
            limit: 50,
            ..Default::default()
        })
        .unwrap();
    assert!(westerns.total > 100);
    assert!(westerns.movies.iter().all(
        |m| m.genres.iter().any(|g| g == "Western") && (1950..=1959).contains(&m.year.unwrap())
    ));

    let again = import(&mut catalog, &data).unwrap();
    assert_eq!(
        (again.stats.added, again.stats.updated),
        (0, 0),
        "re-importing the set changes nothing"
    );
}
