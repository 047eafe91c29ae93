//! Avatars: the pictures people point their profiles at, fetched once and kept on disk so that
//! profiles show them offline.
//!
//! An avatar address is chosen by another user, so fetching it is done warily: only `http(s)`
//! addresses the relay would accept, no redirects, a size cap, a timeout, only the four image
//! formats a browser shows without scripts (PNG, JPEG, GIF, WebP — never SVG), and by default
//! never a loopback, private or link-local address (a profile must not make the app probe the
//! user's own network). The address is resolved first and the request pinned to the checked
//! address, so a name cannot be switched to a private one between the check and the request.
//! Addresses that failed are not tried again for [`RETRY_AFTER`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest avatar fetched.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// How long a failed address is left alone.
pub const RETRY_AFTER: Duration = Duration::from_secs(10 * 60);
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AvatarError {
    #[error("not an avatar address: {0}")]
    BadAddress(String),
    #[error("{0} resolves to a local or private address")]
    PrivateAddress(String),
    #[error("could not fetch the avatar: {0}")]
    Fetch(String),
    #[error("the avatar is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("the avatar is not a PNG, JPEG, GIF or WebP image")]
    NotAnImage,
    #[error("failed recently; not tried again yet")]
    FailedRecently,
    #[error("could not store the avatar: {0}")]
    Storage(String),
}

/// Avatars on disk under one folder, one file per address.
#[derive(Debug)]
pub struct AvatarCache {
    dir: PathBuf,
    allow_private: bool,
    failed: Mutex<HashMap<String, Instant>>,
}

/// An image and its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
}

impl AvatarCache {
    /// A cache in `dir`; `allow_private` lets addresses on this machine or the local network
    /// through (tests, a relay and its avatars hosted on a home network).
    pub fn new(dir: &Path, allow_private: bool) -> Self {
        AvatarCache {
            dir: dir.to_path_buf(),
            allow_private,
            failed: Mutex::new(HashMap::new()),
        }
    }

    /// Where the avatar of `url` is kept.
    pub fn file(&self, url: &str) -> PathBuf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(url.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(name)
    }

    /// The avatar at `url`: from disk when it was fetched before, else fetched and kept.
    pub async fn get(&self, url: &str) -> Result<Image, AvatarError> {
        movietalk_protocol::relay::validate_avatar_url(url)
            .map_err(|e| AvatarError::BadAddress(e.to_string()))?;
        let file = self.file(url);
        if let Ok(bytes) = std::fs::read(&file)
            && let Some(media_type) = media_type(&bytes)
        {
            return Ok(Image { bytes, media_type });
        }
        {
            let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
            failed.retain(|_, at| at.elapsed() < RETRY_AFTER);
            if failed.contains_key(url) {
                return Err(AvatarError::FailedRecently);
            }
        }
        let result = self.fetch(url).await;
        match &result {
            Ok(image) => store(&file, &image.bytes)?,
            Err(e) => {
                tracing::debug!(url, error = %e, "avatar not fetched");
                self.failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(url.to_owned(), Instant::now());
            }
        }
        result
    }

    async fn fetch(&self, url: &str) -> Result<Image, AvatarError> {
        let parsed = url::Url::parse(url).map_err(|e| AvatarError::BadAddress(e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| AvatarError::BadAddress(url.to_owned()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| AvatarError::BadAddress(url.to_owned()))?;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| AvatarError::Fetch(e.to_string()))?
            .collect();
        let addr = *addrs
            .first()
            .ok_or_else(|| AvatarError::Fetch(format!("{host} has no address")))?;
        if !self.allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(AvatarError::PrivateAddress(host));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .resolve(&host, addr)
            .build()
            .map_err(|e| AvatarError::Fetch(e.to_string()))?;
        let mut response = client
            .get(parsed)
            .send()
            .await
            .map_err(|e| AvatarError::Fetch(e.to_string()))?;
        if !response.status().is_success() {
            return Err(AvatarError::Fetch(format!("HTTP {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BYTES as u64)
        {
            return Err(AvatarError::TooLarge);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| AvatarError::Fetch(e.to_string()))?
        {
            if bytes.len() + chunk.len() > MAX_BYTES {
                return Err(AvatarError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let media_type = media_type(&bytes).ok_or(AvatarError::NotAnImage)?;
        Ok(Image { bytes, media_type })
    }
}

/// Writes through a temporary file, so a half-written avatar is never served.
fn store(file: &Path, bytes: &[u8]) -> Result<(), AvatarError> {
    let dir = file
        .parent()
        .ok_or_else(|| AvatarError::Storage("no folder".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| AvatarError::Storage(e.to_string()))?;
    let tmp = file.with_extension("part");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| AvatarError::Storage(e.to_string()))
}

/// The image format, from the file's first bytes.
pub fn media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether an address is out on the internet (not this machine, a private network, link-local,
/// shared address space, multicast or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_internet_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn images_are_told_by_their_first_bytes() {
        assert_eq!(media_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(media_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(media_type(b"GIF89a..."), Some("image/gif"));
        assert_eq!(media_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            media_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            None
        );
        assert_eq!(media_type(b"<html>"), None);
    }
}
