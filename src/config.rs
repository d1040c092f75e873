//! Command line and environment configuration.
//!
//! Every flag has an environment variable. Where `mlflow server` / `mlflow models serve` already
//! define one (`MLFLOW_BACKEND_STORE_URI`, `MLFLOW_TRACKING_URI`, ...), Weir reads the same name so a
//! deployment written for MLflow keeps working; Weir's own settings use the `WEIR_` prefix.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::secret::Secret;
pub use crate::secret::SecretUri;
pub use crate::serving::backend::BackendChoice;
pub use crate::telemetry::LogFormat;

/// Weir: an MLflow-compatible tracking server, model registry and model server.
#[derive(Debug, Parser)]
#[command(
    name = "weir",
    version,
    about = "An MLflow-compatible tracking server, model registry and fast model server, in one binary.",
    long_about = "Weir speaks MLflow's REST protocol: point an unmodified `mlflow` Python client at it with \
MLFLOW_TRACKING_URI=http://host:5000 and experiments, runs, artifacts and the model registry work. \
The same binary resolves `models:/name@alias`, loads the model as MLflow logged it (ONNX; \
scikit-learn, XGBoost and LightGBM read natively, no Python) and answers /invocations, \
KServe V1/V2 and Prometheus /metrics.\n\n\
Quick start:\n  weir server                         # tracking + registry + artifacts on 127.0.0.1:5000\n  \
weir models serve -m models:/iris@champion --port 5001"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start; boxing the server's arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the tracking server: MLflow's tracking and registry REST API, the artifact proxy, the
    /// web UI and Prometheus /metrics on one port (and, with --serve-model, model serving too).
    Server(ServerArgs),
    /// Work with models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Maintain the backend store.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Manage the basic-auth app's users (`weir server --app-name basic-auth`).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Copy users and permissions from MLflow's basic-auth database (`basic_auth.db`, or the
    /// `database_uri` of MLflow's auth ini) into Weir's, then exit. Users keep their passwords:
    /// their werkzeug hashes are copied and replaced by argon2id at their first sign-in to Weir.
    /// Experiment and registered-model permissions are copied; what cannot be imported (an
    /// unknown hash format, another MLflow workspace, newer MLflow tables) is skipped and listed.
    /// Run it with the server stopped, or restart it afterwards.
    Import(ImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// MLflow's auth database: a path to `basic_auth.db`, `sqlite:///path/basic_auth.db` or
    /// `postgresql://user:password@host:5432/db`. Only read, never written.
    #[arg(long = "from", env = "WEIR_AUTH_IMPORT_FROM")]
    pub from: SecretUri,

    /// Weir's store that receives the users: the `--backend-store-uri` of `weir server`, or the
    /// `database_uri` of the auth config when users live apart. Migrated first, as at start.
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        default_value = "sqlite:///mlflow.db"
    )]
    pub backend_store_uri: SecretUri,

    /// Replace users that already exist in Weir (their password hash and admin flag) instead of
    /// skipping them; their permissions are merged, MLflow's level winning.
    #[arg(long, env = "WEIR_AUTH_IMPORT_OVERWRITE")]
    pub overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Serve one model over HTTP (MLflow scoring protocol, KServe V1/V2, /metrics), resolving
    /// `models:/` and `runs:/` URIs against a remote tracking server.
    Serve(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending schema migrations to the backend store, then exit. `weir server` does this
    /// at start too; this command is for running migrations as a separate deployment step.
    Upgrade {
        /// The store to migrate (same syntax as `weir server --backend-store-uri`).
        #[arg(
            env = "MLFLOW_BACKEND_STORE_URI",
            default_value = "sqlite:///mlflow.db"
        )]
        backend_store_uri: SecretUri,
    },
    /// Copy an MLflow tracking database into Weir's store, keeping every id, then exit.
    ///
    /// Reads the database `mlflow server` keeps (its SQLAlchemy schema, made by MLflow 2.9 to
    /// 3.17): experiments and their tags, runs with params, tags, full metric history and latest
    /// metrics, dataset and model inputs/outputs, registered models, versions (stages, tags,
    /// sources), aliases, and MLflow 3 logged models with their params, tags and metrics. Run,
    /// experiment and model ids stay as they were, so every `runs:/`, `models:/` URI and
    /// artifact location still resolves; point Weir at the same artifact store.
    ///
    /// The target is migrated first (as `weir db upgrade`) and must hold no experiment (besides
    /// an unused Default), run, registered model or logged model, unless --force. Stop MLflow,
    /// or expect rows written during the copy to be missed. Traces, webhooks, evaluation
    /// datasets and other tables Weir does not keep are listed, not copied.
    ///
    ///   weir db import --from sqlite:///mlflow.db --backend-store-uri postgresql://weir@db/weir
    Import(DbImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbImportArgs {
    /// MLflow's tracking database, as `mlflow server --backend-store-uri` names it:
    /// `sqlite:///path/mlflow.db`, `postgresql://user:password@host:5432/db` or
    /// `mysql://user:password@host:3306/db` (MySQL 8.0.17+ or MariaDB 10.4+, read without TLS;
    /// `mariadb://` and driver suffixes such as `postgresql+psycopg2://` or `mysql+pymysql://`
    /// are accepted). Only read, never written.
    #[arg(long = "from", env = "WEIR_DB_IMPORT_FROM")]
    pub from: SecretUri,

    /// Weir's store that receives the copy (same syntax as `weir server --backend-store-uri`).
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        default_value = "sqlite:///mlflow.db"
    )]
    pub backend_store_uri: SecretUri,

    /// Import into a store that already holds experiments, runs or models. Rows whose key
    /// already exists there are left as they are (so an interrupted import can be run again);
    /// the rest are added.
    #[arg(long, env = "WEIR_DB_IMPORT_FORCE")]
    pub force: bool,

    /// Rows read and written per transaction.
    #[arg(long, env = "WEIR_DB_IMPORT_BATCH_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, global = true, env = "WEIR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` syntax (e.g. `info`, `weir=debug,sqlx=warn`).
    #[arg(long, global = true, env = "WEIR_LOG", default_value = "info")]
    pub log_level: String,
}

