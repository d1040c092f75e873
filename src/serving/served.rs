//! Served models and hot reload.
//!
//! Each configured model URI gets a [`ServedModel`]: an `ArcSwapOption<LoadedModel>` that
//! requests read lock-free, and a watcher task that resolves the URI, downloads and loads the
//! version in the background, and swaps it in. Until the first load succeeds the model is not
//! ready (the watcher retries with backoff); when an alias or stage moves (an in-process
//! notification in `weir server`, a poll in `weir models serve`), the new version is loaded next
//! to the old one and swapped atomically. A failed load keeps the old version serving and is
//! reported in the status, the logs and `weir_model_load_failures_total`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use super::cache;
use super::metrics::metrics;
use super::model::{LoadedModel, Origin, ServingConfig};
use super::source::{ModelRef, SharedSource};

/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// What `/ajax-api/2.0/weir/served-models` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// No version loaded yet; the first attempt is under way.
    Loading,
    /// A version answers requests (a later reload may have failed: see the message).
    Ready,
    /// No version loaded and the last attempt failed; retrying.
    Failed,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    pub message: Option<String>,
}

pub struct ServedModel {
    /// The served name (KServe's `<name>`).
    pub name: String,
    pub model: ModelRef,
    current: ArcSwapOption<LoadedModel>,
    status: Mutex<Status>,
    /// The version serving now, for whoever waits for a load or a swap.
    version: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl ServedModel {
    pub fn new(model: ModelRef) -> ServedModel {
        ServedModel {
            name: model.served_name(),
            model,
            current: ArcSwapOption::empty(),
            status: Mutex::new(Status {
                state: State::Loading,
                message: None,
            }),
            version: watch::channel(None).0,
        }
    }

    /// Follow the served version (`None` until the first load).
    pub fn versions(&self) -> watch::Receiver<Option<String>> {
        self.version.subscribe()
    }

    /// The version serving now; a request keeps this `Arc` until it is answered.
    pub fn current(&self) -> Option<Arc<LoadedModel>> {
        self.current.load_full()
    }

    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or(Status {
            state: State::Failed,
            message: Some("status unavailable".into()),
        })
    }

    fn set_status(&self, state: State, message: Option<String>) {
        if let Ok(mut s) = self.status.lock() {
            *s = Status { state, message };
        }
    }

    /// Why this model does not answer yet, for 503 bodies.
    pub fn not_ready_reason(&self) -> String {
        let s = self.status();
        let why = match (s.state, s.message) {
            (State::Loading, None) => "loading".to_owned(),
            (_, Some(m)) => m,
            (_, None) => "not loaded".to_owned(),
        };
        format!(
            "model '{}' ({}) is not ready: {why}",
            self.name,
            self.model.display()
        )
    }

    /// Put a loaded version in service; the previous one finishes its requests and is dropped
    /// with the last of them.
    pub fn swap_in(&self, new: Arc<LoadedModel>) {
        new.mark_serving(true);
        let old = self.current.swap(Some(new.clone()));
        metrics().ready.with_label_values(&[&self.name]).set(1);
        self.set_status(State::Ready, None);
        self.version.send_replace(Some(new.version.clone()));
        match old {
            Some(old) => {
                old.mark_serving(false);
                metrics().reloads.with_label_values(&[&self.name]).inc();
                tracing::info!(
                    model = self.name,
                    version = new.version,
                    previous = old.version,
                    in_flight_on_previous = old.in_flight(),
                    "hot reload: now serving version {} (was {})",
                    new.version,
                    old.version
                );
            }
            None => tracing::info!(
                model = self.name,
                version = new.version,
                backend = new.backend.as_str(),
                "model ready"
            ),
        }
    }

    fn report_failure(&self, stage: &str, message: String) {
        metrics()
            .load_failures
            .with_label_values(&[&self.name, stage])
            .inc();
        match self.current() {
            Some(cur) => {
                let message = format!(
                    "{message}; still serving version {} (retrying)",
                    cur.version
                );
                tracing::warn!(model = self.name, stage, "{message}");
                self.set_status(State::Ready, Some(message));
            }
            None => {
                let message = format!("{message} (retrying)");
                tracing::warn!(model = self.name, stage, "{message}");
                self.set_status(State::Failed, Some(message));
            }
        }
    }

