//! The model URI grammar: `models:/name@alias`, `models:/name/<Stage>`, `models:/name/<N>`,
//! `models:/name/latest`, `models:/m-<id>`, and `runs:/<run_id>/<path>`.

use crate::error::{Error, Result};

/// A parsed model URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    Alias { name: String, alias: String },
    Stage { name: String, stage: String },
    Version { name: String, version: i64 },
    Latest { name: String },
    LoggedModel { model_id: String },
    Run { run_id: String, path: String },
}

impl ModelUri {
    pub fn parse(uri: &str) -> Result<ModelUri> {
        let bad = || {
            Error::invalid(format!(
                "Not a valid model URI: '{uri}'. Use models:/<name>@<alias>, models:/<name>/<stage or version>, models:/m-<id> or runs:/<run_id>/<path>"
            ))
        };
        if let Some(rest) = uri.strip_prefix("runs:/") {
            let rest = rest.trim_start_matches('/');
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            if run_id.is_empty()
                || !run_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad());
            }
            return Ok(ModelUri::Run {
                run_id: run_id.to_owned(),
                path: path.trim_matches('/').to_owned(),
            });
        }
        let rest = uri
            .strip_prefix("models:/")
            .ok_or_else(bad)?
            .trim_start_matches('/')
            .trim_end_matches('/');
        if rest.is_empty() {
            return Err(bad());
        }
        if let Some((name, alias)) = rest.rsplit_once('@') {
            if name.is_empty() || alias.is_empty() || alias.contains('/') {
                return Err(bad());
            }
            return Ok(ModelUri::Alias {
                name: name.to_owned(),
                alias: alias.to_owned(),
            });
        }
        match rest.rsplit_once('/') {
            None if rest.starts_with("m-") && rest.len() > 2 => Ok(ModelUri::LoggedModel {
                model_id: rest.to_owned(),
            }),
            None => Err(bad()),
            Some((name, tail)) if !name.is_empty() && !tail.is_empty() => {
                if let Ok(v) = tail.parse::<i64>() {
                    Ok(ModelUri::Version {
                        name: name.to_owned(),
                        version: v,
                    })
                } else if tail.eq_ignore_ascii_case("latest") {
                    Ok(ModelUri::Latest {
                        name: name.to_owned(),
                    })
                } else {
                    let stage = crate::types::canonical_stage(tail).map_err(|_| bad())?;
                    Ok(ModelUri::Stage {
                        name: name.to_owned(),
                        stage: stage.to_owned(),
                    })
                }
            }
            Some(_) => Err(bad()),
        }
    }

    /// The registered model this URI names, if any.
    pub fn model_name(&self) -> Option<&str> {
        match self {
            ModelUri::Alias { name, .. }
            | ModelUri::Stage { name, .. }
            | ModelUri::Version { name, .. }
            | ModelUri::Latest { name } => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            ModelUri::parse("models:/iris-classifier@champion").unwrap(),
            ModelUri::Alias {
                name: "iris-classifier".into(),
                alias: "champion".into()
            }
        );
        assert_eq!(
            ModelUri::parse("models:/iris/production").unwrap(),
            ModelUri::Stage {
                name: "iris".into(),
                stage: "Production".into()
            }
        );
        assert_eq!(
            ModelUri::parse("models:/iris/3").unwrap(),
            ModelUri::Version {
                name: "iris".into(),
                version: 3
            }
        );
        assert_eq!(
            ModelUri::parse("models:/iris/latest").unwrap(),
            ModelUri::Latest {
                name: "iris".into()
            }
        );
        assert_eq!(
            ModelUri::parse("models:/m-0123abcd").unwrap(),
            ModelUri::LoggedModel {
                model_id: "m-0123abcd".into()
            }
        );
        assert_eq!(
            ModelUri::parse("runs:/abc123/model").unwrap(),
            ModelUri::Run {
                run_id: "abc123".into(),
                path: "model".into()
            }
        );
        for bad in [
            "models:/",
            "models:/iris",
            "models:/iris/Bogus",
            "foo",
            "runs:/",
            "models:/@x",
            "runs:/a b/c",
        ] {
            assert!(ModelUri::parse(bad).is_err(), "{bad}");
        }
    }
}
