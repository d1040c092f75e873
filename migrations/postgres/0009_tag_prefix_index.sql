-- weir: no-transaction
-- `tags.k LIKE 'prefix%'` (a run name's prefix, say) reads the matching rows from this index:
-- the search also compares the prefix as a byte range (`~>=~`, `~<~`, src/store/builder.rs),
-- which a `text_pattern_ops` index serves whatever the database's collation. The (key, value,
-- run_uuid) index cannot: under a collation other than C its order is not the byte order.
DROP INDEX CONCURRENTLY IF EXISTS tags_by_key_value_prefix;
CREATE INDEX CONCURRENTLY tags_by_key_value_prefix ON tags (key, value text_pattern_ops);
