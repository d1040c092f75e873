//! The one table of what each route needs, as MLflow 3.17's basic-auth app decides it: the
//! resource a request touches (named by a request parameter or the path) and the permission it
//! needs there. Pure: [`rule`] maps a method and path to a [`Rule`]; the middleware does the rest.
//! Routes not listed under the API prefixes fail closed (admins only).

use super::Need;
use axum::http::Method;

/// Which request parameter names a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    ExperimentId,
    ExperimentName,
    /// `run_id`, else `run_uuid`.
    RunId,
    /// A registered model's `name`.
    ModelName,
    /// The logged model id in the path (`/logged-models/<id>/...`).
    LoggedModelInPath,
    /// The artifact proxy path: its first segment is the experiment id.
    ArtifactPath,
    /// Every `run_id` / `run_ids` value (bulk metric reads).
    RunIds,
    /// Every id in `experiment_ids` (searches that name their experiments).
    ExperimentIds,
    /// `model_uri` of the resolver (`models:/<name>...` or `runs:/<run_id>/...`).
    ModelUri,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No credentials (health, static assets, server-info).
    Open,
    /// Any signed-in user; results of searches are filtered afterwards.
    SignedIn,
    /// Admins only.
    Admin,
    /// An admin, or the user named by the `username` parameter.
    SelfOrAdmin,
    /// `need` on the resource `param` names.
    On(Param, Need),
    /// MANAGE on the resource a grant names (`experiment_id` or `name`, or
    /// `resource_type` + `resource_id`).
    ManageGrantTarget,
}

/// After a successful request: what the auth layer adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// The creator gets MANAGE on the new experiment (`experiment_id` in the answer).
    GrantExperiment,
    /// The creator gets MANAGE on the new registered model (`registered_model.name`).
    GrantModel,
    /// Keep only readable entries of this answer list (`experiments`, `registered_models`,
    /// `model_versions`).
    FilterExperiments,
    FilterModels,
    FilterVersions,
    /// `models` of a logged-model search, by `info.experiment_id`.
    FilterLoggedModels,
}

impl After {
    /// The resources a search answer is filtered to, for the filtering follow-ups.
    pub fn filters(self) -> Option<crate::store::auth::Grantable> {
        use crate::store::auth::Grantable;
        match self {
            After::FilterExperiments | After::FilterLoggedModels => Some(Grantable::Experiment),
            After::FilterModels | After::FilterVersions => Some(Grantable::RegisteredModel),
            _ => None,
        }
    }
}

const API_PREFIXES: &[&str] = &[
    "/api/2.0/mlflow/",
    "/ajax-api/2.0/mlflow/",
    "/api/3.0/mlflow/",
    "/ajax-api/3.0/mlflow/",
];
const ARTIFACT_PREFIXES: &[&str] = &[
    "/api/2.0/mlflow-artifacts/",
    "/ajax-api/2.0/mlflow-artifacts/",
];
const WEIR_PREFIXES: &[&str] = &["/api/2.0/weir/", "/ajax-api/2.0/weir/"];

fn tail<'a>(path: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| path.strip_prefix(p))
}

