//! Recommendations against a real SQLite catalog: the starter catalog (always present), a
//! community written by the test, Letterboxd files, and — when the shared data set is present —
//! the sequel sanity checks any movie fan would make on the 36k Wikipedia films.

use std::path::Path;

use movietalk_core::catalog::Source;
use movietalk_core::import::letterboxd;
use movietalk_core::recommend::{Reason, Recommender, community, content};
use movietalk_core::{Catalog, Movie};

fn starter() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(&dir.path().join("movietalk.sqlite3")).unwrap();
    catalog.seed_if_empty().unwrap();
    (dir, catalog)
}

fn similar_keys(rec: &Recommender, catalog: &Catalog, key: &str, k: usize) -> Vec<String> {
    rec.similar(catalog, key, k)
        .unwrap()
        .into_iter()
        .map(|s| s.movie.key)
        .collect()
}

#[test]
fn similar_films_of_a_series_are_its_other_parts() {
    let (_dir, mut catalog) = starter();
    let rec = catalog.recommender().unwrap();
    for (film, expected) in [
        (
            "the-godfather-1972",
            &["the-godfather-part-ii-1974", "the-godfather-part-iii-1990"][..],
        ),
        ("toy-story-1995", &["toy-story-2-1999", "toy-story-3-2010"]),
        (
            "back-to-the-future-1985",
            &[
                "back-to-the-future-part-ii-1989",
                "back-to-the-future-part-iii-1990",
            ],
        ),
        ("alien-1979", &["aliens-1986"]),
        (
            "before-sunrise-1995",
            &["before-sunset-2004", "before-midnight-2013"],
        ),
    ] {
        let top = similar_keys(&rec, &catalog, film, expected.len() + 1);
        for e in expected {
            assert!(
                top.contains(&(*e).to_owned()),
                "{film} → {top:?} should hold {e}"
            );
        }
        assert!(
            !top.contains(&film.to_owned()),
            "a film is not similar to itself"
        );
    }
    let err = rec
        .similar(&catalog, "no-such-film", 5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-film"));
}

#[test]
fn the_index_is_persisted_and_rebuilt_only_after_an_import() {
    let (dir, mut catalog) = starter();
    assert!(
        !content::is_current(&catalog).unwrap(),
        "no index before first use"
    );
    catalog.recommender().unwrap();
    assert!(content::is_current(&catalog).unwrap());
    drop(catalog);
    let mut catalog = Catalog::open(&dir.path().join("movietalk.sqlite3")).unwrap();
    assert!(
        content::is_current(&catalog).unwrap(),
        "a restart keeps the stored index"
    );

    let sequel = Movie {
        title_ko: Some("기생충 2".into()),
        genres: vec!["Drama".into(), "Thriller".into()],
        directors: vec!["Bong Joon-ho".into()],
        cast: vec!["Song Kang-ho".into(), "Choi Woo-shik".into()],
        overview: Some("An imagined sequel used by this test.".into()),
        ..Movie::new("Parasite 2", Some(2031))
    };
    catalog.import(&[sequel], Source::Wikipedia).unwrap();
    assert!(
        !content::is_current(&catalog).unwrap(),
        "an import makes the index stale"
    );
    let rec = catalog.recommender().unwrap();
    assert_eq!(
        similar_keys(&rec, &catalog, "parasite-2019", 1),
        ["parasite-2-2031"],
        "the new film is indexed"
    );
}

#[test]
fn a_rebuild_of_the_index_reports_its_progress_and_a_quick_one_shows_none() {
    use movietalk_core::import::Progress;
    use movietalk_core::recommend::shown_after;
    use std::time::Duration;
    let (_dir, mut catalog) = starter();
    // Enough films for reports along the way (one every thousand steps, two steps a film).
    let extra: Vec<Movie> = (0..1200)
        .map(|i| Movie::new(&format!("Generated Film {i}"), Some(1950 + i % 70)))
        .collect();
    catalog.import(&extra, Source::Wikipedia).unwrap();
    let films = catalog.count().unwrap();
    let mut heard = Vec::new();
    let mut shown = Vec::new();
    {
        let mut record = |p: Progress| {
            heard.push(p);
            shown.push(p);
        };
        // Everything passes a zero wait.
        let mut show = shown_after(Duration::ZERO, &mut record);
        assert!(catalog.prepare_recommendations_with(&mut show).unwrap());
    }
    let last = heard.last().copied().expect("progress was reported");
    assert_eq!(
        (last.done, last.total),
        (2 * films, 2 * films),
        "it ends at its total"
    );
    assert!(
        heard
            .windows(2)
            .all(|w| w[0].done < w[1].done && w[0].total == w[1].total),
        "{heard:?}"
    );
    assert_eq!(shown, heard);
    // Nothing to rebuild: nothing is reported.
    let mut again = Vec::new();
    assert!(
        !catalog
            .prepare_recommendations_with(&mut |p| again.push(p))
            .unwrap()
    );
    assert!(again.is_empty());
    // A wait longer than the rebuild shows nothing at all.
    catalog
        .import(
            &[Movie::new("A Film Added Later", Some(2030))],
            Source::Wikipedia,
        )
        .unwrap();
    let mut none = Vec::new();
    let mut show = shown_after(Duration::from_secs(3600), |p: Progress| none.push(p));
    assert!(catalog.prepare_recommendations_with(&mut show).unwrap());
    drop(show);
    assert!(none.is_empty());
}

/// Rates films through the public API and returns the ratings as the recommender takes them.
fn rate(catalog: &mut Catalog, ratings: &[(&str, f32)]) -> Vec<(i64, f32)> {
    for (key, stars) in ratings {
        catalog.rate(key, *stars).unwrap();
    }
    catalog.ratings().unwrap()
}

#[test]
fn personal_recommendations_exclude_rated_films_and_say_why() {
    let (_dir, mut catalog) = starter();
    let mine = rate(
        &mut catalog,
        &[
            ("the-godfather-1972", 5.0),
            ("alien-1979", 4.5),
            ("toy-story-1995", 2.0),
        ],
    );
    let rec = catalog.recommender().unwrap();
    let picks = rec.recommend(&catalog, &mine, 10).unwrap();
    assert_eq!(picks.len(), 10);
    let keys: Vec<&str> = picks.iter().map(|p| p.movie.key.as_str()).collect();
    for rated in ["the-godfather-1972", "alien-1979", "toy-story-1995"] {
        assert!(!keys.contains(&rated), "{rated} was rated: {keys:?}");
    }
    assert!(keys.contains(&"the-godfather-part-ii-1974"), "{keys:?}");
    let part_two = picks
        .iter()
        .find(|p| p.movie.key == "the-godfather-part-ii-1974")
        .unwrap();
    match &part_two.reason {
        Reason::BecauseYouLiked { titles, .. } => {
            assert_eq!(titles.first().map(String::as_str), Some("The Godfather"))
        }
        other => panic!("unexpected reason {other:?}"),
    }
    // Toy Story was rated below this user's mean: it is never given as a reason.
    for p in &picks {
        if let Reason::BecauseYouLiked { titles, community } = &p.reason {
            assert!(
                !titles.iter().chain(community).any(|t| t == "Toy Story"),
                "{:?} gives Toy Story as a reason",
                p.movie.key
            );
        }
    }
    assert!(picks.windows(2).all(|w| w[0].movie.key != w[1].movie.key));
}

#[test]
fn a_rating_below_the_mean_counts_against_similar_films() {
    let (_dir, mut catalog) = starter();
    let rec = catalog.recommender().unwrap();
    let toy_story = rate(&mut catalog, &[("toy-story-1995", 5.0)]);
    let ts3 = |rec: &Recommender, ratings: &[(i64, f32)], catalog: &Catalog| -> f32 {
        let ts3_id = catalog.recommender_id("toy-story-3-2010");
        rec.score(ratings)
            .into_iter()
            .find(|(id, _)| *id == ts3_id)
            .map(|s| s.1)
            .unwrap_or(0.0)
    };
    let liked_only = ts3(&rec, &toy_story, &catalog);
    let both = rate(&mut catalog, &[("toy-story-2-1999", 1.0)]);
    let with_dislike = ts3(&rec, &both, &catalog);
    assert!(liked_only > 0.0);
    assert!(
        with_dislike < liked_only,
        "disliking Toy Story 2 lowers Toy Story 3: {with_dislike} vs {liked_only}"
    );
}

trait RecommenderId {
    fn recommender_id(&self, key: &str) -> i64;
}

impl RecommenderId for Catalog {
    fn recommender_id(&self, key: &str) -> i64 {
        self.movie_id(key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is in the catalog"))
    }
}

#[test]
fn without_ratings_the_cold_start_offers_well_liked_films_by_genre() {
    let (_dir, mut catalog) = starter();
    let rec = catalog.recommender().unwrap();
    let picks = rec.recommend(&catalog, &[], 12).unwrap();
    assert_eq!(picks.len(), 12);
    let mut genres = std::collections::HashSet::new();
    for p in &picks {
        match &p.reason {
            Reason::PopularIn { genre } => {
                assert!(
                    p.movie.genres.contains(genre),
                    "{} is not a {genre} film",
                    p.movie.key
                );
                genres.insert(genre.clone());
            }
            other => panic!("cold start gave {other:?}"),
        }
    }
    assert!(genres.len() >= 3, "several genres: {genres:?}");
    let unique: std::collections::HashSet<_> = picks.iter().map(|p| &p.movie.key).collect();
    assert_eq!(unique.len(), picks.len(), "no film twice");
}

#[test]
fn the_community_signal_recommends_what_like_minded_people_rated_highly() {
    let (_dir, mut catalog) = starter();
    // Twenty people who loved Spirited Away also loved Past Lives (no content link between them).
    let spirited = catalog.recommender_id("spirited-away-2001");
    let past_lives = catalog.recommender_id("past-lives-2023");
    let heat = catalog.recommender_id("the-godfather-1972");
    let mut triples = Vec::new();
    for u in 0..20 {
        let user = format!("fan{u}");
        triples.push((user.clone(), spirited, 5.0));
        triples.push((user.clone(), past_lives, 5.0));
        triples.push((user, heat, 2.0));
    }
    let offline = catalog.recommender().unwrap();
    let mine = rate(&mut catalog, &[("spirited-away-2001", 5.0)]);
    let rank = |rec: &Recommender| {
        let mut scored = rec.score(&mine);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.iter().position(|(id, _)| *id == past_lives)
    };
    let before = rank(&offline);
    community::store(&mut catalog, &triples).unwrap();
    let online = catalog.recommender().unwrap();
    let after = rank(&online).expect("Past Lives is scored with the community");
    assert!(
        before.is_none_or(|b| after < b),
        "community lifts Past Lives: {before:?} → {after}"
    );
    assert!(
        after < 5,
        "Past Lives is near the top with the community: rank {after}"
    );
    let picks = online.recommend(&catalog, &mine, 5).unwrap();
    let pl = picks
        .iter()
        .find(|p| p.movie.key == "past-lives-2023")
        .expect("recommended");
    assert_eq!(
        pl.reason,
        Reason::BecauseYouLiked {
            titles: vec![],
            community: vec!["Spirited Away".into()]
        },
        "people who rated Spirited Away highly also liked Past Lives"
    );
}

#[test]
fn letterboxd_exports_are_matched_and_the_unmatched_reported() {
    let (dir, catalog) = starter();
    let path = dir.path().join("ratings.csv");
    std::fs::write(
        &path,
        "Date,Name,Year,Letterboxd URI,Rating\n\
         2024-01-01,Parasite,2019,https://boxd.it/1,5\n\
         2024-01-02,\"Godfather, The\",1972,https://boxd.it/2,4\n\
         2024-01-03,The Godfather,1972,https://boxd.it/3,4.5\n\
         2024-01-04,A Film Nobody Made,2011,https://boxd.it/4,3\n",
    )
    .unwrap();
    let read = letterboxd::read(&catalog, &path).unwrap();
    assert_eq!(read.matched, 2);
    assert_eq!(read.ratings.len(), 2);
    let unmatched: Vec<u64> = read.unmatched.iter().map(|u| u.line).collect();
    assert_eq!(unmatched, [3, 5], "{:?}", read.unmatched);

    // The ratings come out oldest first whatever the file's order: the recommender weighs
    // the latest most.
    std::fs::write(
        &path,
        "Date,Name,Year,Letterboxd URI,Rating\n\
         2024-03-01,Parasite,2019,https://boxd.it/1,5\n\
         2023-12-31,The Godfather,1972,https://boxd.it/3,4.5\n\
         2024-01-15,Spirited Away,2001,https://boxd.it/5,4\n",
    )
    .unwrap();
    let read = letterboxd::read(&catalog, &path).unwrap();
    let order: Vec<i64> = read.ratings.iter().map(|r| r.0).collect();
    let id = |key: &str| catalog.movie_id(key).unwrap().unwrap();
    assert_eq!(
        order,
        [
            id("the-godfather-1972"),
            id("spirited-away-2001"),
            id("parasite-2019")
        ]
    );

    for (body, needle) in [
        ("Name,Year,Rating\nParasite,2019,5\n", "line 1"),
        (
            "Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Parasite,2019,u,11\n",
            "line 2",
        ),
        (
            "Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Parasite,2019,u,3.3\n",
            "line 2",
        ),
        (
            "Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Parasite,twenty,u,3\n",
            "line 2",
        ),
        (
            "Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Parasite,2019,u,3\n01/02/2024,Parasite,2019,u,3\n",
            "line 3",
        ),
        (
            "Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Parasite,2019,u,3\n2024,\"broken,2019,u,3\n",
            "line 3",
        ),
        (
            "Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Parasite,2019\n",
            "line 2",
        ),
    ] {
        std::fs::write(&path, body).unwrap();
        let err = letterboxd::read(&catalog, &path)
            .expect_err(body)
            .to_string();
        assert!(err.contains(needle), "{body:?}: {err}");
    }
    let mut not_utf8 = b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Bad ".to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe]);
    not_utf8.extend_from_slice(b",2019,u,3\n");
    std::fs::write(&path, not_utf8).unwrap();
    let err = letterboxd::read(&catalog, &path).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
}

#[test]
fn ratings_must_be_half_stars_of_known_films() {
    let (_dir, mut catalog) = starter();
    assert!(catalog.rate("parasite-2019", 3.3).is_err());
    assert!(catalog.rate("parasite-2019", 0.0).is_err());
    assert!(catalog.rate("no-such-film", 3.0).is_err());
    catalog.rate("parasite-2019", 4.5).unwrap();
    catalog.rate("parasite-2019", 5.0).unwrap();
    assert_eq!(
        catalog.ratings().unwrap().len(),
        1,
        "a second rating replaces the first"
    );
    assert!(catalog.unrate("parasite-2019").unwrap());
    assert!(!catalog.unrate("parasite-2019").unwrap());
}

#[test]
fn on_the_wikipedia_set_sequels_and_prequels_are_near_the_top() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/wikipedia-movies");
    if !data.is_dir() {
        eprintln!("SKIPPED: ../shared/data/wikipedia-movies is not present in this checkout");
        return;
    }
    let (_dir, mut catalog) = starter();
    movietalk_core::import::wikipedia::import_path(&mut catalog, &data, &mut |_| {}).unwrap();
    let rec = catalog.recommender().unwrap();
    let mut misses = Vec::new();
    let pairs = [
        ("the-godfather-1972", "the-godfather-part-ii-1974"),
        ("the-godfather-part-ii-1974", "the-godfather-1972"),
        ("toy-story-1995", "toy-story-2-1999"),
        ("back-to-the-future-1985", "back-to-the-future-part-ii-1989"),
        ("the-terminator-1984", "terminator-2-judgment-day-1991"),
        ("alien-1979", "aliens-1986"),
        ("star-wars-1977", "the-empire-strikes-back-1980"),
        ("rocky-1976", "rocky-ii-1979"),
        ("jaws-1975", "jaws-2-1978"),
        ("shrek-2001", "shrek-2-2004"),
        ("the-matrix-1999", "the-matrix-reloaded-2003"),
        ("die-hard-1988", "die-hard-2-1990"),
        ("the-dark-knight-2008", "batman-begins-2005"),
        ("before-sunrise-1995", "before-sunset-2004"),
    ];
    for (film, sequel) in pairs {
        let top = similar_keys(&rec, &catalog, film, 5);
        if !top.contains(&sequel.to_owned()) {
            misses.push(format!("{film} → {top:?} lacks {sequel}"));
        }
    }
    assert!(
        misses.is_empty(),
        "series not found in the top 5:\n{}",
        misses.join("\n")
    );
}
