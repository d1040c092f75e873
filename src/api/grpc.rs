//! KServe's gRPC Open Inference Protocol (`inference.GRPCInferenceService`, from
//! `proto/grpc_predict_v2.proto`).

/// The code generated from `proto/grpc_predict_v2.proto` by `build.rs`: messages, the server
/// trait, and a client (generic over its channel) for the tests and the gRPC bench.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("inference");
}
