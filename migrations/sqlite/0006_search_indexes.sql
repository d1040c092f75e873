-- Metric-ordered searches walk (key, is_nan, value) in the order's direction: numbers first,
-- then NaN, each segment one index range (see src/store/run_search.rs).
CREATE INDEX IF NOT EXISTS latest_metrics_by_key_nan_value ON latest_metrics (key, is_nan, value);
DROP INDEX IF EXISTS latest_metrics_by_value;
