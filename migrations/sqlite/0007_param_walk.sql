-- A search in the default order (newest start first) filtered by `params.k = 'v'` walks that
-- param's runs in order from one index range and stops after a page, instead of walking every
-- run of the experiment and probing each for the param (src/store/run_search.rs). For that,
-- each param row carries its run's experiment and start time, which never change after the run
-- is created. Writers fill them; the trigger fills them for any writer that does not (an older
-- Weir during a rolling upgrade, a script inserting rows).
ALTER TABLE params ADD COLUMN experiment_id BIGINT;
ALTER TABLE params ADD COLUMN start_time BIGINT;
UPDATE params SET (experiment_id, start_time) =
    (SELECT r.experiment_id, r.start_time FROM runs r WHERE r.run_uuid = params.run_uuid);
CREATE TRIGGER params_run_scope AFTER INSERT ON params WHEN NEW.start_time IS NULL
BEGIN
    UPDATE params SET (experiment_id, start_time) =
        (SELECT r.experiment_id, r.start_time FROM runs r WHERE r.run_uuid = NEW.run_uuid)
    WHERE run_uuid = NEW.run_uuid AND key = NEW.key;
END;
-- Replaces (key, value): the primary key (run_uuid, key) serves a probe of one run.
CREATE INDEX params_by_key_value_walk ON params (key, value, experiment_id, start_time DESC, run_uuid);
DROP INDEX IF EXISTS params_by_key;
