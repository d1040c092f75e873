//! The inference worker pool: dedicated OS threads that own the engine's runners, fed over a
//! channel, answering on a oneshot. The async side never runs inference.
//!
//! Admission is bounded: at most `workers + queue` requests are in the pool at once (running or
//! waiting); beyond that [`Pool::infer`] answers [`InferError::Saturated`] at once (503) instead
//! of queueing without limit. Dropping the pool closes the channel; each worker finishes the job
//! it has and exits, dropping its runner (the old model goes away with its last request).
//!
//! Adaptive batching ([`Batching`]): a worker that takes a job also takes the jobs waiting behind
//! it (up to `max_rows` rows, waiting up to `max_delay` for more), concatenates their inputs along
//! the first axis, runs the engine once and splits every output back by rows. Jobs that cannot
//! be merged (other shapes or types), a batch whose outputs do not have one row per input row,
//! and a batch the engine refuses are run one by one instead, so a bad request fails alone.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use prometheus::{Histogram, IntGauge};
use tokio::sync::oneshot;

use super::backend::Runner;
use super::batch;
use super::tensor::{Tensor, Value};

/// How long an idle worker polls for the next job before sleeping. Under load the next request
/// arrives within microseconds: taking it without a futex sleep and wake saves two context
/// switches per request, which is most of the hand-off's cost. Polling yields the CPU, so it
/// costs little when other threads want it. Measured on 2 cores: 250 us doubled one-connection
/// throughput (its request cycle is ~70 us, longer than 50) but raised the 32-connection p99
/// from ~2.4 ms to ~110 ms (the polling workers crowd out the executor), so it stays at 50.
const POLL_BEFORE_SLEEP: std::time::Duration = std::time::Duration::from_micros(50);

/// Adaptive batching settings (`--max-batch-size`, `--max-batch-delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Most rows merged into one engine call; 1 turns batching off.
    pub max_rows: usize,
    /// How long the first job of a batch may wait for more to arrive (zero: merge only what is
    /// already waiting, which costs no latency).
    pub max_delay: std::time::Duration,
}

impl Batching {
    pub const OFF: Batching = Batching {
        max_rows: 1,
        max_delay: std::time::Duration::ZERO,
    };
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_rows: 64,
            max_delay: std::time::Duration::ZERO,
        }
    }
}

/// The jobs waiting behind `first` that fit in one batch.
fn gather(rx: &mpsc::Receiver<Job>, first: Job, batching: Batching) -> Vec<Job> {
    let mut rows = first.rows();
    let mut jobs = vec![first];
    if batching.max_rows <= 1 || rows >= batching.max_rows {
        return jobs;
    }
    let deadline = Instant::now() + batching.max_delay;
    while rows < batching.max_rows {
        let next = match rx.try_recv() {
            Ok(job) => job,
            Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(job) => job,
                    Err(_) => break,
                }
            }
        };
        rows += next.rows();
        jobs.push(next);
    }
    jobs
}

fn next_job(rx: &mpsc::Receiver<Job>) -> Option<Job> {
    let until = Instant::now() + POLL_BEFORE_SLEEP;
    loop {
        match rx.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if Instant::now() < until => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

/// Why a request got no prediction.
#[derive(Debug, Clone, PartialEq)]
pub enum InferError {
    /// Every worker is busy and the queue is full.
    Saturated,
    /// The engine refused or failed on the input.
    Failed(String),
    /// The pool is shutting down.
    Closed,
}

struct Job {
    inputs: Vec<Tensor>,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Vec<Value>, String>>,
    /// The request's place in the admission limit, freed when the job is done or dropped.
    _permit: Permit,
}

impl Job {
    fn rows(&self) -> usize {
        self.inputs.first().map_or(1, Tensor::rows)
    }
}

/// Run the engine, a panic becoming an error.
fn run_once(runner: &mut dyn Runner, inputs: Vec<Tensor>) -> Result<Vec<Value>, String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| runner.run(inputs)))
        .unwrap_or_else(|_| Err("the inference engine panicked".to_owned()))
}

/// Run `jobs` (none abandoned) as one engine call when they can be merged, else one by one;
/// answer each.
fn run_jobs(runner: &mut dyn Runner, jobs: Vec<Job>, m: &PoolMetrics) {
    if jobs.len() > 1 {
        if let Some(merged) = batch::concat(jobs.iter().map(|j| j.inputs.as_slice())) {
            let rows: Vec<usize> = jobs.iter().map(Job::rows).collect();
            let total: usize = rows.iter().sum();
            m.batch_rows.observe(total as f64);
            let started = Instant::now();
            let result = run_once(runner, merged);
            m.inference.observe(started.elapsed().as_secs_f64());
            if let Some(parts) = result.ok().and_then(|out| batch::split(out, &rows)) {
                for (job, part) in jobs.into_iter().zip(parts) {
                    let _ = job.reply.send(Ok(part));
                }
                return;
            }
            // Not splittable by rows, or refused as a whole: each request on its own.
        }
    }
    for job in jobs {
        m.batch_rows.observe(job.rows() as f64);
        let started = Instant::now();
        let result = run_once(runner, job.inputs);
        m.inference.observe(started.elapsed().as_secs_f64());
        let _ = job.reply.send(result);
    }
}

