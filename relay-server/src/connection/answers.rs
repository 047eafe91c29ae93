//! Answers shared by the request handlers: how each kind of failure reaches the client as
//! `{code, message}`.

use movietalk_protocol::relay::{ClientMessage, ErrorCode, ServerMessage};

use crate::accounts::AccountError;
use crate::oidc::VerifyError;
use crate::social::SocialError;

pub(super) fn social_error(req: u64, e: SocialError) -> ServerMessage {
    match e {
        SocialError::NotFound(_) => {
            ServerMessage::error(Some(req), ErrorCode::NotFound, e.to_string())
        }
        SocialError::Forbidden(_) | SocialError::Private(_) => {
            ServerMessage::error(Some(req), ErrorCode::Forbidden, e.to_string())
        }
        SocialError::Invalid(_) => {
            ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
        }
        SocialError::Store(e) => internal(req, e),
    }
}

pub(super) fn banned_from(req: u64) -> ServerMessage {
    ServerMessage::error(
        Some(req),
        ErrorCode::Forbidden,
        "the room's moderator removed you from this room",
    )
}

pub(super) fn session_ended(req: u64) -> ServerMessage {
    ServerMessage::error(
        Some(req),
        ErrorCode::SessionExpired,
        "this session ended (logged out, revoked or expired); log in again",
    )
}

pub(super) fn not_logged_in(req: u64) -> ServerMessage {
    ServerMessage::error(Some(req), ErrorCode::Unauthorized, "log in first")
}

pub(super) fn account_error(req: u64, e: AccountError) -> ServerMessage {
    let code = match e {
        AccountError::HandleTaken
        | AccountError::IdentityTaken
        | AccountError::ProviderAlreadyLinked => ErrorCode::Conflict,
        AccountError::InvalidCredentials
        | AccountError::InvalidToken
        | AccountError::RecentLoginRequired => ErrorCode::InvalidCredentials,
        AccountError::TokenReused { .. } => ErrorCode::TokenReused,
        AccountError::Busy => ErrorCode::RateLimited,
        AccountError::NotFound => ErrorCode::NotFound,
        AccountError::LastLoginMethod => ErrorCode::LastLoginMethod,
        AccountError::Store(e) => return internal(req, e),
    };
    ServerMessage::error(Some(req), code, e.to_string())
}

pub(super) fn verify_error(req: u64, e: VerifyError) -> ServerMessage {
    let code = match e {
        VerifyError::UnknownProvider(_) => ErrorCode::NotFound,
        VerifyError::MissingCredential(_) => ErrorCode::InvalidInput,
        VerifyError::Rejected(_) => ErrorCode::InvalidCredentials,
        VerifyError::Unavailable(_) => ErrorCode::ProviderUnavailable,
    };
    if code == ErrorCode::ProviderUnavailable {
        tracing::warn!(error = %e, "identity provider unavailable");
    } else {
        tracing::debug!(error = %e, "provider credential refused");
    }
    ServerMessage::error(Some(req), code, e.to_string())
}

/// A storage failure, logged here and reported to the client as retryable.
pub(super) fn internal(req: u64, e: crate::store::StoreError) -> ServerMessage {
    tracing::error!(error = %e, "storage failed");
    ServerMessage::error(
        Some(req),
        ErrorCode::Internal,
        "the relay could not store this; try again",
    )
}

/// A request handed to a handler that does not serve it: a relay bug, reported as one.
pub(super) fn misrouted(req: u64, msg: ClientMessage) -> ServerMessage {
    tracing::error!(?msg, "a request reached the wrong handler");
    ServerMessage::error(
        Some(req),
        ErrorCode::Internal,
        "the relay could not answer this request",
    )
}
