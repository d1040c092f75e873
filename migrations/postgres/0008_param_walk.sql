-- weir: no-transaction
-- A search in the default order (newest start first) filtered by `params.k = 'v'` walks that
-- param's runs in order from one index range and stops after a page, instead of walking every
-- run of the experiment and probing each for the param (src/store/run_search.rs). For that,
-- each param row carries its run's experiment and start time, which never change after the run
-- is created. Writers fill them; the trigger fills them for any writer that does not (an older
-- Weir replica during a rolling upgrade, a script inserting rows).
--
-- Statement by statement, outside a transaction, so no lock is held for long: adding nullable
-- columns is instant, the trigger exists before the backfill so no row is missed, the backfill
-- takes row locks only, and the index is built CONCURRENTLY. Each statement can run again.
ALTER TABLE params ADD COLUMN IF NOT EXISTS experiment_id BIGINT;
ALTER TABLE params ADD COLUMN IF NOT EXISTS start_time BIGINT;
CREATE OR REPLACE FUNCTION weir_params_run_scope() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.start_time IS NULL THEN SELECT r.experiment_id, r.start_time INTO NEW.experiment_id, NEW.start_time FROM runs r WHERE r.run_uuid = NEW.run_uuid; END IF; RETURN NEW; END $$;
DROP TRIGGER IF EXISTS params_run_scope ON params;
CREATE TRIGGER params_run_scope BEFORE INSERT ON params FOR EACH ROW EXECUTE FUNCTION weir_params_run_scope();
UPDATE params p SET experiment_id = r.experiment_id, start_time = r.start_time FROM runs r WHERE r.run_uuid = p.run_uuid AND p.start_time IS NULL;
-- Beside (key, value, run_uuid), which stays: a probe of one run for `k = 'v'` reads that
-- index alone (the planner estimates a probe matching all five columns here badly, as if the
-- copies were independent of the run's own columns).
DROP INDEX CONCURRENTLY IF EXISTS params_by_key_value_walk;
CREATE INDEX CONCURRENTLY params_by_key_value_walk ON params (key, value, experiment_id, start_time DESC, run_uuid);
-- The backfill left every row's old version behind: reclaim them and refresh the statistics, so
-- index-only probes need not visit the table (VACUUM blocks neither reads nor writes).
VACUUM (ANALYZE) params;
