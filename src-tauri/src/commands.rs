//! Tauri commands: each converts its arguments, calls the core, and maps the error to an
//! [`IpcError`] code. No logic lives here.

use movietalk_core::relay_client::ClientError;
use movietalk_core::{CoreError, Movie};
use movietalk_protocol::ipc::{
    AppInfo, IpcError, IpcErrorCode, JoinedRoom, MoviePage, MovieSummary,
};
use movietalk_protocol::relay::ErrorCode;
use tauri::{AppHandle, State};

use crate::state::AppState;

/// Largest page the UI may ask for.
const MAX_PAGE: u32 = 200;

fn storage_error(e: CoreError) -> IpcError {
    IpcError::new(IpcErrorCode::Storage, e.to_string())
}

fn relay_error(e: ClientError) -> IpcError {
    let code = match &e {
        ClientError::Rejected {
            code: ErrorCode::InvalidInput,
            ..
        } => IpcErrorCode::InvalidInput,
        ClientError::Rejected { .. } => IpcErrorCode::RelayRejected,
        _ => IpcErrorCode::RelayUnavailable,
    };
    IpcError::new(code, e.to_string())
}

fn summary(m: Movie) -> MovieSummary {
    MovieSummary {
        key: m.key,
        title: m.title,
        title_ko: m.title_ko,
        year: m.year,
        genres: m.genres,
        directors: m.directors,
        overview: m.overview,
        overview_ko: m.overview_ko,
    }
}

/// Facts about this app: version, data folder, relay, catalog size.
#[tauri::command(rename_all = "snake_case")]
pub fn app_info(state: State<'_, AppState>) -> Result<AppInfo, IpcError> {
    let movie_count = state
        .catalog
        .lock()
        .expect("catalog lock")
        .count()
        .map_err(storage_error)?;
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir.display().to_string(),
        relay_url: state.relay_url.clone(),
        relay_hosted_here: state.hosted_relay.is_some(),
        user_name: state.user_name.clone(),
        movie_count,
    })
}

/// One page of the movies matching `query` (all movies when blank).
#[tauri::command(rename_all = "snake_case")]
pub fn search_movies(
    state: State<'_, AppState>,
    query: String,
    limit: u32,
    offset: u32,
) -> Result<MoviePage, IpcError> {
    let catalog = state.catalog.lock().expect("catalog lock");
    let q = movietalk_core::SearchQuery {
        text: query,
        limit: limit.clamp(1, MAX_PAGE),
        offset,
        ..Default::default()
    };
    let found = catalog.search(&q).map_err(storage_error)?;
    Ok(MoviePage {
        movies: found.movies.into_iter().map(summary).collect(),
        total: found.total,
        fallback: found.fallback.is_some(),
    })
}

/// Joins a chat room on the relay, connecting first if needed.
#[tauri::command(rename_all = "snake_case")]
pub async fn join_room(
    app: AppHandle,
    state: State<'_, AppState>,
    room: String,
) -> Result<JoinedRoom, IpcError> {
    let room = room.trim().to_owned();
    movietalk_protocol::relay::validate_room(&room)
        .map_err(|e| IpcError::new(IpcErrorCode::InvalidInput, e.to_string()))?;
    let client = state.chat(&app).await.map_err(relay_error)?;
    let joined = client.join(&room, None).await.map_err(relay_error)?;
    Ok(JoinedRoom {
        room: joined.room,
        history: joined.history,
        present: joined.present,
    })
}

/// Leaves a chat room.
#[tauri::command(rename_all = "snake_case")]
pub async fn leave_room(
    app: AppHandle,
    state: State<'_, AppState>,
    room: String,
) -> Result<(), IpcError> {
    let client = state.chat(&app).await.map_err(relay_error)?;
    client.leave(&room).await.map_err(relay_error)
}

/// Posts a chat message; returns its sequence number in the room.
#[tauri::command(rename_all = "snake_case")]
pub async fn send_chat(
    app: AppHandle,
    state: State<'_, AppState>,
    room: String,
    text: String,
) -> Result<u64, IpcError> {
    movietalk_protocol::relay::validate_text(&text)
        .map_err(|e| IpcError::new(IpcErrorCode::InvalidInput, e.to_string()))?;
    let client = state.chat(&app).await.map_err(relay_error)?;
    client.send(&room, &text).await.map_err(relay_error)
}
