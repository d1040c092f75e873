//! CSV scoring requests, as `pandas.DataFrame.to_csv()` writes them.

use super::frame::{frame_to_tensors, Frame};
use super::json::J;
use super::{DecodeError, Result, Schema, MAX_COLUMNS};
use crate::serving::tensor::Tensor;

/// Parse CSV as `pandas.DataFrame.to_csv()` writes it. The first line is the header, unless every
/// field in it is a number (then there is no header); a leading unnamed column (the DataFrame
/// index) is dropped.
pub fn parse_csv(bytes: &[u8], schema: &Schema) -> Result<Frame> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        DecodeError::BadRequest(
            "Failed to parse input as a Pandas DataFrame. The CSV body is not UTF-8.".into(),
        )
    })?;
    let limits = CsvLimits {
        // One more for the header line.
        max_records: schema.max_rows.saturating_add(1),
        max_cells: schema.value_budget(bytes.len()),
    };
    let mut records = csv_records(text, &limits).map_err(|e| match e {
        CsvError::TooMany(what) => schema.too_many(what),
        CsvError::Syntax(e) => DecodeError::BadRequest(format!(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{e}'"
        )),
    })?;
    if records.is_empty() {
        return Err(DecodeError::BadRequest(
            "Failed to parse input as a Pandas DataFrame. Error: 'No columns to parse from file'"
                .into(),
        ));
    }
    let has_header = !records[0]
        .iter()
        .all(|f| !f.trim().is_empty() && f.trim().parse::<f64>().is_ok());
    let mut columns = if has_header {
        Some(records.remove(0))
    } else {
        None
    };
    let width = columns
        .as_ref()
        .map_or_else(|| records.first().map_or(0, Vec::len), Vec::len);
    if let Some((i, r)) = records.iter().enumerate().find(|(_, r)| r.len() != width) {
        return Err(DecodeError::BadRequest(format!(
            "Failed to parse input as a Pandas DataFrame. Error: 'Expected {width} fields in line {}, saw {}'",
            i + 1 + usize::from(has_header),
            r.len()
        )));
    }
    let drop_index = columns
        .as_ref()
        .is_some_and(|c| c.first().is_some_and(|n| n.is_empty() || n == "Unnamed: 0"));
    if drop_index {
        if let Some(c) = columns.as_mut() {
            c.remove(0);
        }
        for r in &mut records {
            r.remove(0);
        }
    }
    let rows = records
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|f| if f.is_empty() { J::Null } else { J::Str(f) })
                .collect()
        })
        .collect();
    Ok(Frame { columns, rows })
}

/// Bounds on a CSV body's records.
struct CsvLimits {
    max_records: usize,
    max_cells: usize,
}

enum CsvError {
    Syntax(String),
    TooMany(String),
}

/// Split CSV text into records (RFC 4180 quoting; blank lines skipped), within `limits`.
fn csv_records(text: &str, limits: &CsvLimits) -> std::result::Result<Vec<Vec<String>>, CsvError> {
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut field_started = false;
    let mut cells = 0usize;
    let mut push_field = |record: &mut Vec<String>, field: String| {
        cells += 1;
        if cells > limits.max_cells || record.len() >= MAX_COLUMNS {
            return Err(CsvError::TooMany(format!(
                "more than {} values",
                limits.max_cells.min(cells)
            )));
        }
        record.push(field);
        Ok(())
    };
    let push_record = |records: &mut Vec<Vec<String>>, record: Vec<String>| {
        if records.len() >= limits.max_records {
            return Err(CsvError::TooMany(format!(
                "more than {} rows",
                limits.max_records.saturating_sub(1)
            )));
        }
        records.push(record);
        Ok(())
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                field_started = true;
            }
            ',' => {
                push_field(&mut record, std::mem::take(&mut field))?;
                field_started = true;
            }
            '\r' => {}
            '\n' => {
                if field_started || !field.is_empty() || !record.is_empty() {
                    push_field(&mut record, std::mem::take(&mut field))?;
                    push_record(&mut records, std::mem::take(&mut record))?;
                }
                field_started = false;
            }
            _ => {
                field.push(c);
                field_started = true;
            }
        }
    }
    if quoted {
        return Err(CsvError::Syntax("EOF inside string".into()));
    }
    if field_started || !field.is_empty() || !record.is_empty() {
        push_field(&mut record, field)?;
        push_record(&mut records, record)?;
    }
    Ok(records)
}

/// Decode a CSV scoring request.
pub fn decode_csv(bytes: &[u8], schema: &Schema) -> Result<Vec<Tensor>> {
    let tensors = frame_to_tensors(&parse_csv(bytes, schema)?, schema)?;
    schema.check_rows(&tensors)?;
    Ok(tensors)
}
