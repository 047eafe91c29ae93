//! A year in film from a real SQLite catalog: films per month, the rating spread, the leading
//! genres, directors and decades, and which years there are.

use movietalk_core::catalog::Source;
use movietalk_core::{Catalog, Movie, movie_key};

fn film(title: &str, year: i32, genres: &[&str], director: &str) -> Movie {
    let mut m = Movie::new(title, Some(year));
    m.genres = genres.iter().map(|g| g.to_string()).collect();
    m.directors = vec![director.to_owned()];
    m
}

/// Rates `title` with `stars`, as if on `date` (noon UTC, so no time zone moves the month).
fn rate_on(c: &mut Catalog, db: &std::path::Path, title: &str, year: i32, stars: f32, date: &str) {
    let key = movie_key(title, Some(year));
    c.rate(&key, stars).unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "UPDATE ratings SET rated_at = unixepoch(?2 || ' 12:00:00')
         WHERE movie_id = (SELECT id FROM movies WHERE key = ?1)",
        [&key, date],
    )
    .unwrap();
}

#[test]
fn a_year_in_film_counts_each_rated_film_by_month_rating_genre_director_and_decade() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.sqlite3");
    let mut c = Catalog::open(&db).unwrap();
    let films = [
        film(
            "The Godfather",
            1972,
            &["Crime", "Drama"],
            "Francis Ford Coppola",
        ),
        film(
            "The Conversation",
            1974,
            &["Thriller", "Drama"],
            "Francis Ford Coppola",
        ),
        film("Parasite", 2019, &["Thriller", "Drama"], "Bong Joon-ho"),
        film(
            "Memories of Murder",
            2003,
            &["Crime", "Thriller"],
            "Bong Joon-ho",
        ),
        film("Heat", 1995, &["Crime"], "Michael Mann"),
    ];
    c.import(&films, Source::Starter).unwrap();
    assert_eq!(c.year_in_film(None).unwrap().films, 0, "nothing rated yet");

    rate_on(&mut c, &db, "The Godfather", 1972, 5.0, "2025-01-15");
    rate_on(&mut c, &db, "The Conversation", 1974, 4.0, "2025-01-20");
    rate_on(&mut c, &db, "Parasite", 2019, 4.5, "2025-03-02");
    rate_on(&mut c, &db, "Memories of Murder", 2003, 4.5, "2025-12-24");
    rate_on(&mut c, &db, "Heat", 1995, 3.0, "2024-07-04");

    assert_eq!(c.watch_years().unwrap(), vec![2025, 2024]);
    let y = c.year_in_film(None).unwrap();
    assert_eq!((y.year, y.films), (2025, 4), "the newest year by default");
    assert_eq!(y.per_month, [2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(y.ratings, [0, 0, 0, 0, 0, 0, 0, 1, 2, 1]);
    assert_eq!(y.mean_rating, Some(4.5));
    let names = |t: &[movietalk_protocol::ipc::Tally]| -> Vec<(String, u32)> {
        t.iter().map(|t| (t.name.clone(), t.count)).collect()
    };
    assert_eq!(
        names(&y.genres),
        [("Drama", 3), ("Thriller", 3), ("Crime", 2)].map(|(n, c)| (n.to_owned(), c))
    );
    assert_eq!(
        names(&y.directors),
        [("Bong Joon-ho", 2), ("Francis Ford Coppola", 2)].map(|(n, c)| (n.to_owned(), c))
    );
    assert_eq!(
        names(&y.decades),
        [("1970s", 2), ("2000s", 1), ("2010s", 1)].map(|(n, c)| (n.to_owned(), c))
    );

    let y = c.year_in_film(Some(2024)).unwrap();
    assert_eq!((y.films, y.per_month[6], y.ratings[5]), (1, 1, 1));
    // A year without ratings: zeros, and the years there are.
    let y = c.year_in_film(Some(1999)).unwrap();
    assert_eq!((y.year, y.films, y.mean_rating), (1999, 0, None));
    assert_eq!(y.years, vec![2025, 2024]);
    // Taking a rating back takes the film out.
    assert!(c.unrate(&movie_key("Parasite", Some(2019))).unwrap());
    assert_eq!(c.year_in_film(Some(2025)).unwrap().films, 3);
}
