//! Reading metric history, on SQLite and PostgreSQL: pages, MLflow's sampled bulk history, and
//! chart series downsampled while they stream from the database.

use async_trait::async_trait;
use sqlx::Row;

use super::builder::Sql;
use super::runs::metric_value;
use super::*;

#[async_trait]
impl MetricStore for SqlStore {
    async fn metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: i64,
        offset: i64,
    ) -> Result<Vec<Metric>> {
        self.run_exists(run_id).await?;
        let rows = sqlx::query(
            "SELECT step, timestamp, value, is_nan FROM metrics WHERE run_uuid = $1 AND key = $2 \
             ORDER BY step, timestamp, value LIMIT $3 OFFSET $4",
        )
        .bind(run_id)
        .bind(key)
        .bind(max_results)
        .bind(offset)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Metric {
                    key: key.to_owned(),
                    step: r.try_get(0)?,
                    timestamp: r.try_get(1)?,
                    value: metric_value(r.try_get(2)?, r.try_get(3)?),
                    run_id: None,
                })
            })
            .collect()
    }

    async fn metric_history_bulk(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
    ) -> Result<Vec<Metric>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut s = Sql::new(self.dialect);
        s.push("SELECT run_uuid, step, timestamp, value, is_nan FROM metrics WHERE key = ")
            .str(key)
            .push(" AND run_uuid IN ")
            .str_list(run_ids)
            .push(" ORDER BY run_uuid, timestamp, step, value LIMIT ")
            .i64(max_results);
        s.query()
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| {
                Ok(Metric {
                    key: key.to_owned(),
                    step: r.try_get(1)?,
                    timestamp: r.try_get(2)?,
                    value: metric_value(r.try_get(3)?, r.try_get(4)?),
                    run_id: Some(r.try_get(0)?),
                })
            })
            .collect()
    }

    async fn metric_history_bulk_interval(
        &self,
        run_ids: &[String],
        key: &str,
        start_step: Option<i64>,
        end_step: Option<i64>,
        max_results: i64,
    ) -> Result<Vec<Metric>> {
        for run_id in run_ids {
            self.run_exists(run_id).await?;
        }
        let max_results = max_results.max(1);
        let mut out = Vec::new();
        for run_id in run_ids {
            // The rows of this run and key, in `[start_step, end_step]` when both are given.
            let scope = |s: &mut Sql| {
                s.push(" FROM metrics WHERE run_uuid = ")
                    .str(run_id)
                    .push(" AND key = ")
                    .str(key);
                if let (Some(a), Some(b)) = (start_step, end_step) {
                    s.push(" AND step >= ").i64(a).push(" AND step <= ").i64(b);
                }
            };
            // Split the ordered rows into `max_results` even buckets and keep each one's first
            // row: every row when there are fewer, an even spread of a long history otherwise.
            let mut s = Sql::new(self.dialect);
            s.push(
                "SELECT step, timestamp, value, is_nan FROM (\
                 SELECT step, timestamp, value, is_nan, ROW_NUMBER() OVER (PARTITION BY bucket \
                 ORDER BY step, timestamp, value, is_nan) AS rn FROM (\
                 SELECT step, timestamp, value, is_nan, NTILE(CAST(",
            )
            .i64(max_results)
            .push(" AS INTEGER)) OVER (ORDER BY step, timestamp, value, is_nan) AS bucket");
            scope(&mut s);
            s.push(") b) r WHERE rn = 1 ORDER BY step, timestamp, value, is_nan");
            let mut rows = s
                .query()
                .fetch_all(&self.reader)
                .await?
                .iter()
                .map(sampled_row)
                .collect::<Result<Vec<_>>>()?;
            // The buckets' first rows miss the history's end: keep its last row too, in place of
            // the last sample when the answer is already full.
            let mut s = Sql::new(self.dialect);
            s.push("SELECT step, timestamp, value, is_nan");
            scope(&mut s);
            s.push(" ORDER BY step DESC, timestamp DESC, value DESC, is_nan DESC LIMIT 1");
            if let Some(r) = s.query().fetch_optional(&self.reader).await? {
                let last = sampled_row(&r)?;
                if rows.last() != Some(&last) {
                    if rows.len() as i64 >= max_results {
                        rows.pop();
                    }
                    rows.push(last);
                }
            }
            out.extend(
                rows.into_iter()
                    .map(|(step, timestamp, value, is_nan)| Metric {
                        key: key.to_owned(),
                        step,
                        timestamp,
                        value: metric_value(f64::from_bits(value), is_nan),
                        run_id: Some(run_id.clone()),
                    }),
            );
        }
        Ok(out)
    }

    async fn metric_downsample(
        &self,
        run_ids: &[String],
        key: &str,
        max_points: i64,
    ) -> Result<Vec<Series>> {
        use futures::TryStreamExt;
        let mut out = Vec::new();
        for run_id in run_ids {
            self.run_exists(run_id).await?;
            let total: i64 =
                sqlx::query("SELECT COUNT(*) FROM metrics WHERE run_uuid = $1 AND key = $2")
                    .bind(run_id.clone())
                    .bind(key)
                    .fetch_one(&self.reader)
                    .await?
                    .try_get(0)?;
            // Streamed, so a long series never sits in memory whole.
            let mut d = crate::types::Downsampler::new(
                usize::try_from(total).unwrap_or(0),
                max_points.max(4) as usize,
            );
            let mut rows = sqlx::query(
                "SELECT step, timestamp, value, is_nan FROM metrics WHERE run_uuid = $1 AND key = $2 \
                 ORDER BY step, timestamp",
            )
            .bind(run_id.clone())
            .bind(key)
            .fetch(&self.reader);
            while let Some(r) = rows.try_next().await? {
                d.push(Metric {
                    key: key.to_owned(),
                    step: r.try_get(0)?,
                    timestamp: r.try_get(1)?,
                    value: metric_value(r.try_get(2)?, r.try_get(3)?),
                    run_id: None,
                });
            }
            let (points, downsampled) = d.finish();
            out.push(Series {
                run_id: run_id.clone(),
                key: key.to_owned(),
                total_points: total,
                downsampled,
                points,
            });
        }
        Ok(out)
    }
}

/// One row of a sampled history as its sort key: step, timestamp, value and NaN flag (the value
/// compared by bits, so NaN rows compare equal to themselves).
fn sampled_row(r: &sqlx::any::AnyRow) -> Result<(i64, i64, u64, i64)> {
    let value: f64 = r.try_get(2)?;
    Ok((r.try_get(0)?, r.try_get(1)?, value.to_bits(), r.try_get(3)?))
}