/// A flag given twice takes its last value (as `mlflow server`'s), so wrappers can append overrides.
#[derive(Debug, Clone, Args)]
#[command(args_override_self = true)]
pub struct ServerArgs {
    /// Address to listen on. Use 0.0.0.0 to accept connections from other machines.
    #[arg(long, env = "MLFLOW_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on.
    #[arg(long, short = 'p', env = "MLFLOW_PORT", default_value_t = 5000)]
    pub port: u16,

    /// Where experiments, runs and the registry are stored: `sqlite:///relative.db`,
    /// `sqlite:////absolute/path.db` or `postgresql://user:password@host:5432/db`.
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        default_value = "sqlite:///mlflow.db"
    )]
    pub backend_store_uri: SecretUri,

    /// Artifact location given to new experiments. Defaults to `mlflow-artifacts:/` (proxied
    /// through this server) with --serve-artifacts, else to ./mlruns. Also accepts a local path,
    /// `file://`, `s3://bucket/prefix` and `http(s)://host/api/2.0/mlflow-artifacts/artifacts`.
    #[arg(long, env = "MLFLOW_DEFAULT_ARTIFACT_ROOT")]
    pub default_artifact_root: Option<String>,

    /// Where proxied artifacts are stored: a local directory or `s3://bucket/prefix` (S3 settings
    /// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and MLFLOW_S3_ENDPOINT_URL).
    #[arg(
        long,
        env = "MLFLOW_ARTIFACTS_DESTINATION",
        default_value = "./mlartifacts"
    )]
    pub artifacts_destination: String,

    /// Proxy artifact uploads and downloads through this server (`mlflow-artifacts:/` URIs).
    #[arg(
        long,
        env = "MLFLOW_SERVE_ARTIFACTS",
        default_value_t = true,
        overrides_with = "no_serve_artifacts",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
    )]
    pub serve_artifacts: bool,

    /// Do not proxy artifacts: clients read and write the artifact store directly.
    #[arg(long, overrides_with = "serve_artifacts")]
    pub no_serve_artifacts: bool,

    /// Host names (and `host:port`) the server answers to, comma-separated; `*` wildcards allowed
    /// (`*.example.com`), `*` alone allows every host. Requests with another Host header get 403:
    /// this stops a web page on another domain from driving a Weir on localhost or a private
    /// network (DNS rebinding). Default: localhost, 127.0.0.1, [::1] and private-network addresses
    /// with any port, and the --host the server listens on. Behind a Service or Ingress, list the
    /// names clients use (e.g. `weir,weir.mlflow.svc,mlflow.example.com`). /health and /version
    /// answer whatever the Host, for probes.
    #[arg(long, env = "MLFLOW_SERVER_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Web origins (`https://notebooks.example.com`, `*` wildcards allowed) whose pages may call
    /// the API from a browser, comma-separated. Default: none, only the server's own origin; a
    /// state-changing request (POST, PUT, PATCH, DELETE) from any other origin gets 403.
    #[arg(
        long,
        env = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// The X-Frame-Options header on every answer (`SAMEORIGIN`, `DENY`, or `NONE` to omit it).
    #[arg(
        long,
        env = "MLFLOW_SERVER_X_FRAME_OPTIONS",
        default_value = "SAMEORIGIN"
    )]
    pub x_frame_options: String,

    /// Proxies whose X-Forwarded-Host, X-Forwarded-Proto and X-Forwarded-User headers are
    /// believed, as CIDRs (`10.0.0.0/8,127.0.0.1/32`), comma-separated. Default: none; from any
    /// other peer those headers are ignored.
    #[arg(long, env = "WEIR_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// How long to keep trying to reach the backend store at start, in seconds, before exiting
    /// with an error (a PostgreSQL that starts after Weir in a cluster is waited for).
    #[arg(long, env = "WEIR_DB_CONNECT_TIMEOUT", default_value_t = 60)]
    pub db_connect_timeout: u64,

    /// `basic-auth` turns on MLflow's basic-auth app: every request but `/health`, static assets
    /// and `server-info` needs HTTP Basic credentials, and users get READ, USE, EDIT or MANAGE
    /// on experiments and registered models. Configured by MLflow's ini file
    /// (MLFLOW_AUTH_CONFIG_PATH: default_permission, database_uri, admin_username,
    /// admin_password) and MLFLOW_AUTH_ADMIN_PASSWORD; without a password the admin is created
    /// with a random one, printed once. `WEIR_AUTH=basic` does the same.
    #[arg(long = "app-name", env = "WEIR_AUTH", value_parser = ["basic-auth", "basic"])]
    pub app_name: Option<String>,

    /// With basic-auth on, answer `/metrics` without credentials (for scrapers that cannot
    /// authenticate; the metrics carry no user data).
    #[arg(long, env = "WEIR_PUBLIC_METRICS")]
    pub public_metrics: bool,

    /// Also serve this model from the in-process registry (repeatable): `models:/name@alias`,
    /// `models:/name/Production`, `models:/name/3`, `runs:/<run>/model`, `models:/m-<id>` or a
    /// local directory holding an MLmodel file; `NAME=URI` chooses the name it is served under.
    #[arg(long = "serve-model", env = "WEIR_SERVE_MODEL", value_delimiter = ',')]
    pub serve_model: Vec<String>,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub serving: ServingArgs,

    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// Registry webhooks (MLflow 3.3+'s API), with MLflow's own environment variables.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// URL schemes a webhook may use, comma-separated.
    #[arg(
        long = "webhook-allowed-schemes",
        id = "webhook_allowed_schemes",
        value_name = "SCHEMES",
        env = "MLFLOW_WEBHOOK_ALLOWED_SCHEMES",
        value_delimiter = ',',
        default_value = "https"
    )]
    pub allowed_schemes: Vec<String>,

    /// Let webhooks reach private, loopback and link-local addresses. Off by default: every
    /// address a webhook's host resolves to must be public, checked when it is saved, before
    /// each send and on the address connected to (no DNS rebinding).
    #[arg(
        long = "webhook-allow-private-ips",
        id = "webhook_allow_private_ips",
        value_name = "BOOL",
        value_parser = clap::builder::BoolishValueParser::new(),
        env = "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub allow_private_ips: bool,

    /// Seconds one webhook request may take before it counts as failed and is retried.
    #[arg(
        long = "webhook-request-timeout",
        id = "webhook_request_timeout",
        value_name = "SECONDS",
        env = "MLFLOW_WEBHOOK_REQUEST_TIMEOUT",
        default_value_t = 30
    )]
    pub request_timeout: u64,

    /// Attempts per event before a delivery is marked failed (backoff 1 s, 2 s, 4 s ... up to
    /// 60 s between them: the default outlasts a receiver down for about 6 minutes).
    #[arg(
        long = "webhook-max-attempts",
        id = "webhook_max_attempts",
        value_name = "N",
        env = "WEIR_WEBHOOK_MAX_ATTEMPTS",
        default_value_t = 12
    )]
    pub max_attempts: u32,

    /// Fernet key (32 bytes, url-safe base64) encrypting webhook secrets at rest; replicas must
    /// share it. Without it a random key is made at start, as MLflow does, and secrets saved
    /// before a restart can no longer sign.
    #[arg(
        long = "webhook-secret-key",
        id = "webhook_secret_key",
        value_name = "KEY",
        env = "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub secret_encryption_key: Option<Secret>,
}

