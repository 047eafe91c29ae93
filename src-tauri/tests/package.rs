//! The packaged app: `cargo xtask test` builds the .deb, checks its control data, desktop entry
//! and icons, unpacks it into a temporary root and runs this test on the binary from the package
//! (`MOVIETALK_APP_BINARY`): its window opens on an empty data folder, the relay it bundles comes
//! online, and the catalog answers a search.

mod support;

use support::window::{App, GPU, application, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs on the unpacked .deb: `cargo xtask test` sets MOVIETALK_APP_BINARY"]
async fn the_packaged_app_hosts_its_relay_and_shows_the_catalog() {
    if std::env::var_os("MOVIETALK_APP_BINARY").is_none() {
        eprintln!("skipped: no unpacked package (cargo xtask test runs this on the .deb)");
        return;
    }
    let binary = application();
    assert!(
        binary.ends_with("/usr/bin/movietalk-app"),
        "the binary from the package: {binary}"
    );
    // No relay address: the app hosts the relay it bundles.
    let app = App::start_in("packaged", "", tempfile::tempdir().unwrap(), &[GPU]).await;
    let checked = async {
        app.wait_text("the bundled relay online", "#relay-status", |t| {
            t == "Online"
        })
        .await;
        let key = app.open_first_result("godfather").await;
        assert_eq!(key, "the-godfather-1972");
        let title = eventually("the film's title", || async {
            let t = app.text("#movie-title").await;
            (!t.is_empty()).then_some(t)
        })
        .await;
        assert!(title.contains("Godfather"), "{title}");
        app.screenshot("packaged-movie").await;
    };
    if let Err(panic) =
        futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(checked)).await
    {
        app.leave_evidence().await;
        std::panic::resume_unwind(panic);
    }
    app.close().await;
}
