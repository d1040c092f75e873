-- weir: no-transaction
-- A param or tag comparison tested for each run a search walks (`EXISTS (... kv.key = $k AND
-- kv.value = $v AND kv.run_uuid = r.run_uuid)`) reads the index alone when it also holds the
-- run id, instead of fetching a heap row per probe (SQLite's WITHOUT ROWID tables already
-- carry it in every index). Each (key, value) index is replaced by one with the run id: no
-- extra index to maintain on writes. Built CONCURRENTLY; a leftover from an interrupted build
-- is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS params_by_key_value_run;
CREATE INDEX CONCURRENTLY params_by_key_value_run ON params (key, value, run_uuid);
DROP INDEX CONCURRENTLY IF EXISTS params_by_key;
DROP INDEX CONCURRENTLY IF EXISTS tags_by_key_value_run;
CREATE INDEX CONCURRENTLY tags_by_key_value_run ON tags (key, value, run_uuid);
DROP INDEX CONCURRENTLY IF EXISTS tags_by_key;
