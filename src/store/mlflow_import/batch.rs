//! A batch of rows held column by column, as PostgreSQL's `UNNEST` takes them.

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::tables::Ty;

/// One column's values.
#[derive(Debug)]
pub enum Col {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

/// Rows read from MLflow, waiting to be written.
#[derive(Debug)]
pub struct Batch {
    pub cols: Vec<Col>,
    len: usize,
}

impl Batch {
    pub fn new(columns: &[(&str, Ty)], capacity: usize) -> Batch {
        let cols = columns
            .iter()
            .map(|(_, ty)| match ty {
                Ty::Int => Col::Int(Vec::with_capacity(capacity)),
                Ty::Float => Col::Float(Vec::with_capacity(capacity)),
                Ty::Text => Col::Text(Vec::with_capacity(capacity)),
            })
            .collect();
        Batch { cols, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn clear(&mut self) {
        for c in &mut self.cols {
            match c {
                Col::Int(v) => v.clear(),
                Col::Float(v) => v.clear(),
                Col::Text(v) => v.clear(),
            }
        }
        self.len = 0;
    }

    /// Append one row whose columns are in this batch's order and types.
    pub fn push_row<R>(&mut self, row: &R) -> anyhow::Result<()>
    where
        R: Row,
        usize: ColumnIndex<R>,
        for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    {
        for (i, c) in self.cols.iter_mut().enumerate() {
            match c {
                Col::Int(v) => v.push(row.try_get(i)?),
                Col::Float(v) => v.push(row.try_get(i)?),
                Col::Text(v) => v.push(row.try_get(i)?),
            }
        }
        self.len += 1;
        Ok(())
    }
}
