//! The avatar cache against a small HTTP server started by each test on loopback: an avatar is
//! fetched once and then served from disk (also with the server gone); pages that are not
//! images, oversized files, redirects and — unless allowed — local addresses are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use movietalk_core::avatars::{AvatarCache, AvatarError, MAX_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Serves `/a.png`, `/page.html`, `/big.png` (over the cap) and `/moved` (a redirect); counts
/// requests.
async fn server() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, headers, body): (&str, String, Vec<u8>) = match path.as_str() {
                    "/a.png" => ("200 OK", "Content-Type: image/png\r\n".into(), PNG.to_vec()),
                    "/page.html" => (
                        "200 OK",
                        "Content-Type: text/html\r\n".into(),
                        b"<html><body>hi</body></html>".to_vec(),
                    ),
                    "/big.png" => {
                        let mut big = PNG.to_vec();
                        big.resize(MAX_BYTES + 10, 0);
                        ("200 OK", "Content-Type: image/png\r\n".into(), big)
                    }
                    "/moved" => ("302 Found", "Location: /a.png\r\n".into(), Vec::new()),
                    _ => ("404 Not Found", String::new(), Vec::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (base, hits, task)
}

#[tokio::test]
async fn an_avatar_is_fetched_once_then_served_from_disk_even_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (base, hits, task) = server().await;
    let cache = AvatarCache::new(dir.path(), true);
    let url = format!("{base}/a.png");
    let image = cache.get(&url).await.unwrap();
    assert_eq!(
        (image.bytes.as_slice(), image.media_type),
        (PNG, "image/png")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(cache.file(&url).is_file());

    task.abort();
    let _ = task.await;
    // A new cache over the same folder (the next start), with the server gone.
    let again = AvatarCache::new(dir.path(), true).get(&url).await.unwrap();
    assert_eq!(again, image);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "served from disk");
}

#[tokio::test]
async fn what_is_not_a_small_image_is_refused_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (base, hits, _task) = server().await;
    let cache = AvatarCache::new(dir.path(), true);
    for (path, expected) in [
        ("/page.html", AvatarError::NotAnImage),
        ("/big.png", AvatarError::TooLarge),
    ] {
        let url = format!("{base}{path}");
        assert_eq!(cache.get(&url).await.unwrap_err(), expected, "{path}");
        assert!(!cache.file(&url).exists(), "{path} not kept");
    }
    let moved = format!("{base}/moved");
    assert!(
        matches!(cache.get(&moved).await, Err(AvatarError::Fetch(m)) if m.contains("302")),
        "redirects are not followed"
    );
    // A failure is remembered: no second request for a while.
    let before = hits.load(Ordering::SeqCst);
    assert_eq!(
        cache.get(&format!("{base}/page.html")).await.unwrap_err(),
        AvatarError::FailedRecently
    );
    assert_eq!(hits.load(Ordering::SeqCst), before);
    for bad in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://x.example/a.png",
    ] {
        assert!(
            matches!(cache.get(bad).await, Err(AvatarError::BadAddress(_))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn local_addresses_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (base, hits, _task) = server().await;
    let cache = AvatarCache::new(dir.path(), false);
    for url in [
        format!("{base}/a.png"),
        "http://localhost:9/a.png".to_owned(),
    ] {
        assert!(
            matches!(cache.get(&url).await, Err(AvatarError::PrivateAddress(_))),
            "{url}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "never asked");
}