impl WebhookArgs {
    pub fn settings(&self) -> crate::webhooks::Settings {
        crate::webhooks::Settings {
            targets: crate::webhooks::url::Targets {
                allowed_schemes: self
                    .allowed_schemes
                    .iter()
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect(),
                allow_private_ips: self.allow_private_ips,
            },
            request_timeout: Duration::from_secs(self.request_timeout.max(1)),
            max_attempts: i64::from(self.max_attempts.max(1)),
            ..Default::default()
        }
    }
}

impl ServerArgs {
    /// Whether artifacts are proxied, after `--serve-artifacts`/`--no-serve-artifacts`.
    pub fn proxy_artifacts(&self) -> bool {
        self.serve_artifacts && !self.no_serve_artifacts
    }

    pub fn db_connect_timeout(&self) -> Duration {
        Duration::from_secs(self.db_connect_timeout)
    }
}

/// Limits of the HTTP server, shared by `weir server` and `weir models serve`: every request is
/// bounded in size and time, every connection in time, and their number in total.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Largest accepted request body, in bytes (artifact uploads stream and are not limited).
    #[arg(long, env = "WEIR_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest one request may take, body included, in seconds; then 504. Artifact uploads and
    /// downloads stream for as long as they need and are exempt.
    #[arg(long, env = "WEIR_REQUEST_TIMEOUT", default_value_t = 60)]
    pub request_timeout: u64,

    /// Most connections open at once; further clients wait in the listen backlog.
    #[arg(long, env = "WEIR_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Seconds a client has to send a complete request head once it connects or starts a request.
    /// Slower connections are closed (slowloris).
    #[arg(long, env = "WEIR_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,

    /// Seconds an idle keep-alive connection stays open between requests.
    #[arg(long, env = "WEIR_KEEP_ALIVE_TIMEOUT", default_value_t = 60)]
    pub keep_alive_timeout: u64,

    /// On SIGTERM, seconds to go on answering before the listener closes: readiness answers 503
    /// at once, requests still arriving are served and every answer carries `Connection: close`,
    /// so load balancers and Kubernetes Services stop routing here without a request lost. Ctrl-C
    /// skips the delay. Fractions allowed; 0 closes the listener at once.
    #[arg(long, env = "WEIR_SHUTDOWN_DELAY", default_value_t = 5.0)]
    pub shutdown_delay: f64,

    /// After the listener closes, how long in-flight requests may take to finish before exit, in
    /// seconds.
    #[arg(long, env = "WEIR_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
}

