//! The OS keyring through the real Secret Service. `cargo xtask test` runs the tests inside a
//! private D-Bus session with gnome-keyring unlocked; run bare (no Secret Service), the keyring
//! test says it skipped and only the fallback is checked.

use movietalk_core::secrets::Secrets;

#[test]
fn secrets_round_trip_through_the_os_keyring_and_stay_scoped_by_data_folder() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = Secrets::open(a_dir.path());
    if !a.persistent() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide a Secret Service: {:?}",
            a.fallback_reason()
        );
        eprintln!(
            "SKIPPED: no Secret Service here ({:?})",
            a.fallback_reason()
        );
        return;
    }
    let b = Secrets::open(b_dir.path());
    assert_eq!(a.get("relay-session").unwrap(), None);
    a.set("relay-session", "token-a").unwrap();
    b.set("relay-session", "token-b").unwrap();
    // A second handle on the same folder (the app after a restart) reads what the first stored.
    assert_eq!(
        Secrets::open(a_dir.path())
            .get("relay-session")
            .unwrap()
            .as_deref(),
        Some("token-a")
    );
    assert_eq!(b.get("relay-session").unwrap().as_deref(), Some("token-b"));
    a.set("relay-session", "token-a2").unwrap();
    assert_eq!(a.get("relay-session").unwrap().as_deref(), Some("token-a2"));
    a.delete("relay-session").unwrap();
    a.delete("relay-session").unwrap();
    assert_eq!(a.get("relay-session").unwrap(), None);
    assert_eq!(b.get("relay-session").unwrap().as_deref(), Some("token-b"));
    b.delete("relay-session").unwrap();
    // Nothing of the secret reaches a debug print.
    assert!(!format!("{b:?}").contains("token"));
}

#[test]
fn without_a_keyring_secrets_live_in_memory_and_say_why() {
    let s = Secrets::in_memory("no keyring in this test");
    assert!(!s.persistent());
    assert_eq!(s.fallback_reason(), Some("no keyring in this test"));
    s.set("tmdb-api-key", "k").unwrap();
    assert_eq!(s.get("tmdb-api-key").unwrap().as_deref(), Some("k"));
    s.delete("tmdb-api-key").unwrap();
    assert_eq!(s.get("tmdb-api-key").unwrap(), None);
}