    /// Resolve, and if the URI now names another version, download, load and swap it in.
    /// Returns whether things are healthy (nothing to retry soon).
    async fn refresh(
        &self,
        source: &SharedSource,
        cfg: &ServingConfig,
        failed: &mut Option<(String, String)>,
    ) -> bool {
        let m = metrics();
        let started = Instant::now();
        let origin = match &self.model {
            ModelRef::Dir(dir) => Origin {
                artifact_uri: dir.display().to_string(),
                ..Origin::default()
            },
            ModelRef::Uri { uri, .. } => match source.resolve(uri).await {
                Ok(o) => o,
                Err(e) => {
                    self.report_failure("resolve", format!("cannot resolve {uri}: {e}"));
                    return false;
                }
            },
        };
        if self.current().is_some_and(|c| c.origin == origin) {
            return true;
        }
        m.load_seconds
            .with_label_values(&[&self.name, "resolve"])
            .observe(started.elapsed().as_secs_f64());
        let key = format!("{}|{}", origin.label(), origin.artifact_uri);
        if let Some((k, msg)) = failed.as_ref() {
            if *k == key {
                // Same version as the last failed load: it will not load better now.
                let msg = msg.clone();
                let serving = self.current().is_some();
                if !serving {
                    self.set_status(State::Failed, Some(format!("{msg} (retrying)")));
                }
                return serving;
            }
        }
        let label = origin.label();
        let fetch_started = Instant::now();
        let dir = match cache::materialize(source.as_ref(), &cfg.model_cache, &self.name, &origin)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                self.report_failure(
                    "fetch",
                    format!(
                        "cannot download version {label} from {}: {e}",
                        origin.artifact_uri
                    ),
                );
                return false;
            }
        };
        m.load_seconds
            .with_label_values(&[&self.name, "fetch"])
            .observe(fetch_started.elapsed().as_secs_f64());
        let load_started = Instant::now();
        let name = self.name.clone();
        let cfg2 = cfg.clone();
        let loaded =
            tokio::task::spawn_blocking(move || LoadedModel::load(&dir, &name, origin, &cfg2))
                .await;
        match loaded {
            Ok(Ok(model)) => {
                m.load_seconds
                    .with_label_values(&[&self.name, "load"])
                    .observe(load_started.elapsed().as_secs_f64());
                m.load_seconds
                    .with_label_values(&[&self.name, "total"])
                    .observe(started.elapsed().as_secs_f64());
                *failed = None;
                self.swap_in(Arc::new(model));
                true
            }
            Ok(Err(e)) => {
                let msg = format!("cannot load version {label}: {e}");
                // A registry version's files never change, so it is not loaded again; a local
                // directory may still be being written, so it is retried.
                if matches!(self.model, ModelRef::Uri { .. }) {
                    *failed = Some((key, msg.clone()));
                }
                self.report_failure("load", msg);
                self.current().is_some()
            }
            Err(e) => {
                self.report_failure("load", format!("loading version {label} failed: {e}"));
                false
            }
        }
    }

    /// The watcher: load, then follow the URI until the process ends.
    pub async fn watch(
        self: Arc<Self>,
        source: SharedSource,
        cfg: ServingConfig,
        mut notify: Option<watch::Receiver<u64>>,
    ) {
        metrics().ready.with_label_values(&[&self.name]).set(0);
        let mut backoff = FIRST_BACKOFF;
        let mut failed = None;
        if !self.model.is_moving() {
            notify = None;
        }
        loop {
            let healthy = self.refresh(&source, &cfg, &mut failed).await;
            let wait = if healthy && self.current().is_some() {
                backoff = FIRST_BACKOFF;
                if self.model.is_moving() {
                    cfg.poll_interval
                } else {
                    // A fixed version: nothing will change.
                    return;
                }
            } else {
                let w = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                Some(w)
            };
            let timer = async {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let moved = async {
                match notify.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending::<bool>().await,
                }
            };
            tokio::select! {
                () = timer => {}
                alive = moved => {
                    if !alive {
                        notify = None;
                    }
                }
            }
        }
    }
}

