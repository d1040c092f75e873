//! Errors: plain, descriptive messages meant to be shown to the person who logged the model.

use thiserror::Error;

/// Why a model could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// A file of the model could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The artifact asks for something Weir will not do (a class outside the allow-list, an
    /// out-of-band buffer, an external reference...). Nothing was executed.
    #[error("refusing to load model: {0}")]
    Refused(String),
    /// A well-formed model of a kind Weir cannot evaluate natively.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The artifact is malformed: truncated, inconsistent, or beyond Weir's size limits.
    #[error("invalid model: {0}")]
    Invalid(String),
}

impl LoadError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        LoadError::Invalid(msg.into())
    }
    pub(crate) fn refused(msg: impl Into<String>) -> Self {
        LoadError::Refused(msg.into())
    }
    pub(crate) fn unsupported(msg: impl Into<String>) -> Self {
        LoadError::Unsupported(msg.into())
    }
    /// Prefixes the message with where the problem is (`model.pkl: ...`).
    pub(crate) fn context(self, what: &str) -> Self {
        match self {
            LoadError::Refused(m) => LoadError::Refused(format!("{what}: {m}")),
            LoadError::Unsupported(m) => LoadError::Unsupported(format!("{what}: {m}")),
            LoadError::Invalid(m) => LoadError::Invalid(format!("{what}: {m}")),
            e @ LoadError::Io { .. } => e,
        }
    }
}

/// Why a prediction could not be made.
#[derive(Debug, Error, PartialEq)]
pub enum PredictError {
    /// The input does not fit the model (missing column, wrong type, wrong width...).
    #[error("{0}")]
    Input(String),
    /// The model has no such method (e.g. `predict_proba` on a regressor).
    #[error("{0}")]
    Method(String),
}

pub(crate) type LoadResult<T> = Result<T, LoadError>;
