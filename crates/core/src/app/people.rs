//! Other people: profiles, authors' names and pictures, the feed, and follows. The policy is
//! one: ask the relay when it is reachable and remember the answer; otherwise answer from what
//! was remembered.

use std::collections::HashMap;

use movietalk_protocol::ipc::{
    Author, FeedCursor, FeedPage, FollowsView, IpcError, IpcErrorCode, Profile, ReviewView,
};

use super::views::{author, author_of, my_review, review_view};
use super::{App, Reply, lock, relay_error, storage, sync_error};
use crate::relay_client::ClientError;
use crate::sync::SyncError;

/// Most authors one [`App::authors`] call looks up.
const MAX_AUTHORS: usize = 50;
/// Largest feed page.
const MAX_FEED_PAGE: u32 = 100;

impl App {
    /// A profile (this user's own when `handle` is `None`): reviews as last pulled, and for
    /// one's own profile one's own ratings too. Someone else's account is as the relay shows it
    /// now, else as last seen.
    pub async fn profile(&self, handle: Option<&str>) -> Reply<Profile> {
        let known = lock(&self.known_account).clone();
        let me = self.me();
        let handle = handle
            .map(str::to_owned)
            .or_else(|| me.clone())
            .unwrap_or_default();
        let own = handle.is_empty() || me.as_deref() == Some(handle.as_str());
        let account = match known.filter(|a| a.handle == handle) {
            Some(mine) => Some(mine),
            None if handle.is_empty() => None,
            None => {
                let live = match self.connected().await {
                    Some(c) => {
                        crate::people::fetch_profile(&self.catalog, &c.client, &handle).await
                    }
                    None => Err(ClientError::Closed.into()),
                };
                match live {
                    Ok(found) => found,
                    Err(SyncError::Local(e)) => return Err(storage(e)),
                    Err(e) => {
                        tracing::debug!(error = %e, "profile from the cache");
                        self.catalog().cached_profile(&handle).map_err(storage)?
                    }
                }
            }
        };
        let catalog = self.catalog();
        Ok(Profile {
            reviews: catalog
                .reviews_by(&handle)
                .map_err(storage)?
                .into_iter()
                .map(|r| review_view(r, me.as_deref(), &catalog))
                .collect(),
            my_reviews: if own {
                catalog
                    .my_reviews()
                    .map_err(storage)?
                    .into_iter()
                    .map(my_review)
                    .collect()
            } else {
                Vec::new()
            },
            account,
            handle,
        })
    }

    /// Names and pictures of these people (at most 50): as last seen, else asked of the relay
    /// when it is reachable and remembered. People with no profile are left out.
    pub async fn authors(&self, handles: Vec<String>) -> Reply<HashMap<String, Author>> {
        let mut found = HashMap::new();
        let mut unknown = Vec::new();
        for handle in handles.into_iter().take(MAX_AUTHORS) {
            let catalog = self.catalog();
            match author(&catalog, &handle) {
                Some(a) => {
                    found.insert(handle, a);
                }
                None if catalog.authors_known(&handle).map_err(storage)? => {}
                None => unknown.push(handle),
            }
        }
        if let (false, Some(c)) = (unknown.is_empty(), self.connected().await) {
            for handle in unknown {
                match crate::people::fetch_profile(&self.catalog, &c.client, &handle).await {
                    Ok(Some(account)) => {
                        found.insert(handle, author_of(account));
                    }
                    Ok(None) => {}
                    Err(e @ SyncError::Local(_)) => return Err(sync_error(e)),
                    Err(_) => break,
                }
            }
        }
        Ok(found)
    }

    /// Reviews by the people this user follows, newest first, a page at a time, from the local
    /// cache of everyone's reviews (so it reads offline); whom the user follows is asked of the
    /// relay when it is reachable and remembered for when it is not.
    pub async fn feed(&self, cursor: Option<FeedCursor>, limit: u32) -> Reply<FeedPage> {
        let me = self
            .me()
            .ok_or_else(|| IpcError::new(IpcErrorCode::NotLoggedIn, "log in to see your feed"))?;
        let mut live = false;
        if cursor.is_none()
            && let Some(c) = self.connected().await
        {
            match c.client.follows(&me).await {
                Ok((_, following)) => {
                    self.catalog()
                        .remember_following(&me, &following)
                        .map_err(storage)?;
                    live = true;
                }
                Err(e) => tracing::debug!(error = %e, "following list from the cache"),
            }
        }
        let catalog = self.catalog();
        let following = catalog.cached_following(&me).map_err(storage)?;
        let limit = limit.clamp(1, MAX_FEED_PAGE);
        let reviews: Vec<ReviewView> = catalog
            .feed(&following, cursor, limit)
            .map_err(storage)?
            .into_iter()
            .map(|r| review_view(r, Some(&me), &catalog))
            .collect();
        let next = (reviews.len() == limit as usize).then(|| {
            let last = &reviews[reviews.len() - 1].review;
            FeedCursor {
                updated_at_ms: last.updated_at_ms,
                id: last.id,
            }
        });
        Ok(FeedPage {
            reviews,
            next,
            following,
            live,
        })
    }

    /// Who follows `handle` and whom it follows (asked of the relay).
    pub async fn follows(&self, handle: &str) -> Reply<FollowsView> {
        let c = self.connected().await.ok_or_else(super::offline)?;
        let (followers, following) = c.client.follows(handle.trim()).await.map_err(relay_error)?;
        Ok(FollowsView {
            handle: handle.to_owned(),
            followers,
            following,
        })
    }

    /// Follows (or stops following) another account.
    pub async fn follow(&self, handle: &str, on: bool) -> Reply<()> {
        let (c, _) = self.logged_in().await?;
        c.client
            .follow(handle.trim(), on)
            .await
            .map_err(relay_error)
    }
}
