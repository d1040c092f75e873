//! Secrets in URIs: a database or tracking URI may carry a password (`user:pass@host`,
//! `?password=...`). [`SecretUri`] holds such a URI so that `Debug`, logs and answers only ever
//! see the redacted form; the raw text is reached on purpose, with [`SecretUri::expose`].

use std::fmt;
use std::str::FromStr;

/// Query parameters whose values are secrets (libpq's `password`, S3-style tokens).
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "token",
    "secret",
    "sslpassword",
];

/// The URI with any password replaced by `***`: `postgresql://u:***@h/db?password=***`.
pub fn redact_uri(uri: &str) -> String {
    let mut out = match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 && !uri[s + 3..at].contains('/') => {
            match uri[s + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &uri[..s + 3], &uri[at..]),
                None => uri.to_owned(),
            }
        }
        _ => uri.to_owned(),
    };
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

/// A password or token: prints as `***`; [`expose`](Secret::expose) gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A URI that may hold a password. Prints redacted; [`expose`](SecretUri::expose) gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUri(String);

impl SecretUri {
    pub fn new(uri: impl Into<String>) -> SecretUri {
        SecretUri(uri.into())
    }

    /// The URI as given, password included: for opening the connection, nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URI with its password masked, for logs and answers.
    pub fn redacted(&self) -> String {
        redact_uri(&self.0)
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl FromStr for SecretUri {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretUri(s.to_owned()))
    }
}

impl fmt::Debug for SecretUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_uri("postgresql://u:secret@h:5432/db"),
            "postgresql://u:***@h:5432/db"
        );
        assert_eq!(
            redact_uri("postgresql://u:p@ss@h/db"),
            "postgresql://u:***@h/db",
            "an @ inside the password"
        );
        assert_eq!(
            redact_uri("postgresql://h/db?user=u&password=secret&sslmode=require"),
            "postgresql://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(redact_uri("sqlite:///a.db"), "sqlite:///a.db");
        assert_eq!(redact_uri("http://h/a@b"), "http://h/a@b");
        assert_eq!(redact_uri("http://alice@h"), "http://alice@h");
        let s: SecretUri = "http://alice:pw@h:5000".parse().unwrap();
        assert_eq!(format!("{s:?}"), "\"http://alice:***@h:5000\"");
        assert_eq!(s.to_string(), "http://alice:***@h:5000");
        assert_eq!(s.expose(), "http://alice:pw@h:5000");
    }
}