/// The rule and the follow-up for `method path`.
pub fn rule(method: &Method, path: &str, public_metrics: bool) -> (Rule, After) {
    use Need::*;
    use Param::*;
    use Rule::*;
    let m = method;
    let signed_in = (SignedIn, After::Nothing);
    let on = |p, n| (On(p, n), After::Nothing);
    if path == "/health"
        || path.starts_with("/static/")
        || path == "/favicon.ico"
        || path == "/api/3.0/mlflow/server-info"
        || path == "/ajax-api/3.0/mlflow/server-info"
    {
        return (Open, After::Nothing);
    }
    if path == "/metrics" {
        return if public_metrics {
            (Open, After::Nothing)
        } else {
            signed_in
        };
    }
    if let Some(t) = tail(path, API_PREFIXES) {
        if let Some(id_rest) = t.strip_prefix("logged-models/") {
            if id_rest == "search" {
                // As MLflow 3.17: the models of unreadable experiments are left out.
                return (SignedIn, After::FilterLoggedModels);
            }
            let need = match (m, id_rest.split_once('/').map(|(_, r)| r)) {
                (&Method::GET, _) => Read,
                (&Method::DELETE, None) => Delete,
                _ => Update,
            };
            return on(LoggedModelInPath, need);
        }
        return match t {
            "experiments/create" => (SignedIn, After::GrantExperiment),
            "experiments/get" => on(ExperimentId, Read),
            "experiments/get-by-name" => on(ExperimentName, Read),
            "experiments/search" => (SignedIn, After::FilterExperiments),
            "experiments/update"
            | "experiments/set-experiment-tag"
            | "experiments/delete-experiment-tag" => on(ExperimentId, Update),
            "experiments/delete" | "experiments/restore" => on(ExperimentId, Delete),
            "runs/create" => on(ExperimentId, Update),
            "runs/get" | "metrics/get-history" | "artifacts/list" => on(RunId, Read),
            "runs/update" | "runs/log-parameter" | "runs/log-metric" | "runs/set-tag"
            | "runs/delete-tag" | "runs/log-batch" | "runs/log-inputs" | "runs/outputs"
            | "runs/log-model" | "upload-artifact" => on(RunId, Update),
            "runs/delete" | "runs/restore" => on(RunId, Delete),
            "runs/search" => on(ExperimentIds, Read),
            "metrics/get-history-bulk" | "metrics/get-history-bulk-interval" => on(RunIds, Read),
            "registered-models/create" => (SignedIn, After::GrantModel),
            "registered-models/get" | "registered-models/get-latest-versions" => {
                on(ModelName, Read)
            }
            "registered-models/update"
            | "registered-models/rename"
            | "registered-models/set-tag"
            | "registered-models/delete-tag" => on(ModelName, Update),
            "registered-models/delete" => on(ModelName, Delete),
            "registered-models/search" => (SignedIn, After::FilterModels),
            "registered-models/alias" => match *m {
                Method::GET => on(ModelName, Read),
                Method::DELETE => on(ModelName, Delete),
                _ => on(ModelName, Update),
            },
            "model-versions/create"
            | "model-versions/update"
            | "model-versions/transition-stage"
            | "model-versions/set-tag" => on(ModelName, Update),
            "model-versions/get" | "model-versions/get-download-uri" => on(ModelName, Read),
            "model-versions/delete" | "model-versions/delete-tag" => on(ModelName, Delete),
            "model-versions/search" => (SignedIn, After::FilterVersions),
            // The auth app's own API.
            "users/create" | "users/list" | "users/update-admin" | "users/delete" => {
                (Admin, After::Nothing)
            }
            "users/get" | "users/update-password" | "users/permissions/get" => {
                (SelfOrAdmin, After::Nothing)
            }
            "users/current" => signed_in,
            "users/permissions/grant"
            | "users/permissions/revoke"
            | "experiments/permissions/create"
            | "experiments/permissions/get"
            | "experiments/permissions/update"
            | "experiments/permissions/delete"
            | "registered-models/permissions/create"
            | "registered-models/permissions/get"
            | "registered-models/permissions/update"
            | "registered-models/permissions/delete" => (ManageGrantTarget, After::Nothing),
            // Webhooks reach out of the cluster: admins only, as in MLflow.
            t if t == "webhooks" || t.starts_with("webhooks/") => (Admin, After::Nothing),
            _ => (Admin, After::Nothing),
        };
    }
    if let Some(t) = tail(path, ARTIFACT_PREFIXES) {
        let need = match *m {
            Method::GET | Method::HEAD => Read,
            Method::DELETE => Manage,
            _ => Update,
        };
        return if t == "artifacts"
            || t.starts_with("artifacts/")
            || t.starts_with("mpu/")
            || t.starts_with("presigned/")
        {
            on(ArtifactPath, need)
        } else {
            (Admin, After::Nothing)
        };
    }
    if let Some(t) = tail(path, WEIR_PREFIXES) {
        return match t {
            "metrics/downsample" => on(RunIds, Read),
            "models/resolve" => on(ModelUri, Read),
            "registered-models/alias-history" => on(ModelName, Read),
            "served-models" => signed_in,
            // The UI's view of the caller: their own identity and levels only.
            "session" | "permissions" => signed_in,
            // Whose tokens: the caller's own, or anyone's for an admin (decided with the token's
            // owner in `auth::tokens`).
            "users/tokens/create" | "users/tokens/list" | "users/tokens/revoke" => signed_in,
            "webhooks/deliveries" => (Admin, After::Nothing),
            _ => (Admin, After::Nothing),
        };
    }
    match path {
        "/get-artifact" => on(RunId, Read),
        "/model-versions/get-artifact" => on(ModelName, Read),
        // The UI, /version, and scoring routes of `--serve-model`: any signed-in user.
        _ => signed_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: Method, p: &str) -> (Rule, After) {
        rule(&m, p, false)
    }

    #[test]
    fn routes_map_to_mlflows_checks() {
        use Need::*;
        use Param::*;
        assert_eq!(r(Method::GET, "/health").0, Rule::Open);
        assert_eq!(r(Method::GET, "/api/3.0/mlflow/server-info").0, Rule::Open);
        assert_eq!(r(Method::GET, "/metrics").0, Rule::SignedIn);
        assert_eq!(rule(&Method::GET, "/metrics", true).0, Rule::Open);
        assert_eq!(
            r(Method::POST, "/api/2.0/mlflow/runs/log-metric").0,
            Rule::On(RunId, Update)
        );
        assert_eq!(
            r(Method::POST, "/ajax-api/2.0/mlflow/experiments/delete").0,
            Rule::On(ExperimentId, Delete)
        );
        assert_eq!(
            r(Method::POST, "/api/2.0/mlflow/registered-models/alias").0,
            Rule::On(ModelName, Update)
        );
        assert_eq!(
            r(Method::DELETE, "/api/2.0/mlflow/registered-models/alias").0,
            Rule::On(ModelName, Delete)
        );
        assert_eq!(
            r(Method::GET, "/api/2.0/mlflow/logged-models/m-1").0,
            Rule::On(LoggedModelInPath, Read)
        );
        assert_eq!(
            r(Method::DELETE, "/api/2.0/mlflow/logged-models/m-1").0,
            Rule::On(LoggedModelInPath, Delete)
        );
        assert_eq!(
            r(Method::DELETE, "/api/2.0/mlflow/logged-models/m-1/tags/k").0,
            Rule::On(LoggedModelInPath, Update)
        );
        assert_eq!(
            r(Method::DELETE, "/api/2.0/mlflow-artifacts/artifacts/1/x").0,
            Rule::On(ArtifactPath, Manage)
        );
        assert_eq!(
            r(Method::POST, "/api/2.0/mlflow/experiments/create").1,
            After::GrantExperiment
        );
        assert_eq!(
            r(Method::GET, "/api/2.0/mlflow/registered-models/search").1,
            After::FilterModels
        );
        assert_eq!(
            r(Method::POST, "/api/2.0/mlflow/users/create").0,
            Rule::Admin
        );
        assert_eq!(
            r(Method::GET, "/api/2.0/mlflow/users/get").0,
            Rule::SelfOrAdmin
        );
        // Token routes: signed in; whose tokens is checked with the token's owner.
        assert_eq!(
            r(Method::POST, "/api/2.0/weir/users/tokens/revoke").0,
            Rule::SignedIn
        );
        assert_eq!(
            r(Method::GET, "/api/2.0/mlflow/experiments/search")
                .1
                .filters(),
            Some(crate::store::auth::Grantable::Experiment)
        );
        assert_eq!(r(Method::GET, "/api/2.0/mlflow/webhooks").0, Rule::Admin);
        assert_eq!(
            r(Method::POST, "/api/2.0/mlflow/webhooks/abc/test").0,
            Rule::Admin
        );
        assert_eq!(
            r(Method::GET, "/ajax-api/2.0/weir/webhooks/deliveries").0,
            Rule::Admin
        );
        // Unknown API routes fail closed.
        assert_eq!(r(Method::POST, "/api/2.0/mlflow/nope").0, Rule::Admin);
        assert_eq!(r(Method::GET, "/api/2.0/weir/nope").0, Rule::Admin);
    }
}