impl HttpArgs {
    /// The limits `server::run` enforces.
    pub fn limits(&self) -> crate::server::Limits {
        crate::server::Limits {
            max_connections: self.max_connections.max(1),
            header_read_timeout: Duration::from_secs(self.header_read_timeout.max(1)),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout.max(1)),
            shutdown_delay: if self.shutdown_delay.is_finite() && self.shutdown_delay > 0.0 {
                Duration::from_secs_f64(self.shutdown_delay.min(3600.0))
            } else {
                Duration::ZERO
            },
            shutdown_grace: Duration::from_secs(self.shutdown_timeout),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout.max(1))
    }
}

/// Settings shared by every process that serves models.
#[derive(Debug, Clone, Args)]
pub struct ServingArgs {
    /// Inference engine for ONNX models (scikit-learn, XGBoost and LightGBM models always run
    /// on Weir's native evaluator).
    #[arg(long, env = "WEIR_BACKEND", value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,

    /// Inference worker threads per model (each owns an ONNX session; native models share one
    /// read-only copy). 0 = one per CPU core.
    #[arg(long, env = "WEIR_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Requests that may wait for a worker before new ones are answered 503.
    #[arg(long, env = "WEIR_QUEUE_SIZE", default_value_t = 256)]
    pub queue_size: usize,

