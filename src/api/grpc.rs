//! KServe's gRPC Open Inference Protocol (`inference.GRPCInferenceService`, from
//! `proto/grpc_predict_v2.proto`) and the gRPC health checking protocol (`grpc.health.v1.Health`),
//! on `--grpc-port`.
//!
//! The service reads the same [`HttpState`] as the HTTP scoring routes: the same served models
//! (so a hot reload shows at once), the same `--request-timeout`, `--max-body-bytes` (as the
//! largest message) and admission limit, the same error texts and the same Prometheus series
//! (route `grpc:ModelInfer`, status the gRPC code's name). Inputs are matched to the model by
//! [`kserve::model_inputs`], the decoder HTTP's binary extension uses; every output is answered
//! in `raw_output_contents`, as Triton does and as `tritonclient`'s `as_numpy` reads.
//!
//! The listener ([`serve`]) is bounded like the HTTP one: at most `--max-connections` open at
//! once, the HTTP/2 preface due within `--header-read-timeout`, a keep-alive PING every
//! `--keep-alive-timeout` (a peer that does not answer is dropped), at most
//! [`MAX_STREAMS`] calls per connection, and `--shutdown-timeout` for in-flight calls when it
//! stops. An idle gRPC connection that answers PINGs stays open: gRPC clients keep one channel
//! for their lifetime, and the connection limit bounds how many there are.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::{Code, Request, Response, Status};

use super::serving::error::ScoreError;
use super::serving::kserve::{check_outputs, model_ready, v2_model, EXTENSIONS};
use super::serving::{deadline, off_executor, record, HttpState, UNKNOWN_MODEL};
use crate::serving::codec::{encode, kserve};
use crate::serving::tensor::{DType, Data, Value};
use crate::serving::{LoadedModel, Serving};

/// The code generated from `proto/grpc_predict_v2.proto` by `build.rs`: messages, the server
/// trait, and a client (generic over its channel) for the tests and the gRPC bench.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("inference");
}

use proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use proto::model_infer_response::InferOutputTensor;
use proto::model_metadata_response::TensorMetadata;
use proto::{infer_parameter::ParameterChoice, InferParameter, InferTensorContents};

/// The service name health checks ask about, besides the server's `""`.
pub const SERVICE_NAME: &str = "inference.GRPCInferenceService";

/// The route label of ModelInfer in `weir_serving_requests_total`.
const ROUTE: &str = "grpc:ModelInfer";

/// Most calls in flight on one connection (HTTP/2 `MAX_CONCURRENT_STREAMS`).
pub const MAX_STREAMS: u32 = 128;

/// Largest header block a client may send (gRPC's own default limit is 8 KiB).
const MAX_HEADER_LIST: u32 = 64 * 1024;

/// How long a keep-alive PING may go unanswered before the connection is dropped.
const PING_ACK_TIMEOUT: Duration = Duration::from_secs(20);