/// A request's place in the admission limit (running or waiting, decoding included). Dropping
/// it frees the place, also when the client went away mid-request.
pub struct Permit {
    admitted: Arc<AtomicUsize>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Metric handles a pool reports to (labels resolved once, at load).
#[derive(Clone)]
pub struct PoolMetrics {
    pub inference: Histogram,
    pub queue_wait: Histogram,
    pub queue_depth: IntGauge,
    pub batch_rows: Histogram,
}

pub struct Pool {
    tx: mpsc::Sender<Job>,
    /// Requests admitted and not finished (running or waiting).
    admitted: Arc<AtomicUsize>,
    capacity: usize,
    workers: usize,
    metrics: PoolMetrics,
}

impl Pool {
    /// Start one thread per runner. `queue` is how many requests may wait beyond those running.
    pub fn start(
        label: &str,
        runners: Vec<Box<dyn Runner>>,
        queue: usize,
        batching: Batching,
        metrics: PoolMetrics,
    ) -> std::io::Result<Pool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let admitted = Arc::new(AtomicUsize::new(0));
        let workers = runners.len();
        for (i, mut runner) in runners.into_iter().enumerate() {
            let rx = rx.clone();
            let m = metrics.clone();
            std::thread::Builder::new()
                .name(format!("weir-infer-{i}"))
                .spawn(move || loop {
                    // Hold the lock only while waiting and gathering; one idle worker waits on
                    // the channel, the others on the lock.
                    let jobs = {
                        let Ok(guard) = rx.lock() else { break };
                        match next_job(&guard) {
                            Some(job) => gather(&guard, job, batching),
                            None => break,
                        }
                    };
                    let now = Instant::now();
                    let mut live = Vec::with_capacity(jobs.len());
                    for job in jobs {
                        m.queue_depth.dec();
                        // A client that left while this waited: skip its work.
                        if !job.reply.is_closed() {
                            m.queue_wait
                                .observe(now.duration_since(job.enqueued).as_secs_f64());
                            live.push(job);
                        }
                    }
                    run_jobs(runner.as_mut(), live, &m);
                })?;
        }
        tracing::debug!(model = label, workers, queue, "inference workers started");
        Ok(Pool {
            tx,
            admitted,
            capacity: workers + queue,
            workers,
            metrics,
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Requests in the pool now (running or waiting).
    pub fn in_flight(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Take a place in the admission limit, or `Saturated` at once when every place is taken.
    pub fn admit(&self) -> Result<Permit, InferError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let permit = Permit {
            admitted: self.admitted.clone(),
        };
        if before >= self.capacity {
            return Err(InferError::Saturated);
        }
        Ok(permit)
    }

    /// Run a batch on the next free worker. If the caller stops waiting (its future is dropped),
    /// a job still in the queue is skipped.
    pub async fn infer(
        &self,
        permit: Permit,
        inputs: Vec<Tensor>,
    ) -> Result<Vec<Value>, InferError> {
        let (reply, rx) = oneshot::channel();
        self.metrics.queue_depth.inc();
        let job = Job {
            inputs,
            enqueued: Instant::now(),
            reply,
            _permit: permit,
        };
        if self.tx.send(job).is_err() {
            self.metrics.queue_depth.dec();
            return Err(InferError::Closed);
        }
        match rx.await {
            Ok(Ok(outputs)) => Ok(outputs),
            Ok(Err(e)) => Err(InferError::Failed(e)),
            Err(_) => Err(InferError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::tensor::Data;
    use std::time::Duration;

    /// Echoes its input after a delay.
    struct Slow(Duration);
    impl Runner for Slow {
        fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Value>, String> {
            std::thread::sleep(self.0);
            if inputs.is_empty() {
                panic!("boom");
            }
            Ok(inputs.into_iter().map(Value::Tensor).collect())
        }
    }

    fn metrics() -> PoolMetrics {
        let h = || Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap();
        PoolMetrics {
            inference: h(),
            queue_wait: h(),
            queue_depth: IntGauge::new("g", "g").unwrap(),
            batch_rows: h(),
        }
    }

    fn one() -> Vec<Tensor> {
        vec![Tensor::new(vec![1], Data::F32(vec![1.0]))]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saturation_answers_at_once_and_panics_are_contained() {
        let runners: Vec<Box<dyn Runner>> = vec![Box::new(Slow(Duration::from_millis(300)))];
        let pool = Arc::new(Pool::start("t", runners, 1, Batching::OFF, metrics()).unwrap());
        let run = |p: Arc<Pool>| async move {
            let permit = p.admit()?;
            p.infer(permit, one()).await
        };
        let a = tokio::spawn(run(pool.clone()));
        let b = tokio::spawn(run(pool.clone()));
        // Waits for both to be admitted (no fixed sleep: a loaded machine schedules late).
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.in_flight() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(pool.in_flight(), 2);
        let t = Instant::now();
        assert!(matches!(pool.admit(), Err(InferError::Saturated)));
        // At once: well under the 300 ms the engine takes.
        assert!(t.elapsed() < Duration::from_millis(250));
        assert!(a.await.unwrap().is_ok());
        assert!(b.await.unwrap().is_ok());
        assert_eq!(pool.in_flight(), 0);
        // A panicking engine fails the request, not the worker.
        let permit = pool.admit().unwrap();
        assert!(matches!(
            pool.infer(permit, vec![]).await,
            Err(InferError::Failed(_))
        ));
        assert!(run(pool.clone()).await.is_ok());
        // A caller that stops waiting frees its place, and its queued job is skipped.
        let busy = tokio::spawn(run(pool.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let abandoned = tokio::spawn(run(pool.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        abandoned.abort();
        let _ = abandoned.await;
        assert!(busy.await.unwrap().is_ok());
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(pool.in_flight(), 0);
    }
}
