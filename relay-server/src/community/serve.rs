//! The community model in memory, served a page at a time, and the task that keeps it fresh.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use movietalk_community::FILMS_PER_PAGE;
use movietalk_protocol::relay::{ErrorCode, ModelFilm, ServerMessage};

use super::CommunityStore;
use crate::clock::Clock;
use crate::store::StoreError;
use crate::store::rows::StoredModel;

/// When the model is rebuilt, and how it is served.
#[derive(Debug, Clone, Copy)]
pub struct ModelConfig {
    /// How often the relay looks whether the ratings changed (and whether another instance
    /// stored a newer model).
    pub check: Duration,
    /// Rebuild once this many ratings changed since the model was built…
    pub after_changes: u64,
    /// …or once the model is this old and any rating changed.
    pub max_age: Duration,
    /// Films per page served.
    pub films_per_page: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            check: Duration::from_secs(60),
            after_changes: 500,
            max_age: Duration::from_secs(3600),
            films_per_page: FILMS_PER_PAGE,
        }
    }
}

/// The model as served.
#[derive(Debug)]
struct Served {
    version: u64,
    built_at_ms: u64,
    watermark: u64,
    pages: Vec<Vec<ModelFilm>>,
}

impl Served {
    fn new(stored: StoredModel, films_per_page: usize) -> Result<Served, StoreError> {
        let films: Vec<ModelFilm> = serde_json::from_slice(&stored.data)
            .map_err(|e| StoreError(format!("stored community model: {e}")))?;
        Ok(Served {
            version: stored.version,
            built_at_ms: stored.built_at_ms,
            watermark: stored.watermark,
            pages: movietalk_community::pages(&films, films_per_page),
        })
    }
}

/// The model this relay serves (none until the first one is built or loaded).
#[derive(Debug)]
pub struct ModelServer {
    current: RwLock<Option<Arc<Served>>>,
    config: ModelConfig,
}

impl ModelServer {
    pub fn new(config: ModelConfig) -> ModelServer {
        ModelServer {
            current: RwLock::default(),
            config,
        }
    }

    fn current(&self) -> Option<Arc<Served>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn install(&self, stored: StoredModel) -> Result<(), StoreError> {
        let served = Arc::new(Served::new(stored, self.config.films_per_page)?);
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_none_or(|c| c.version < served.version) {
            tracing::info!(version = served.version, "serving community model");
            *current = Some(served);
        }
        Ok(())
    }

    /// The version served now (0: none).
    pub fn version(&self) -> u64 {
        self.current().map_or(0, |c| c.version)
    }

    /// The answer to a `community_model` request.
    pub fn page(&self, req: u64, since: Option<u64>, page: u32) -> ServerMessage {
        let Some(model) = self.current() else {
            return ServerMessage::CommunityModel {
                req,
                version: 0,
                built_at_ms: 0,
                page,
                pages: 0,
                unchanged: since == Some(0),
                films: Vec::new(),
            };
        };
        let pages = model.pages.len() as u32;
        let unchanged = since == Some(model.version);
        let films = if unchanged {
            Vec::new()
        } else {
            match model.pages.get(page as usize) {
                Some(films) => films.clone(),
                None => {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::InvalidInput,
                        format!("the community model has {pages} pages; there is no page {page}"),
                    );
                }
            }
        };
        ServerMessage::CommunityModel {
            req,
            version: model.version,
            built_at_ms: model.built_at_ms,
            page,
            pages,
            unchanged,
            films,
        }
    }

    /// One look: takes a newer stored model, or builds one when the ratings changed enough.
    pub fn refresh(&self, store: &dyn CommunityStore, now_ms: u64) -> Result<(), StoreError> {
        let schedule = &self.config;
        if let Some(stored) = store.model_after(self.version())? {
            self.install(stored)?;
        }
        let (watermark, built_at_ms) = self
            .current()
            .map_or((0, 0), |c| (c.watermark, c.built_at_ms));
        let changed = store.watermark()?.saturating_sub(watermark);
        let old = now_ms.saturating_sub(built_at_ms) >= schedule.max_age.as_millis() as u64;
        let first = self.current().is_none();
        if changed > 0 && (first || old || changed >= schedule.after_changes) {
            self.install(super::rebuild(store, now_ms)?)?;
        }
        Ok(())
    }
}

/// Keeps `server` fresh for as long as the returned task runs: a look at once, then every
/// `check`, each on a blocking thread (a build takes seconds of CPU).
pub fn spawn_builder(
    server: Arc<ModelServer>,
    store: Arc<dyn CommunityStore>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(server.config.check);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (server, store, now_ms) = (server.clone(), store.clone(), clock.now_ms());
            let looked = tokio::task::spawn_blocking(move || server.refresh(&*store, now_ms)).await;
            match looked {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "community model not refreshed"),
                Err(e) => tracing::error!(error = %e, "community model build failed"),
            }
        }
    })
}
