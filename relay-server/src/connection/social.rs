//! Reviews, comments, likes, follows and the change log. Reads are open to guests; writes need
//! an account, and the store checks that the account may touch what it names.

use movietalk_protocol::relay::{ClientMessage, ErrorCode, ServerMessage, validate_client_id};

use super::answers::{not_logged_in, social_error};
use super::handler::Handler;
use crate::social::{NewReview, SocialError};

impl Handler {
    /// Reviews, comments, likes and the change log. Reads are open to guests; writes need an
    /// account, and the store checks that the account may touch what it names.
    pub(super) fn social(
        &self,
        req: u64,
        msg: ClientMessage,
        account: Option<u64>,
    ) -> ServerMessage {
        use movietalk_protocol::relay::{validate_comment, validate_film, validate_review_body};
        let page = |limit: u32| (limit as usize).clamp(1, self.config.history_page.max(1));
        let write = |f: &dyn Fn(u64) -> Result<ServerMessage, SocialError>| match account {
            None => not_logged_in(req),
            Some(id) => f(id).unwrap_or_else(|e| social_error(req, e)),
        };
        let invalid = |e: movietalk_protocol::relay::FieldError| {
            ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
        };
        match msg {
            ClientMessage::PutReview {
                client_id,
                movie_key,
                title,
                year,
                rating,
                body,
                spoiler,
                edited_at_ms,
                ..
            } => {
                let checks = validate_client_id(&client_id)
                    .and_then(|()| validate_film(&movie_key, &title))
                    .and_then(|()| validate_review_body(&body));
                if let Err(e) = checks {
                    return invalid(e);
                }
                if !((0.5..=5.0).contains(&rating) && (rating * 2.0).fract() == 0.0) {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::InvalidInput,
                        "rating must be half stars from 0.5 to 5",
                    );
                }
                let new = NewReview {
                    client_id: &client_id,
                    movie_key: &movie_key,
                    title: &title,
                    year,
                    rating,
                    body: &body,
                    spoiler,
                    edited_at_ms,
                };
                write(&|id| {
                    Ok(ServerMessage::ReviewSaved {
                        req,
                        review: self.social.put_review(id, &new)?,
                    })
                })
            }
            ClientMessage::DeleteReview { review_id, .. } => write(&|id| {
                self.social
                    .delete_review(id, review_id)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::PostComment {
                client_id,
                review_id,
                body,
                ..
            } => {
                if let Err(e) =
                    validate_client_id(&client_id).and_then(|()| validate_comment(&body))
                {
                    return invalid(e);
                }
                write(&|id| {
                    Ok(ServerMessage::CommentSaved {
                        req,
                        comment: self.social.post_comment(id, &client_id, review_id, &body)?,
                    })
                })
            }
            ClientMessage::EditComment {
                comment_id, body, ..
            } => {
                if let Err(e) = validate_comment(&body) {
                    return invalid(e);
                }
                write(&|id| {
                    Ok(ServerMessage::CommentSaved {
                        req,
                        comment: self.social.edit_comment(id, comment_id, &body)?,
                    })
                })
            }
            ClientMessage::DeleteComment { comment_id, .. } => write(&|id| {
                self.social
                    .delete_comment(id, comment_id)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::Like { target, on, .. } => write(&|id| {
                self.social
                    .like(id, target, on)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::ReviewsOfFilm {
                movie_key,
                cursor,
                limit,
                ..
            } => {
                let limit = page(limit);
                reviews_page(
                    req,
                    limit,
                    self.social.reviews_of_film(&movie_key, cursor, limit),
                )
            }
            ClientMessage::ReviewsByUser {
                handle,
                cursor,
                limit,
                ..
            } => {
                let limit = page(limit);
                reviews_page(
                    req,
                    limit,
                    self.social.reviews_by_user(&handle, cursor, limit),
                )
            }
            ClientMessage::Feed { cursor, limit, .. } => match account {
                None => not_logged_in(req),
                Some(id) => {
                    let limit = page(limit);
                    reviews_page(req, limit, self.social.feed(id, cursor, limit))
                }
            },
            ClientMessage::Follow { handle, on, .. } => write(&|id| {
                self.social
                    .follow(id, &handle, on)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::Follows { handle, .. } => match self.social.follows(&handle) {
                Ok((followers, following)) => ServerMessage::Follows {
                    req,
                    handle,
                    followers,
                    following,
                },
                Err(e) => social_error(req, e),
            },
            ClientMessage::GetProfile { handle, .. } => match self.social.profile(&handle) {
                Ok(account) => ServerMessage::Profile { req, account },
                Err(e) => social_error(req, e),
            },
            ClientMessage::FilmStats { movie_key, .. } => {
                match self.social.film_stats(&movie_key) {
                    Ok((count, mean)) => ServerMessage::FilmStats {
                        req,
                        movie_key,
                        count,
                        mean,
                    },
                    Err(e) => social_error(req, e),
                }
            }
            ClientMessage::CommentsOn {
                review_id,
                cursor,
                limit,
                ..
            } => {
                let limit = page(limit);
                match self.social.comments_on(review_id, cursor, limit) {
                    Ok(comments) => {
                        let next_cursor = (comments.len() == limit)
                            .then(|| comments.last().map(|c| c.id))
                            .flatten();
                        ServerMessage::Comments {
                            req,
                            comments,
                            next_cursor,
                        }
                    }
                    Err(e) => social_error(req, e),
                }
            }
            ClientMessage::ChangesSince { since, limit, .. } => {
                match self.social.changes_since(since, page(limit)) {
                    Ok(changes) => {
                        let last = changes.last().map(|c| c.seq).unwrap_or(since);
                        ServerMessage::Changes { req, changes, last }
                    }
                    Err(e) => social_error(req, e),
                }
            }
            other => ServerMessage::error(
                Some(req),
                ErrorCode::Internal,
                format!("not a social request: {other:?}"),
            ),
        }
    }
}

/// A page of reviews, with the cursor of the next page when this one is full.
fn reviews_page(
    req: u64,
    limit: usize,
    found: Result<Vec<movietalk_protocol::relay::Review>, SocialError>,
) -> ServerMessage {
    match found {
        Ok(reviews) => {
            let next_cursor = (reviews.len() == limit)
                .then(|| reviews.last().map(|r| r.id))
                .flatten();
            ServerMessage::Reviews {
                req,
                reviews,
                next_cursor,
            }
        }
        Err(e) => social_error(req, e),
    }
}