/// Every model this process serves.
/// `NAME=URI` → (`NAME`, `URI`) when the part before `=` is a valid served name; anything else
/// is a plain URI (a directory whose name holds `=` can be given as `./a=b`).
pub fn split_named(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once('=') {
        Some((name, uri)) if check_served_name(name).is_ok() && !uri.is_empty() => {
            (Some(name), uri)
        }
        _ => (None, spec),
    }
}

/// A served name appears in URLs (`/v2/models/<name>/infer`) and metric labels: letters,
/// digits, `-`, `_` and `.` only.
pub fn check_served_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "served model name '{name}': use 1 to 256 letters, digits, '-', '_' and '.'"
        ))
    }
}

pub struct Serving {
    pub models: Vec<Arc<ServedModel>>,
    pub config: ServingConfig,
    /// Set once on SIGTERM; a watch so the gRPC health service can follow it.
    shutting_down: watch::Sender<bool>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl Serving {
    /// Parse the URIs; refuses two URIs served under the same name.
    /// One served model per entry: a model URI, or `NAME=URI` to choose its served name.
    pub fn new(uris: &[String], config: ServingConfig) -> Result<Serving, String> {
        let mut models: Vec<Arc<ServedModel>> = Vec::new();
        for u in uris {
            let (name, uri) = split_named(u);
            let mut served = ServedModel::new(ModelRef::parse(uri)?);
            if let Some(name) = name {
                check_served_name(name)?;
                served.name = name.to_owned();
            }
            if let Some(other) = models.iter().find(|m| m.name == served.name) {
                return Err(format!(
                    "{} and {} would both be served as '{}': serve one URI per registered model",
                    other.model.display(),
                    served.model.display(),
                    served.name
                ));
            }
            models.push(Arc::new(served));
        }
        Ok(Serving {
            models,
            config,
            shutting_down: watch::channel(false).0,
        })
    }

    /// Serve the only model under `name` instead of the name its URI gives.
    pub fn rename_single(&mut self, name: &str) -> Result<(), String> {
        check_served_name(name).map_err(|e| format!("--model-name: {e}"))?;
        match self.models.as_mut_slice() {
            [one] => match Arc::get_mut(one) {
                Some(m) => {
                    m.name = name.to_owned();
                    Ok(())
                }
                None => Err("the model is already being served".into()),
            },
            _ => Err(format!(
                "--model-name '{name}' names one model, but {} are served: give each its name as -m NAME=URI",
                self.models.len()
            )),
        }
    }

    /// No models (what `weir server` has without `--serve-model`).
    pub fn empty() -> Serving {
        Serving {
            models: Vec::new(),
            config: ServingConfig::default(),
            shutting_down: watch::channel(false).0,
        }
    }

    /// Start one watcher per model on the current tokio runtime.
    pub fn start(&self, source: SharedSource, notify: Option<watch::Receiver<u64>>) {
        for m in &self.models {
            tokio::spawn(
                m.clone()
                    .watch(source.clone(), self.config.clone(), notify.clone()),
            );
        }
    }

    pub fn find(&self, name: &str) -> Option<&Arc<ServedModel>> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn all_ready(&self) -> bool {
        !self.is_shutting_down() && self.models.iter().all(|m| m.current().is_some())
    }

    /// Readiness turns 503 from now on (SIGTERM).
    pub fn begin_shutdown(&self) {
        self.shutting_down.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutting_down.borrow()
    }

    /// Follow shutdown: `true` from [`Serving::begin_shutdown`] on.
    pub fn shutdown_watch(&self) -> watch::Receiver<bool> {
        self.shutting_down.subscribe()
    }
}
