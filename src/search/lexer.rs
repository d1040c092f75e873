//! Tokens of the search grammar.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    LParen,
    RParen,
    Comma,
    /// A run of comparison characters (`=`, `!=`, `>=`, or an invalid one like `>>>`).
    Op(String),
    /// A bare word: an identifier such as `metrics.acc` or a keyword (`AND`, `LIKE`, ...).
    Word(String),
    /// `backticked` identifier part.
    Backtick(String),
    /// "double-quoted": an identifier part or a string value, by position.
    DQuote(String),
    /// 'single-quoted' string value.
    SQuote(String),
    Num(f64),
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// Split a filter string into tokens.
pub(super) fn lex(input: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '<' | '>' | '=' | '!' => {
                let start = i;
                while i < chars.len() && matches!(chars[i], '<' | '>' | '=' | '!') {
                    i += 1;
                }
                out.push(Tok::Op(chars[start..i].iter().collect()));
            }
            '\'' | '"' | '`' => {
                let (s, next) = quoted(&chars, i, input)?;
                i = next;
                out.push(match c {
                    '\'' => Tok::SQuote(s),
                    '"' => Tok::DQuote(s),
                    _ => Tok::Backtick(s),
                });
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_ascii_digit() || *n == '.')) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || chars[i] == '.'
                        || chars[i] == 'e'
                        || chars[i] == 'E'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text.parse::<f64>().map_err(|_| {
                    Error::invalid(format!(
                        "Invalid number '{text}' in search filter '{input}'"
                    ))
                })?;
                out.push(Tok::Num(n));
            }
            c if is_word_start(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => {
                return Err(Error::invalid(format!(
                    "Invalid character '{other}' in search filter '{input}'"
                )))
            }
        }
    }
    Ok(out)
}

/// Read a quoted token starting at `start`; a doubled quote inside stands for itself, and a
/// backslash escapes the next character.
fn quoted(chars: &[char], start: usize, input: &str) -> Result<(String, usize)> {
    let q = chars[start];
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            s.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == q {
            if chars.get(i + 1) == Some(&q) {
                s.push(q);
                i += 2;
                continue;
            }
            return Ok((s, i + 1));
        }
        s.push(c);
        i += 1;
    }
    Err(Error::invalid(format!(
        "Unterminated quoted string in search filter '{input}'"
    )))
}