    /// How often to check whether the served alias or stage moved, in seconds (0 disables).
    #[arg(long, env = "WEIR_POLL_INTERVAL", default_value_t = 5.0)]
    pub poll_interval: f64,

    /// Directory where downloaded model versions are cached.
    #[arg(long, env = "WEIR_MODEL_CACHE", default_value = "./.weir-cache")]
    pub model_cache: PathBuf,

    /// Most rows one scoring request may carry; larger requests get 400.
    #[arg(long, env = "WEIR_MAX_ROWS", default_value_t = 100_000)]
    pub max_rows: usize,

    /// Adaptive batching: requests for one model waiting for a worker are merged into one
    /// inference call of at most this many rows, and the answer split back per request (for
    /// models whose first dimension is the batch; others run one request at a time). 1 turns
    /// batching off. MLServer's `max_batch_size`, Triton's `max_batch_size`.
    #[arg(long, env = "WEIR_MAX_BATCH_SIZE", default_value_t = 64)]
    pub max_batch_size: usize,

    /// How long, in microseconds, a batch may wait for more requests before it runs. 0 merges only
    /// requests already waiting, which adds no latency. MLServer's `max_batch_time`, Triton's
    /// `max_queue_delay_microseconds`.
    #[arg(long, env = "WEIR_MAX_BATCH_DELAY", default_value_t = 0)]
    pub max_batch_delay: u64,

    /// Also serve KServe's gRPC Open Inference Protocol (`inference.GRPCInferenceService`:
    /// ServerLive/Ready, ModelReady, ServerMetadata, ModelMetadata, ModelInfer) and the gRPC
    /// health service (`grpc.health.v1.Health`, SERVING once every model is loaded) on this port,
    /// on the same --host. Off unless set; KServe's convention is 8081. Messages are bounded by
    /// --max-body-bytes, calls by --request-timeout, connections by --max-connections.
    #[arg(long, env = "WEIR_GRPC_PORT")]
    pub grpc_port: Option<u16>,
}

