//! MLflow's scoring protocol: `POST /invocations` (JSON or CSV), one model or several
//! (`/models/<name>/invocations`).

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use std::time::Instant;

use super::error::{json_response, unknown_model, ScoreError};
use super::{admit_decode_infer, current, deadline, finish, read_body, HttpState};
use crate::serving::codec::{self as decode, encode};
use crate::serving::ServedModel;

enum Format {
    Json,
    Csv,
}

fn format_of(headers: &HeaderMap) -> Result<Format, ScoreError> {
    const SUPPORTED: &str = "This predictor only supports the following content types: Types: ['text/csv', 'application/json'].";
    let Some(raw) = headers.get(header::CONTENT_TYPE) else {
        return Err(ScoreError::UnsupportedType(format!(
            "{SUPPORTED} Got no Content-Type header."
        )));
    };
    let raw = raw.to_str().unwrap_or("");
    let mime = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Format::Json),
        "text/csv" => Ok(Format::Csv),
        "application/vnd.apache.parquet" => Err(ScoreError::UnsupportedType(format!(
            "{SUPPORTED} Got '{mime}': Weir does not read Parquet; send JSON or CSV."
        ))),
        _ => Err(ScoreError::UnsupportedType(format!(
            "{SUPPORTED} Got '{mime}'."
        ))),
    }
}

/// `POST /invocations` on one served model.
pub(super) async fn score(
    h: &HttpState,
    served: &ServedModel,
    route: &str,
    req: Request,
) -> Response {
    let started = Instant::now();
    let model = match current(served) {
        Ok(m) => m,
        Err(e) => return finish(route, &served.name, None, started, e.mlflow()),
    };
    let result = deadline(h, async {
        let format = format_of(req.headers())?;
        let bytes = read_body(req, h.max_body).await?;
        let decoder = match format {
            Format::Json => decode::decode_json,
            Format::Csv => decode::decode_csv,
        };
        let outputs = admit_decode_infer(&model, bytes, decoder).await?;
        Ok::<_, ScoreError>(
            match (model.backend.answers_one_array(), outputs.as_slice()) {
                (true, [only]) => encode::mlflow_array(only),
                _ => encode::mlflow_predictions(&model.outputs, &outputs),
            },
        )
    })
    .await;
    let resp = match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.mlflow(),
    };
    finish(route, &model.name, Some(&model.version), started, resp)
}

pub(super) async fn invocations(State(h): State<HttpState>, req: Request) -> Response {
    match h.serving.models.as_slice() {
        [one] => score(&h, one, "/invocations", req).await,
        many => {
            let paths: Vec<String> = many
                .iter()
                .map(|m| format!("/models/{}/invocations", m.name))
                .collect();
            ScoreError::BadRequest(format!(
                "This server serves several models; POST to one of {}",
                paths.join(", ")
            ))
            .mlflow()
        }
    }
}

pub(super) async fn named_invocations(
    State(h): State<HttpState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    match h.serving.find(&name) {
        Some(m) => score(&h, m, "/models/{name}/invocations", req).await,
        None => unknown_model(&name).mlflow(),
    }
}
