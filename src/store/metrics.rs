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

    async fn metric_history_bulk_interval(
        &self,
        run_ids: &[String],
        key: &str,
        start_step: Option<i64>,
        end_step: Option<i64>,
        max_results: i64,
    ) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        for run_id in run_ids {
            self.run_exists(run_id).await?;
            let mut s = Sql::new(self.dialect);
            s.push("SELECT DISTINCT step FROM metrics WHERE run_uuid = ")
                .str(run_id)
                .push(" AND key = ")
                .str(key);
            if let Some(a) = start_step {
                s.push(" AND step >= ").i64(a);
            }
            if let Some(b) = end_step {
                s.push(" AND step <= ").i64(b);
            }
            s.push(" ORDER BY step");
            let steps: Vec<i64> = s
                .query()
                .fetch_all(&self.reader)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            let sampled = crate::types::sample_steps(&steps, max_results.max(1) as usize);
            if sampled.is_empty() {
                continue;
            }
            let mut s = Sql::new(self.dialect);
            s.push("SELECT step, timestamp, value, is_nan FROM metrics WHERE run_uuid = ")
                .str(run_id)
                .push(" AND key = ")
                .str(key)
                .push(" AND step IN ")
                .i64_list(&sampled)
                .push(" ORDER BY step, timestamp");
            for r in s.query().fetch_all(&self.reader).await? {
                out.push(Metric {
                    key: key.to_owned(),
                    step: r.try_get(0)?,
                    timestamp: r.try_get(1)?,
                    value: metric_value(r.try_get(2)?, r.try_get(3)?),
                    run_id: Some(run_id.clone()),
                });
            }
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
