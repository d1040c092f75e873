//! Prometheus metrics of the serving runtime, registered in the process-wide registry
//! ([`crate::telemetry::metrics`]) so `/metrics` shows them beside the HTTP metrics.
//!
//! Labels are the served model's name (from the command line, so bounded), its version, the
//! matched route and the status code.

use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

use crate::telemetry::LATENCY_BUCKETS;

pub struct ServingMetrics {
    /// Scoring requests answered, by route, model, version and status.
    pub requests: IntCounterVec,
    /// Scoring request latency (decode + queue + inference + encode), by route and model.
    pub request_seconds: HistogramVec,
    /// Time inside the inference engine, by model, version and backend.
    pub inference_seconds: HistogramVec,
    /// Time a request waited for a free worker, by model.
    pub queue_wait_seconds: HistogramVec,
    /// Requests waiting for a worker right now, by model.
    pub queue_depth: IntGaugeVec,
    /// Rows per inference call, by model.
    pub batch_rows: HistogramVec,
    /// Requests refused with 503 because the queue was full, by model.
    pub rejected: IntCounterVec,
    /// Time to resolve, download and load a version, by model and stage
    /// (`resolve`, `fetch`, `load`, `total`).
    pub load_seconds: HistogramVec,
    /// Failed attempts to resolve, download or load, by model and stage.
    pub load_failures: IntCounterVec,
    /// 1 for the version each model serves now (the series of a replaced version is removed).
    pub loaded_version: IntGaugeVec,
    /// 1 when the model answers requests, 0 while it is loading or failed.
    pub ready: IntGaugeVec,
    /// Successful hot swaps to a new version, by model.
    pub reloads: IntCounterVec,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn histogram(name: &str, help: &str, buckets: Vec<f64>, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric")
}

/// The serving metrics, registered on first use.
pub fn metrics() -> &'static ServingMetrics {
    static M: OnceLock<ServingMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let lat = LATENCY_BUCKETS.to_vec();
        let fine: Vec<f64> = [
            0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5,
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]
        .to_vec();
        let m = ServingMetrics {
            requests: counter(
                "weir_serving_requests_total",
                "Scoring requests answered, by route, model, version and status.",
                &["route", "model", "version", "status"],
            ),
            request_seconds: histogram(
                "weir_serving_request_duration_seconds",
                "Scoring request latency: decode, queue, inference and encode.",
                lat.clone(),
                &["route", "model"],
            ),
            inference_seconds: histogram(
                "weir_inference_duration_seconds",
                "Time spent in the inference engine per call.",
                fine.clone(),
                &["model", "version", "backend"],
            ),
            queue_wait_seconds: histogram(
                "weir_inference_queue_wait_seconds",
                "Time a request waited for an inference worker.",
                fine,
                &["model"],
            ),
            queue_depth: gauge(
                "weir_inference_queue_depth",
                "Requests waiting for an inference worker.",
                &["model"],
            ),
            batch_rows: histogram(
                "weir_inference_batch_rows",
                "Rows per inference call.",
                vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
                ],
                &["model"],
            ),
            rejected: counter(
                "weir_inference_rejected_total",
                "Requests answered 503 because the inference queue was full.",
                &["model"],
            ),
            load_seconds: histogram(
                "weir_model_load_duration_seconds",
                "Time to resolve, download and load a model version, by stage.",
                lat,
                &["model", "stage"],
            ),
            load_failures: counter(
                "weir_model_load_failures_total",
                "Failed attempts to resolve, download or load a model version, by stage.",
                &["model", "stage"],
            ),
            loaded_version: gauge(
                "weir_model_loaded_version",
                "1 for the version a model serves now.",
                &["model", "version"],
            ),
            ready: gauge(
                "weir_model_ready",
                "1 when the model answers requests.",
                &["model"],
            ),
            reloads: counter(
                "weir_model_reloads_total",
                "Hot swaps to a new model version.",
                &["model"],
            ),
        };
        let registry = &crate::telemetry::metrics().registry;
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.requests.clone()),
            Box::new(m.request_seconds.clone()),
            Box::new(m.inference_seconds.clone()),
            Box::new(m.queue_wait_seconds.clone()),
            Box::new(m.queue_depth.clone()),
            Box::new(m.batch_rows.clone()),
            Box::new(m.rejected.clone()),
            Box::new(m.load_seconds.clone()),
            Box::new(m.load_failures.clone()),
            Box::new(m.loaded_version.clone()),
            Box::new(m.ready.clone()),
            Box::new(m.reloads.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("register once");
        }
        m
    })
}
