//! A file store on loopback (the center's document storage as Lienthong sees it): serves
//! named files over HTTP so dossiers can point at them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;

/// A running file server.
pub struct FileServer {
    addr: SocketAddr,
}

impl FileServer {
    /// Serves `files` (name → content) at `/files/{name}`.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start(files: BTreeMap<String, Vec<u8>>) -> std::io::Result<Self> {
        async fn file(
            State(files): State<Arc<BTreeMap<String, Vec<u8>>>>,
            Path(name): Path<String>,
        ) -> (StatusCode, Vec<u8>) {
            match files.get(&name) {
                Some(b) => (StatusCode::OK, b.clone()),
                None => (StatusCode::NOT_FOUND, Vec::new()),
            }
        }
        let app = axum::Router::new()
            .route("/files/{name}", axum::routing::get(file))
            .with_state(Arc::new(files));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr })
    }

    /// The URL of a file.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/files/{name}", self.addr)
    }

    /// The `[attachments]` section that lets a gateway fetch from this store (a prefix on
    /// loopback, so the loopback network is listed too).
    pub fn attachments_toml(&self) -> String {
        format!(
            "\n[attachments]\nallowed_urls = [\"http://{}/files/\"]\nallowed_networks = [\"127.0.0.0/8\"]\n",
            self.addr
        )
    }
}
