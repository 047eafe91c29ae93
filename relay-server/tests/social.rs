//! Reviews, comments, likes and the change log through real WebSocket clients, including every
//! attempt to touch what is not one's own.

#[path = "support/store.rs"]
mod store;

use movietalk_core::relay_client::{ClientError, RelayClient};
use movietalk_protocol::relay::{
    ChangeKind, ClientMessage, Comment, ErrorCode, LikeTarget, Review, ServerMessage,
};
use movietalk_relay::accounts::HashCost;
use movietalk_relay::{Config, RunningRelay, start};

async fn relay() -> RunningRelay {
    let config = Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        ..Config::default()
    };
    start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap()
}

async fn user(relay: &RunningRelay, handle: &str) -> RelayClient {
    let (c, _) = RelayClient::connect(&relay.url(), handle).await.unwrap();
    c.sign_up(handle, "a long password", None).await.unwrap();
    c
}

fn code(r: Result<ServerMessage, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn put_review(
    c: &RelayClient,
    client_id: &str,
    key: &str,
    rating: f32,
    body: &str,
) -> Result<ServerMessage, ClientError> {
    let (client_id, key, body) = (client_id.to_owned(), key.to_owned(), body.to_owned());
    c.call(ClientMessage::PutReview {
        client_id,
        movie_key: key,
        title: "Parasite".into(),
        year: Some(2019),
        rating,
        body,
        spoiler: false,
        edited_at_ms: None,
    })
    .await
}

async fn put_edit(c: &RelayClient, client_id: &str, body: &str, edited_at_ms: u64) -> Review {
    let (client_id, body) = (client_id.to_owned(), body.to_owned());
    review(
        c.call(ClientMessage::PutReview {
            client_id,
            movie_key: "parasite-2019".into(),
            title: "Parasite".into(),
            year: Some(2019),
            rating: 4.0,
            body,
            spoiler: false,
            edited_at_ms: Some(edited_at_ms),
        })
        .await
        .unwrap(),
    )
}

#[tokio::test]
async fn of_two_offline_edits_the_later_edit_wins_whatever_order_they_arrive_in() {
    let relay = relay().await;
    let laptop = user(&relay, "minji").await;
    let (desktop, _) = RelayClient::connect(&relay.url(), "minji").await.unwrap();
    desktop.log_in("minji", "a long password").await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // Both machines edited offline: the desktop later (now - 1 min) than the laptop (now - 5 min),
    // but the desktop comes online first.
    let first = put_edit(&laptop, "laptop-0", "first draft", now - 600_000).await;
    let desktop_edit = put_edit(&desktop, "desktop-1", "desktop's later edit", now - 60_000).await;
    assert_eq!(desktop_edit.id, first.id);
    assert_eq!(desktop_edit.body, "desktop's later edit");
    let late = put_edit(&laptop, "laptop-1", "laptop's older edit", now - 300_000).await;
    assert_eq!(
        late.body, "desktop's later edit",
        "an older edit arriving late is not applied"
    );
    assert_eq!(late.updated_at_ms, now - 60_000);
    // A newer edit still applies, and a machine whose clock runs ahead cannot claim the future.
    let ahead = put_edit(&laptop, "laptop-2", "from a fast clock", now + 3_600_000).await;
    assert_eq!(ahead.body, "from a fast clock");
    assert!(
        ahead.updated_at_ms < now + 60_000,
        "edit times are clamped to the relay's clock"
    );
    let after = put_edit(
        &desktop,
        "desktop-2",
        "an edit made just now",
        ahead.updated_at_ms + 1,
    )
    .await;
    assert_eq!(after.body, "an edit made just now");
    // Only applied edits reach the change log: the late one left no trace.
    let changes = match laptop
        .call(ClientMessage::ChangesSince {
            since: 0,
            limit: 100,
        })
        .await
        .unwrap()
    {
        ServerMessage::Changes { changes, .. } => changes,
        other => panic!("{other:?}"),
    };
    let bodies: Vec<_> = changes
        .iter()
        .filter_map(|c| match &c.what {
            ChangeKind::ReviewPut { review } => Some(review.body.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        bodies,
        [
            "first draft",
            "desktop's later edit",
            "from a fast clock",
            "an edit made just now"
        ]
    );
}

fn review(m: ServerMessage) -> Review {
    match m {
        ServerMessage::ReviewSaved { review, .. } => review,
        other => panic!("expected a review, got {other:?}"),
    }
}

fn comment(m: ServerMessage) -> Comment {
    match m {
        ServerMessage::CommentSaved { comment, .. } => comment,
        other => panic!("expected a comment, got {other:?}"),
    }
}

#[tokio::test]
async fn one_review_per_account_per_film_and_resends_are_stored_once() {
    let relay = relay().await;
    let minji = user(&relay, "minji").await;
    let first = review(
        put_review(&minji, "w1", "parasite-2019", 4.5, "대단한 영화")
            .await
            .unwrap(),
    );
    assert_eq!(
        (first.author.as_str(), first.rating, first.title.as_str()),
        ("minji", 4.5, "Parasite")
    );
    let again = review(
        put_review(&minji, "w1", "parasite-2019", 4.5, "대단한 영화")
            .await
            .unwrap(),
    );
    assert_eq!(
        again, first,
        "the same client id is answered, not stored again"
    );
    let edited = review(
        put_review(&minji, "w2", "parasite-2019", 5.0, "볼수록 대단한 영화")
            .await
            .unwrap(),
    );
    assert_eq!(edited.id, first.id, "still one review of this film");
    assert_eq!(edited.rating, 5.0);

    let (guest, _) = RelayClient::connect(&relay.url(), "guest").await.unwrap();
    let listed = guest
        .call(ClientMessage::ReviewsOfFilm {
            movie_key: "parasite-2019".into(),
            cursor: None,
            limit: 10,
        })
        .await
        .unwrap();
    match listed {
        ServerMessage::Reviews {
            reviews,
            next_cursor,
            ..
        } => {
            assert_eq!(reviews.len(), 1);
            assert_eq!(reviews[0].body, "볼수록 대단한 영화");
            assert_eq!(next_cursor, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        code(put_review(&guest, "g1", "parasite-2019", 3.0, "").await),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(put_review(&minji, "w3", "parasite-2019", 3.3, "").await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(put_review(&minji, "w3", "parasite-2019", 0.0, "").await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(put_review(&minji, "w3", " ", 3.0, "").await),
        ErrorCode::InvalidInput
    );
    // A NUL (which PostgreSQL cannot store) or another control character is refused on
    // every store alike; line breaks and tabs are text.
    assert_eq!(
        code(put_review(&minji, "w3", "okja-2017", 4.0, "nul\0inside").await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(put_review(&minji, "w3", "okja-2017", 4.0, "bell\u{7}").await),
        ErrorCode::InvalidInput
    );
    assert!(
        put_review(&minji, "w3", "okja-2017", 4.0, "line one\r\nline\ttwo")
            .await
            .is_ok()
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn nobody_edits_or_deletes_what_is_not_theirs() {
    let relay = relay().await;
    let author = user(&relay, "author").await;
    let other = user(&relay, "other").await;
    let third = user(&relay, "third").await;
    let r = review(
        put_review(&author, "r1", "parasite-2019", 5.0, "mine")
            .await
            .unwrap(),
    );
    let c = comment(
        other
            .call(ClientMessage::PostComment {
                client_id: "c1".into(),
                review_id: r.id,
                body: "agreed".into(),
            })
            .await
            .unwrap(),
    );
    assert_eq!(c.author, "other");

    // Someone else's review: cannot delete it.
    assert_eq!(
        code(
            other
                .call(ClientMessage::DeleteReview { review_id: r.id })
                .await
        ),
        ErrorCode::Forbidden
    );
    // Someone else's comment: neither a third person nor the review's author may edit it...
    for who in [&third, &author] {
        let refused = who
            .call(ClientMessage::EditComment {
                comment_id: c.id,
                body: "changed".into(),
            })
            .await;
        assert_eq!(code(refused), ErrorCode::Forbidden);
    }
    // ...a third person may not delete it, but the review's author may.
    assert_eq!(
        code(
            third
                .call(ClientMessage::DeleteComment { comment_id: c.id })
                .await
        ),
        ErrorCode::Forbidden
    );
    let c2 = comment(
        other
            .call(ClientMessage::PostComment {
                client_id: "c2".into(),
                review_id: r.id,
                body: "second".into(),
            })
            .await
            .unwrap(),
    );
    let edited = comment(
        other
            .call(ClientMessage::EditComment {
                comment_id: c2.id,
                body: "edited".into(),
            })
            .await
            .unwrap(),
    );
    assert_eq!(edited.body, "edited");
    author
        .call(ClientMessage::DeleteComment { comment_id: c.id })
        .await
        .unwrap();
    other
        .call(ClientMessage::DeleteComment { comment_id: c2.id })
        .await
        .unwrap();
    assert_eq!(
        code(
            other
                .call(ClientMessage::DeleteComment { comment_id: c2.id })
                .await
        ),
        ErrorCode::NotFound
    );
    author
        .call(ClientMessage::DeleteReview { review_id: r.id })
        .await
        .unwrap();
    assert_eq!(
        code(
            author
                .call(ClientMessage::DeleteReview { review_id: r.id })
                .await
        ),
        ErrorCode::NotFound
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn comments_page_likes_count_and_the_change_log_replays_everything() {
    let relay = relay().await;
    let a = user(&relay, "alpha").await;
    let b = user(&relay, "bravo").await;
    let r = review(
        put_review(&a, "r1", "parasite-2019", 4.0, "good")
            .await
            .unwrap(),
    );
    for i in 0..5 {
        b.call(ClientMessage::PostComment {
            client_id: format!("c{i}"),
            review_id: r.id,
            body: format!("comment {i}"),
        })
        .await
        .unwrap();
    }
    // A resent comment is stored once.
    b.call(ClientMessage::PostComment {
        client_id: "c0".into(),
        review_id: r.id,
        body: "comment 0".into(),
    })
    .await
    .unwrap();
    let page = |cursor| {
        b.call(ClientMessage::CommentsOn {
            review_id: r.id,
            cursor,
            limit: 3,
        })
    };
    let (first, cursor) = match page(None).await.unwrap() {
        ServerMessage::Comments {
            comments,
            next_cursor,
            ..
        } => (comments, next_cursor),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        first.iter().map(|c| c.body.as_str()).collect::<Vec<_>>(),
        ["comment 0", "comment 1", "comment 2"]
    );
    let rest = match page(cursor).await.unwrap() {
        ServerMessage::Comments {
            comments,
            next_cursor,
            ..
        } => {
            assert_eq!(next_cursor, None);
            comments
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(rest.len(), 2);

    b.call(ClientMessage::Like {
        target: LikeTarget::Review(r.id),
        on: true,
    })
    .await
    .unwrap();
    b.call(ClientMessage::Like {
        target: LikeTarget::Review(r.id),
        on: true,
    })
    .await
    .unwrap();
    a.call(ClientMessage::Like {
        target: LikeTarget::Comment(first[0].id),
        on: true,
    })
    .await
    .unwrap();
    assert_eq!(
        code(
            a.call(ClientMessage::Like {
                target: LikeTarget::Review(9999),
                on: true
            })
            .await
        ),
        ErrorCode::NotFound
    );
    let listed = match a
        .call(ClientMessage::ReviewsOfFilm {
            movie_key: "parasite-2019".into(),
            cursor: None,
            limit: 5,
        })
        .await
        .unwrap()
    {
        ServerMessage::Reviews { reviews, .. } => reviews,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (listed[0].likes, listed[0].comments),
        (1, 5),
        "a like counts once"
    );

    // An offline client catches up from cursor 0 in pages, then from where it stopped.
    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        match a
            .call(ClientMessage::ChangesSince { since, limit: 4 })
            .await
            .unwrap()
        {
            ServerMessage::Changes { changes, last, .. } => {
                if changes.is_empty() {
                    break;
                }
                since = last;
                seen.extend(changes);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen.len(), 6, "one review and five comments: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
    b.call(ClientMessage::DeleteComment {
        comment_id: first[1].id,
    })
    .await
    .unwrap();
    match a
        .call(ClientMessage::ChangesSince { since, limit: 10 })
        .await
        .unwrap()
    {
        ServerMessage::Changes { changes, .. } => {
            assert_eq!(changes.len(), 1);
            assert_eq!(
                changes[0].what,
                ChangeKind::CommentDeleted {
                    comment_id: first[1].id,
                    review_id: r.id
                }
            );
        }
        other => panic!("{other:?}"),
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn deleting_an_account_removes_its_reviews_and_says_so_in_the_change_log() {
    let relay = relay().await;
    let leaving = user(&relay, "leaving").await;
    let staying = user(&relay, "staying").await;
    let r = review(
        put_review(&leaving, "r1", "parasite-2019", 2.0, "meh")
            .await
            .unwrap(),
    );
    let kept = review(
        put_review(&staying, "r2", "parasite-2019", 5.0, "wow")
            .await
            .unwrap(),
    );
    staying
        .call(ClientMessage::PostComment {
            client_id: "c".into(),
            review_id: r.id,
            body: "disagree".into(),
        })
        .await
        .unwrap();
    let c = comment(
        leaving
            .call(ClientMessage::PostComment {
                client_id: "c".into(),
                review_id: kept.id,
                body: "hm".into(),
            })
            .await
            .unwrap(),
    );
    leaving.delete_account("a long password").await.unwrap();
    let reviews = match staying
        .call(ClientMessage::ReviewsOfFilm {
            movie_key: "parasite-2019".into(),
            cursor: None,
            limit: 10,
        })
        .await
        .unwrap()
    {
        ServerMessage::Reviews { reviews, .. } => reviews,
        other => panic!("{other:?}"),
    };
    assert_eq!(reviews.iter().map(|r| r.id).collect::<Vec<_>>(), [kept.id]);
    assert_eq!(
        reviews[0].comments, 0,
        "its comment on another review is gone too"
    );
    let changes = match staying
        .call(ClientMessage::ChangesSince {
            since: 0,
            limit: 50,
        })
        .await
        .unwrap()
    {
        ServerMessage::Changes { changes, .. } => changes,
        other => panic!("{other:?}"),
    };
    let kinds: Vec<&ChangeKind> = changes.iter().map(|c| &c.what).collect();
    assert!(kinds.contains(&&ChangeKind::ReviewDeleted { review_id: r.id }));
    assert!(kinds.contains(&&ChangeKind::CommentDeleted {
        comment_id: c.id,
        review_id: kept.id
    }));
    relay.shutdown().await.unwrap();
}

fn reviews(m: ServerMessage) -> (Vec<Review>, Option<u64>) {
    match m {
        ServerMessage::Reviews {
            reviews,
            next_cursor,
            ..
        } => (reviews, next_cursor),
        other => panic!("expected reviews, got {other:?}"),
    }
}

#[tokio::test]
async fn follows_make_a_feed_and_films_have_aggregate_ratings() {
    let relay = relay().await;
    let fan = user(&relay, "fan").await;
    let critic = user(&relay, "critic").await;
    let stranger = user(&relay, "stranger").await;
    for (i, key) in ["parasite-2019", "oldboy-2003", "mother-2009"]
        .iter()
        .enumerate()
    {
        put_review(&critic, &format!("c{i}"), key, 4.0 + 0.5 * i as f32, "")
            .await
            .unwrap();
    }
    put_review(&stranger, "s1", "parasite-2019", 2.0, "")
        .await
        .unwrap();

    assert_eq!(
        code(
            fan.call(ClientMessage::Follow {
                handle: "nobody".into(),
                on: true
            })
            .await
        ),
        ErrorCode::NotFound
    );
    fan.call(ClientMessage::Follow {
        handle: "critic".into(),
        on: true,
    })
    .await
    .unwrap();
    let (page1, cursor) = reviews(
        fan.call(ClientMessage::Feed {
            cursor: None,
            limit: 2,
        })
        .await
        .unwrap(),
    );
    assert_eq!(
        page1
            .iter()
            .map(|r| r.movie_key.as_str())
            .collect::<Vec<_>>(),
        ["mother-2009", "oldboy-2003"],
        "newest first"
    );
    let (page2, end) = reviews(
        fan.call(ClientMessage::Feed { cursor, limit: 2 })
            .await
            .unwrap(),
    );
    assert_eq!(
        page2
            .iter()
            .map(|r| r.movie_key.as_str())
            .collect::<Vec<_>>(),
        ["parasite-2019"]
    );
    assert_eq!(end, None);
    assert!(
        page1.iter().chain(&page2).all(|r| r.author == "critic"),
        "only followed accounts"
    );

    fan.call(ClientMessage::Follow {
        handle: "critic".into(),
        on: false,
    })
    .await
    .unwrap();
    let (empty, _) = reviews(
        fan.call(ClientMessage::Feed {
            cursor: None,
            limit: 5,
        })
        .await
        .unwrap(),
    );
    assert!(empty.is_empty());

    let (by_critic, _) = reviews(
        fan.call(ClientMessage::ReviewsByUser {
            handle: "critic".into(),
            cursor: None,
            limit: 10,
        })
        .await
        .unwrap(),
    );
    assert_eq!(by_critic.len(), 3);
    match fan
        .call(ClientMessage::FilmStats {
            movie_key: "parasite-2019".into(),
        })
        .await
        .unwrap()
    {
        ServerMessage::FilmStats { count, mean, .. } => assert_eq!((count, mean), (2, Some(3.0))),
        other => panic!("{other:?}"),
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn followers_and_following_are_listed_for_anyone_and_change_with_follow() {
    let relay = relay().await;
    let (ari, bora, chul) = (
        user(&relay, "ari").await,
        user(&relay, "bora").await,
        user(&relay, "chul").await,
    );
    ari.follow("bora", true).await.unwrap();
    chul.follow("bora", true).await.unwrap();
    bora.follow("ari", true).await.unwrap();
    // A guest may read the lists.
    let (guest, _) = RelayClient::connect(&relay.url(), "guest").await.unwrap();
    assert_eq!(
        guest.follows("bora").await.unwrap(),
        (
            vec!["ari".to_owned(), "chul".to_owned()],
            vec!["ari".to_owned()]
        )
    );
    assert_eq!(
        guest.follows("ari").await.unwrap(),
        (vec!["bora".to_owned()], vec!["bora".to_owned()])
    );
    chul.follow("bora", false).await.unwrap();
    assert_eq!(
        guest.follows("bora").await.unwrap().0,
        vec!["ari".to_owned()]
    );
    // Nobody follows themselves: refused, and the lists stay as they were.
    assert_eq!(
        code(
            bora.call(ClientMessage::Follow {
                handle: "bora".into(),
                on: true
            })
            .await
        ),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        guest.follows("bora").await.unwrap(),
        (vec!["ari".to_owned()], vec!["ari".to_owned()])
    );
    // Only a logged-in account follows; an unknown handle is not found.
    assert_eq!(
        code(
            guest
                .call(ClientMessage::Follow {
                    handle: "bora".into(),
                    on: true
                })
                .await
        ),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(
            guest
                .call(ClientMessage::Follows {
                    handle: "nobody".into()
                })
                .await
        ),
        ErrorCode::NotFound
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn anyone_reads_a_profile_and_a_deleted_account_has_none() {
    let relay = relay().await;
    let bora = user(&relay, "bora").await;
    bora.update_profile(
        Some("Bora K."),
        Some("Noir, mostly."),
        Some("https://img.example/b.png"),
    )
    .await
    .unwrap();
    let (guest, _) = RelayClient::connect(&relay.url(), "guest").await.unwrap();
    let seen = guest.profile("bora").await.unwrap();
    assert_eq!(
        (
            seen.handle.as_str(),
            seen.display_name.as_str(),
            seen.bio.as_str(),
            seen.avatar_url.as_deref()
        ),
        (
            "bora",
            "Bora K.",
            "Noir, mostly.",
            Some("https://img.example/b.png")
        )
    );
    let profile = |handle: &'static str| {
        let guest = &guest;
        async move {
            guest
                .call(ClientMessage::GetProfile {
                    handle: handle.into(),
                })
                .await
        }
    };
    assert_eq!(code(profile("nobody").await), ErrorCode::NotFound);
    bora.delete_account("a long password").await.unwrap();
    assert_eq!(code(profile("bora").await), ErrorCode::NotFound);
    relay.shutdown().await.unwrap();
}