/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`: what a client must send first, within the header timeout.
const H2_PREFACE_LEN: usize = 24;

/// KServe's `GRPCInferenceService` over the served models.
pub struct Inference {
    scoring: HttpState,
}

impl Inference {
    pub fn new(scoring: HttpState) -> Inference {
        Inference { scoring }
    }
}

/// An empty proto3 string is "not given".
fn given(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// `weir_serving_requests_total`'s status label for a gRPC code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn tensor_metadata(specs: &[crate::serving::tensor::Spec]) -> Vec<TensorMetadata> {
    specs
        .iter()
        .map(|s| {
            let (datatype, shape) = s.kserve();
            TensorMetadata {
                name: s.name.clone(),
                datatype: datatype.to_owned(),
                shape,
            }
        })
        .collect()
}

#[tonic::async_trait]
impl GrpcInferenceService for Inference {
    async fn server_live(
        &self,
        _: Request<proto::ServerLiveRequest>,
    ) -> Result<Response<proto::ServerLiveResponse>, Status> {
        Ok(Response::new(proto::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<proto::ServerReadyRequest>,
    ) -> Result<Response<proto::ServerReadyResponse>, Status> {
        Ok(Response::new(proto::ServerReadyResponse {
            ready: self.scoring.serving.all_ready(),
        }))
    }

    async fn model_ready(
        &self,
        req: Request<proto::ModelReadyRequest>,
    ) -> Result<Response<proto::ModelReadyResponse>, Status> {
        let r = req.get_ref();
        let ready =
            model_ready(&self.scoring, &r.name, given(&r.version)).map_err(ScoreError::grpc)?;
        Ok(Response::new(proto::ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<proto::ServerMetadataRequest>,
    ) -> Result<Response<proto::ServerMetadataResponse>, Status> {
        Ok(Response::new(proto::ServerMetadataResponse {
            name: "weir".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        req: Request<proto::ModelMetadataRequest>,
    ) -> Result<Response<proto::ModelMetadataResponse>, Status> {
        let r = req.get_ref();
        let (_, m) =
            v2_model(&self.scoring, &r.name, given(&r.version)).map_err(ScoreError::grpc)?;
        Ok(Response::new(proto::ModelMetadataResponse {
            name: m.name.clone(),
            versions: vec![m.version.clone()],
            platform: m.backend.platform().into(),
            inputs: tensor_metadata(&m.schema.inputs),
            outputs: tensor_metadata(&m.outputs),
        }))
    }

    async fn model_infer(
        &self,
        req: Request<proto::ModelInferRequest>,
    ) -> Result<Response<proto::ModelInferResponse>, Status> {
        let started = Instant::now();
        let req = req.into_inner();
        let h = &self.scoring;
        let (served, model) = match v2_model(h, &req.model_name, given(&req.model_version)) {
            Ok(x) => x,
            Err(e) => {
                // Only served names become metric labels.
                let label = h
                    .serving
                    .find(&req.model_name)
                    .map_or(UNKNOWN_MODEL, |m| m.name.as_str());
                let status = e.grpc();
                record(ROUTE, label, None, started, code_name(status.code()));
                return Err(status);
            }
        };
        let result = deadline(h, infer(&model, req))
            .await
            .map_err(ScoreError::grpc);
        let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
        record(
            ROUTE,
            &served.name,
            Some(&model.version),
            started,
            code_name(code),
        );
        result.map(Response::new)
    }
}

/// ModelInfer on a loaded model: admit, decode, run, encode.
async fn infer(
    model: &Arc<LoadedModel>,
    req: proto::ModelInferRequest,
) -> Result<proto::ModelInferResponse, ScoreError> {
    let permit = model.admit()?;
    let wanted: Option<Vec<String>> =
        (!req.outputs.is_empty()).then(|| req.outputs.iter().map(|o| o.name.clone()).collect());
    if let Some(w) = &wanted {
        check_outputs(model, w)?;
    }
    let id = req.id.clone();
    let size = request_size(&req);
    let inputs = off_executor(size, model, move |schema| decode(req, schema)).await?;
    let values = model.infer(permit, inputs).await?;
    let mut resp = proto::ModelInferResponse {
        model_name: model.name.clone(),
        model_version: model.version.clone(),
        id,
        ..Default::default()
    };
    for (spec, value) in model.outputs.iter().zip(&values) {
        if wanted.as_ref().is_some_and(|w| !w.contains(&spec.name)) {
            continue;
        }
        let (tensor, raw) = encode_output(&spec.name, value);
        resp.outputs.push(tensor);
        resp.raw_output_contents.push(raw);
    }
    Ok(resp)
}

/// Roughly how many bytes of tensor data a request carries (to decide where to decode it).
fn request_size(req: &proto::ModelInferRequest) -> usize {
    let raw: usize = req.raw_input_contents.iter().map(Vec::len).sum();
    let typed: usize = req
        .inputs
        .iter()
        .filter_map(|i| i.contents.as_ref())
        .map(|c| {
            c.bool_contents.len()
                + 4 * (c.int_contents.len() + c.uint_contents.len() + c.fp32_contents.len())
                + 8 * (c.int64_contents.len() + c.uint64_contents.len() + c.fp64_contents.len())
                + c.bytes_contents.iter().map(|b| b.len() + 4).sum::<usize>()
        })
        .sum();
    raw + typed
}

fn bad(msg: String) -> crate::serving::codec::DecodeError {
    crate::serving::codec::DecodeError::BadRequest(msg)
}

/// The request's tensors, matched to the model's inputs by the shared V2 matcher: raw contents
/// as the binary extension's bytes, typed contents as the datatype's elements (moved, not copied).
fn decode(
    mut req: proto::ModelInferRequest,
    schema: &crate::serving::codec::Schema,
) -> Result<Vec<crate::serving::tensor::Tensor>, crate::serving::codec::DecodeError> {
    let raw = &req.raw_input_contents;
    if !raw.is_empty() && raw.len() != req.inputs.len() {
        return Err(bad(format!(
            "raw_input_contents has {} entries for {} inputs: give one per input, in order",
            raw.len(),
            req.inputs.len()
        )));
    }
    let typed_contents: Vec<_> = req.inputs.iter_mut().map(|i| i.contents.take()).collect();
    let mut wire = Vec::with_capacity(req.inputs.len());
    for ((input, contents), i) in req.inputs.iter().zip(typed_contents).zip(0..) {
        let content = match (req.raw_input_contents.get(i), contents) {
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "input '{}' has both contents and raw_input_contents: send one",
                    input.name
                )))
            }
            (Some(bytes), None) => kserve::Content::Raw(bytes),
            (None, Some(c)) => kserve::Content::Typed(typed(&input.name, &input.datatype, c)?),
            (None, None) => {
                return Err(bad(format!(
                    "input '{}' has no data: set its contents or raw_input_contents",
                    input.name
                )))
            }
        };
        wire.push(kserve::WireInput {
            name: &input.name,
            datatype: given(&input.datatype),
            shape: input.shape.clone(),
            content,
        });
    }
    kserve::model_inputs(wire, schema)
}

/// Typed contents as the elements of `datatype` (the one field the protocol gives that type);
/// INT8, INT16, UINT8 and UINT16 travel widened to 32 bits and are range-checked here.
fn typed(
    name: &str,
    datatype: &str,
    c: InferTensorContents,
) -> Result<Data, crate::serving::codec::DecodeError> {
    fn narrow<S: Copy, T: TryFrom<S>>(
        v: Vec<S>,
        name: &str,
        datatype: &str,
    ) -> Result<Vec<T>, crate::serving::codec::DecodeError> {
        v.into_iter()
            .map(T::try_from)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                bad(format!(
                    "input '{name}': a value is out of range for {datatype}"
                ))
            })
    }
    let dtype = DType::from_kserve(datatype).ok_or_else(|| match datatype {
        "" => bad(format!("input '{name}' needs a datatype")),
        "FP16" | "BF16" => bad(format!(
            "input '{name}': {datatype} has no typed contents; send it in raw_input_contents"
        )),
        _ => bad(format!("input '{name}': unsupported datatype '{datatype}'")),
    })?;
    Ok(match dtype {
        DType::Bool => Data::Bool(c.bool_contents),
        DType::I8 => Data::I8(narrow(c.int_contents, name, datatype)?),
        DType::I16 => Data::I16(narrow(c.int_contents, name, datatype)?),
        DType::I32 => Data::I32(c.int_contents),
        DType::I64 => Data::I64(c.int64_contents),
        DType::U8 => Data::U8(narrow(c.uint_contents, name, datatype)?),
        DType::U16 => Data::U16(narrow(c.uint_contents, name, datatype)?),
        DType::U32 => Data::U32(c.uint_contents),
        DType::U64 => Data::U64(c.uint64_contents),
        DType::F32 => Data::F32(c.fp32_contents),
        DType::F64 => Data::F64(c.fp64_contents),
        DType::Str => Data::Str(
            c.bytes_contents
                .into_iter()
                .map(String::from_utf8)
                .collect::<Result<_, _>>()
                .map_err(|_| bad(format!("input '{name}': BYTES elements must be UTF-8")))?,
        ),
    })
}

/// One output as its tensor description and raw bytes. A ZipMap goes as its FP32
/// `[rows, classes]` probability matrix, the class labels (a JSON list) in `parameters["classes"]`.
fn encode_output(name: &str, value: &Value) -> (InferOutputTensor, Vec<u8>) {
    let mut raw = Vec::new();
    encode::encode_value_raw(value, &mut raw);
    let out = match value {
        Value::Tensor(t) => InferOutputTensor {
            name: name.to_owned(),
            datatype: t.dtype().kserve_name().to_owned(),
            shape: t.shape.iter().map(|&d| d as i64).collect(),
            ..Default::default()
        },
        Value::ZipMap(z) => {
            let mut classes = Vec::new();
            encode::write_class_list(&z.keys, &mut classes);
            let classes = InferParameter {
                parameter_choice: Some(ParameterChoice::StringParam(
                    String::from_utf8_lossy(&classes).into_owned(),
                )),
            };
            InferOutputTensor {
                name: name.to_owned(),
                datatype: DType::F32.kserve_name().to_owned(),
                shape: vec![z.rows() as i64, z.keys.len() as i64],
                parameters: HashMap::from([("classes".to_owned(), classes)]),
                contents: None,
            }
        }
    };
    (out, raw)
}

// ---- the listener ----

/// An accepted connection, holding its place in the connection limit until it closes. Until the
/// client has sent the HTTP/2 preface, reads fail once the handshake deadline passes.
struct Conn {
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
    /// Running until the preface is in; `None` after.
    handshake: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Preface bytes still to come.
    preface_left: usize,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(deadline) = self.handshake.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the HTTP/2 preface did not arrive in time",
                )));
            }
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if self.handshake.is_some() && matches!(r, Poll::Ready(Ok(()))) {
            let got = buf.filled().len() - before;
            self.preface_left = self.preface_left.saturating_sub(got);
            if self.preface_left == 0 {
                self.handshake = None;
            }
        }
        r
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

/// Accepted connections, at most `max` open at once (further clients wait in the backlog).
fn incoming(
    listener: TcpListener,
    max: usize,
    handshake: Duration,
) -> impl futures::Stream<Item = std::io::Result<Conn>> {
    let places = Arc::new(Semaphore::new(max.max(1)));
    futures::stream::unfold((listener, places), move |(listener, places)| async move {
        let place = places.clone().acquire_owned().await.ok()?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = Conn {
                        stream,
                        _place: place,
                        handshake: Some(Box::pin(tokio::time::sleep(handshake))),
                        preface_left: H2_PREFACE_LEN,
                    };
                    return Some((Ok(conn), (listener, places)));
                }
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: pause, go on.
                    tracing::warn!("gRPC accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// Keep the health service's answer in step with readiness: NOT_SERVING until every model is
/// loaded, SERVING then, NOT_SERVING again from the start of shutdown. When the server stops,
/// the statuses are removed, which ends open `Watch` calls (else they would hold the drain).
async fn follow_readiness(
    mut reporter: tonic_health::server::HealthReporter,
    serving: Arc<Serving>,
    stop: CancellationToken,
) {
    use tonic_health::ServingStatus;
    let mut shutdown = serving.shutdown_watch();
    let mut versions: Vec<_> = serving.models.iter().map(|m| m.versions()).collect();
    loop {
        // Mark what is seen before looking, so a change after the look wakes the wait below.
        shutdown.borrow_and_update();
        for v in &mut versions {
            v.borrow_and_update();
        }
        let status = if serving.all_ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in ["", SERVICE_NAME] {
            reporter.set_service_status(name, status).await;
        }
        if serving.is_shutting_down() {
            break;
        }
        let load = async {
            if versions.is_empty() {
                std::future::pending::<()>().await;
            }
            let changes = versions.iter_mut().map(|v| Box::pin(v.changed()));
            let _ = futures::future::select_all(changes).await;
        };
        tokio::select! {
            _ = shutdown.changed() => {}
            () = load => {}
            () = stop.cancelled() => break,
        }
    }
    stop.cancelled().await;
    for name in ["", SERVICE_NAME] {
        reporter.clear_service_status(name).await;
    }
}

/// Serve KServe's gRPC service and the health service on `listener` until `stop` is cancelled,
/// then give in-flight calls `limits.shutdown_grace` to finish.
pub async fn serve(
    listener: TcpListener,
    scoring: HttpState,
    limits: crate::server::Limits,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    // Not serving until the readiness task has looked.
    for name in ["", SERVICE_NAME] {
        reporter
            .set_service_status(name, tonic_health::ServingStatus::NotServing)
            .await;
    }
    let follow = follow_readiness(reporter, scoring.serving.clone(), stop.clone());
    let inference = GrpcInferenceServiceServer::new(Inference::new(scoring.clone()))
        .max_decoding_message_size(scoring.max_body);
    // With --auth-token-file, inference calls need the token; health checks stay open.
    let inference = tonic::service::interceptor::InterceptedService::new(
        inference,
        crate::api::serving::token::GrpcCheck(scoring.token.clone()),
    );
    let server = tonic::transport::Server::builder()
        .max_concurrent_streams(MAX_STREAMS)
        .http2_keepalive_interval(Some(limits.keep_alive_timeout))
        .http2_keepalive_timeout(Some(PING_ACK_TIMEOUT))
        .http2_max_header_list_size(MAX_HEADER_LIST)
        .add_service(health)
        .add_service(inference)
        .serve_with_incoming_shutdown(
            incoming(listener, limits.max_connections, limits.header_read_timeout),
            stop.clone().cancelled_owned(),
        );
    let grace = async {
        stop.cancelled().await;
        tokio::time::sleep(limits.shutdown_grace).await;
    };
    tokio::select! {
        r = server => r?,
        () = grace => tracing::warn!(
            "in-flight gRPC calls did not finish within {:?}; exiting anyway",
            limits.shutdown_grace
        ),
        // Once shutdown began the health task is done; the server goes on draining.
        () = async { follow.await; std::future::pending::<()>().await } => {}
    }
    tracing::info!("gRPC stopped");
    Ok(())
}
