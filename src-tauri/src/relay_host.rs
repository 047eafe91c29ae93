//! The relay the desktop app hosts on loopback when no relay is configured, its data beside the
//! catalog.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use movietalk_core::app::{HostFuture, RelayHost};
use movietalk_relay::RunningRelay;

/// Port the app tries first when it hosts a relay itself; when taken, any free port is used.
pub const DEFAULT_HOSTED_PORT: u16 = 7340;

/// Keeps the hosted relay running for the life of the app.
#[derive(Default)]
pub struct BundledRelay(tokio::sync::Mutex<Option<RunningRelay>>);

impl RelayHost for BundledRelay {
    fn start<'a>(&'a self, data_dir: &'a Path) -> HostFuture<'a> {
        Box::pin(async move {
            let relay = host_relay(data_dir).await.map_err(|e| e.to_string())?;
            let url = relay.url();
            *self.0.lock().await = Some(relay);
            Ok(url)
        })
    }
}

async fn host_relay(
    data_dir: &Path,
) -> Result<RunningRelay, Box<dyn std::error::Error + Send + Sync>> {
    let store: Arc<dyn movietalk_relay::RelayStore> = Arc::new(
        movietalk_relay::store::SqliteStore::open(&data_dir.join("relay.sqlite3"))?,
    );
    let preferred = SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_HOSTED_PORT));
    Ok(
        match movietalk_relay::start(preferred, Default::default(), store.clone()).await {
            Ok(relay) => relay,
            Err(e) => {
                tracing::info!(error = %e, "port {DEFAULT_HOSTED_PORT} is taken; hosting the relay on a free port");
                movietalk_relay::start(
                    SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    Default::default(),
                    store,
                )
                .await?
            }
        },
    )
}