#[derive(Debug, Clone, Args)]
#[command(args_override_self = true)]
pub struct ServeArgs {
    /// The model to serve: `models:/name@alias`, `models:/name/Production`, `models:/name/3`,
    /// `models:/name/latest`, `models:/m-<id>`, `runs:/<run_id>/<path>` or a local directory
    /// holding an MLmodel file. Repeat it (or separate with commas in WEIR_MODEL_URI) to serve
    /// several models in one process, each at `/models/<name>/invocations` and
    /// `/v2/models/<name>/...`; `-m NAME=URI` chooses a model's served name.
    #[arg(
        long = "model-uri",
        short = 'm',
        env = "WEIR_MODEL_URI",
        value_delimiter = ',',
        required = true
    )]
    pub model_uri: Vec<String>,

    /// The name a single model is served under in KServe's routes (`/v2/models/<name>/...`).
    /// Defaults to the registered model's name (`iris` for `models:/iris@champion`), else the
    /// directory's. With several models use `-m NAME=URI`.
    #[arg(long, env = "WEIR_MODEL_NAME")]
    pub model_name: Option<String>,

    /// Address to listen on. Use 0.0.0.0 inside a container.
    #[arg(long, env = "WEIR_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (KServe runs custom predictors with --port 8080).
    #[arg(long, short = 'p', env = "WEIR_PORT", default_value_t = 5000)]
    pub port: u16,

    /// A file holding a token the scoring routes require as `Authorization: Bearer <token>`
    /// (compared in constant time; the file's content, trimmed). Off by default: KServe and Istio
    /// usually guard scoring in front of Weir. Readiness (`/ping`, `/health`, `/v2/health/*`,
    /// `/v2/models/<name>/ready`), `/version` and `/metrics` stay open for probes and scrapers;
    /// the gRPC port (--grpc-port) checks the same token in its `authorization` metadata.
    #[arg(long, env = "WEIR_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,

    /// Tracking server that resolves `models:/` and `runs:/` URIs. Credentials come from
    /// MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD or the URI's `user:password@`,
    /// and are sent to this server's origin only.
    #[arg(
        long,
        env = "MLFLOW_TRACKING_URI",
        default_value = "http://127.0.0.1:5000"
    )]
    pub tracking_uri: SecretUri,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub serving: ServingArgs,
}

impl ServingArgs {
    /// The serving runtime's configuration from these flags (and the HTTP limits').
    pub fn serving_config(&self, http: &HttpArgs) -> crate::serving::ServingConfig {
        let workers = if self.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.workers
        };
        let poll_interval = (self.poll_interval.is_finite() && self.poll_interval > 0.0)
            .then(|| Duration::from_secs_f64(self.poll_interval.min(86_400.0)));
        crate::serving::ServingConfig {
            backend: self.backend,
            workers,
            queue_size: self.queue_size,
            poll_interval,
            model_cache: self.model_cache.clone(),
            max_rows: self.max_rows.max(1),
            request_timeout: http.request_timeout(),
            batching: crate::serving::pool::Batching {
                max_rows: self.max_batch_size.max(1),
                // At most a second: a longer wait is a misconfiguration, not batching.
                max_delay: Duration::from_micros(self.max_batch_delay.min(1_000_000)),
            },
        }
    }
}

/// Parse `host` and `port` into a socket address, accepting bracketed and bare IPv6 forms.
pub fn socket_addr(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve listen address {host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_never_shows_passwords() {
        let cli = Cli::parse_from([
            "weir",
            "server",
            "--backend-store-uri",
            "postgresql://u:hunter2@db/mlflow?password=hunter3",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        let cli = Cli::parse_from([
            "weir",
            "models",
            "serve",
            "-m",
            "models:/m@a",
            "--tracking-uri",
            "http://alice:hunter2@tracking:5000",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("alice:***@tracking"), "{shown}");
    }

    #[test]
    fn serve_artifacts_flags() {
        let cli = Cli::parse_from(["weir", "server"]);
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
        assert!(a.proxy_artifacts());
        let cli = Cli::parse_from(["weir", "server", "--no-serve-artifacts"]);
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
        assert!(!a.proxy_artifacts());
        let cli = Cli::parse_from(["weir", "server", "--serve-artifacts"]);
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
        assert!(a.proxy_artifacts());
    }
}
