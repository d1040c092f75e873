//! `AppState`: what every handler of `weir server` may reach, built once by the role and
//! cloned into each request (all fields are cheap handles).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::artifacts::Artifacts;
use crate::registry::Registry;
use crate::security::Policy;
use crate::store::SqlStore;
use crate::tracking::Tracking;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<SqlStore>,
    pub tracking: Tracking,
    pub registry: Registry,
    pub artifacts: Artifacts,
    /// Largest JSON body accepted.
    pub max_body_bytes: usize,
    /// Set when SIGTERM arrives, so readiness turns 503 before the listener closes.
    shutting_down: Arc<AtomicBool>,
    /// Models served in-process (`--serve-model`); also answers the UI's `served-models`.
    pub serving: Option<Arc<crate::serving::Serving>>,
    /// Allowed hosts and origins, security headers, trusted proxies.
    pub security: Arc<Policy>,
    /// Longest a (non-streaming) API request may take.
    pub request_timeout: std::time::Duration,
    /// The basic-auth app, when on (`--app-name basic-auth`).
    pub auth: Option<Arc<crate::auth::Auth>>,
    /// Registry webhooks (set up by `weir server`; absent in bare test states).
    pub webhooks: Option<crate::webhooks::Webhooks>,
}

impl axum::extract::FromRef<AppState> for Arc<Policy> {
    fn from_ref(s: &AppState) -> Self {
        s.security.clone()
    }
}

impl AppState {
    pub fn new(
        store: Arc<SqlStore>,
        artifacts: Artifacts,
        default_artifact_root: String,
        max_body_bytes: usize,
    ) -> Self {
        let tracking = Tracking::new(store.clone(), default_artifact_root);
        let registry = Registry::new(store.clone(), store.clone(), artifacts.clone());
        AppState {
            store,
            tracking,
            registry,
            artifacts,
            max_body_bytes,
            shutting_down: Arc::new(AtomicBool::new(false)),
            serving: None,
            security: Arc::new(Policy::default()),
            request_timeout: std::time::Duration::from_secs(60),
            auth: None,
            webhooks: None,
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        if let Some(s) = &self.serving {
            s.begin_shutdown();
        }
    }

    /// Multipart uploads work on every proxied destination (local parts or S3 parts).
    pub fn multipart_uploads_enabled(&self) -> bool {
        self.artifacts.proxied.is_some()
    }
}
