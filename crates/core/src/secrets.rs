//! Secrets (relay session tokens, the TMDB API key) in the OS keyring — never in SQLite, logs
//! or config files.
//!
//! [`Secrets::open`] probes the keyring once. Where there is none (a headless machine without a
//! Secret Service, a locked collection), it falls back to memory: the secret lasts as long as the
//! process, and [`Secrets::persistent`] is false so the app can tell the user why they will have
//! to log in again next time.
//!
//! Entries are scoped by the data folder, so two app instances with two data folders (two
//! users on one machine, or the end-to-end tests) never read each other's session.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// The keyring service every MovieTalk secret is filed under.
pub const SERVICE: &str = "org.movietalk.desktop";

/// A secret could not be stored, read or deleted.
#[derive(Debug, thiserror::Error)]
#[error("the OS keyring failed: {0}")]
pub struct SecretError(String);

enum Backend {
    Keyring,
    Memory {
        why: String,
        values: Mutex<HashMap<String, String>>,
    },
}

/// Where this app's secrets live.
pub struct Secrets {
    scope: String,
    backend: Backend,
}

impl std::fmt::Debug for Secrets {
    // Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("scope", &self.scope)
            .field("persistent", &self.persistent())
            .finish()
    }
}

impl Secrets {
    /// Secrets for the app whose data lives in `data_dir`, in the OS keyring when one answers.
    pub fn open(data_dir: &Path) -> Secrets {
        let scope = data_dir.display().to_string();
        match probe(&scope) {
            Ok(()) => Secrets {
                scope,
                backend: Backend::Keyring,
            },
            Err(why) => {
                tracing::warn!(%why, "no usable OS keyring; secrets are kept in memory for this run only");
                Secrets::in_memory_because(scope, why)
            }
        }
    }

    /// Secrets kept in memory only (tests, or a user who declined the keyring).
    pub fn in_memory(reason: impl Into<String>) -> Secrets {
        Secrets::in_memory_because("memory".into(), reason.into())
    }

    fn in_memory_because(scope: String, why: String) -> Secrets {
        Secrets {
            scope,
            backend: Backend::Memory {
                why,
                values: Mutex::default(),
            },
        }
    }

    /// True when secrets survive a restart (the OS keyring is in use).
    pub fn persistent(&self) -> bool {
        matches!(self.backend, Backend::Keyring)
    }

    /// Why secrets are kept in memory only, when they are.
    pub fn fallback_reason(&self) -> Option<&str> {
        match &self.backend {
            Backend::Keyring => None,
            Backend::Memory { why, .. } => Some(why),
        }
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(SERVICE, &format!("{name}@{}", self.scope))
            .map_err(|e| SecretError(e.to_string()))
    }

    /// Stores `value` under `name`, replacing what was there.
    pub fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        match &self.backend {
            Backend::Keyring => self
                .entry(name)?
                .set_password(value)
                .map_err(|e| SecretError(e.to_string())),
            Backend::Memory { values, .. } => {
                values
                    .lock()
                    .expect("secrets lock")
                    .insert(name.to_owned(), value.to_owned());
                Ok(())
            }
        }
    }

    /// The secret stored under `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        match &self.backend {
            Backend::Keyring => match self.entry(name)?.get_password() {
                Ok(v) => Ok(Some(v)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(SecretError(e.to_string())),
            },
            Backend::Memory { values, .. } => {
                Ok(values.lock().expect("secrets lock").get(name).cloned())
            }
        }
    }

    /// Forgets the secret under `name`; forgetting one that is not there is not an error.
    pub fn delete(&self, name: &str) -> Result<(), SecretError> {
        match &self.backend {
            Backend::Keyring => match self.entry(name)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(SecretError(e.to_string())),
            },
            Backend::Memory { values, .. } => {
                values.lock().expect("secrets lock").remove(name);
                Ok(())
            }
        }
    }
}

/// Writes, reads back and deletes a throwaway entry: the only sure way to know the keyring works.
fn probe(scope: &str) -> Result<(), String> {
    let entry =
        keyring::Entry::new(SERVICE, &format!("probe@{scope}")).map_err(|e| e.to_string())?;
    entry.set_password("probe").map_err(|e| e.to_string())?;
    let read = entry.get_password().map_err(|e| e.to_string())?;
    let _ = entry.delete_credential();
    if read == "probe" {
        Ok(())
    } else {
        Err("the keyring returned something else than was stored".into())
    }
}
