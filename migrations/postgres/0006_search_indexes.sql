-- weir: no-transaction
-- Metric-ordered searches walk (key, is_nan, value) in the order's direction: numbers first,
-- then NaN, each segment one index range (see src/store/run_search.rs). Built CONCURRENTLY so a
-- large latest_metrics table stays writable meanwhile; each statement runs on its own, and a
-- leftover from an interrupted build (an invalid index) is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS latest_metrics_by_key_nan_value;
CREATE INDEX CONCURRENTLY latest_metrics_by_key_nan_value ON latest_metrics (key, is_nan, value);
DROP INDEX CONCURRENTLY IF EXISTS latest_metrics_by_value;
