-- Applies one commit of the PostgreSQL store in one statement, so in one
-- round trip and one implicit transaction: an exception rolls all of it back.
--
-- This is its third version. The second took a transaction-scoped advisory
-- lock per key, each an entry in the server's shared lock table (about
-- max_locks_per_transaction x max_connections entries for the whole server),
-- so a commit of a few thousand keys failed with "out of shared memory".
-- This one takes no lock-table entry per key: every lock lives in a tuple.
--
-- 1. The idempotency rows first (a concurrent twin waits on the row, then
--    finds it taken: RE001).
-- 2. Every existing row the commit read or writes is locked, FOR UPDATE, in
--    key order, in one statement (two commits wait for each other rather
--    than deadlock; 40P01 would be transient anyway).
-- 3. Every version read is compared (RE002), in a statement of its own, so
--    under READ COMMITTED it sees every commit that held a lock before.
-- 4. The new rows are inserted, in key order, together with a placeholder
--    row for every key read as absent that the commit does not write. A key
--    read as absent thereby holds an index entry until this commit ends: a
--    concurrent commit inserting it (for real or as its own placeholder)
--    waits, then fails with 23505 (a conflict), and a key inserted since the
--    read fails this commit the same way. The placeholders are deleted
--    before the function returns, so no other transaction ever sees one.
-- 5. The changes and deletions.
--
-- Failures the engine answers have their own SQLSTATEs:
--   RE001  an event key was already stored          MESSAGE: the key
--   RE002  a record read changed since it was read  MESSAGE: the key,
--                                                    DETAIL: 'expected found'
--   23505  a record read as absent was inserted concurrently (a conflict)
CREATE OR REPLACE FUNCTION re_commit(
    event_keys text[], event_bodies text[], outcomes text[],
    read_keys text[], read_versions int8[],
    new_keys text[], new_bodies text[],
    changed_keys text[], changed_versions int8[], changed_bodies text[],
    gone_keys text[]
) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    taken text;
    stale record;
    absent text[];
BEGIN
    WITH inserted AS (
        INSERT INTO re_events (key, event, outcome)
        SELECT * FROM unnest(event_keys, event_bodies, outcomes)
        ON CONFLICT (key) DO NOTHING RETURNING re_events.key
    )
    SELECT k INTO taken FROM unnest(event_keys) AS k WHERE k NOT IN (SELECT i.key FROM inserted i) LIMIT 1;
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'RE001', MESSAGE = taken;
    END IF;
    PERFORM 1 FROM re_records r
        WHERE r.key = ANY(read_keys || changed_keys || gone_keys)
        ORDER BY r.key FOR UPDATE;
    SELECT t.k, t.v, COALESCE(r.version, 0) AS found INTO stale
        FROM unnest(read_keys, read_versions) AS t(k, v) LEFT JOIN re_records r ON r.key = t.k
        WHERE COALESCE(r.version, 0) <> t.v LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'RE002', MESSAGE = stale.k, DETAIL = stale.v || ' ' || stale.found;
    END IF;
    SELECT COALESCE(array_agg(DISTINCT t.k), '{}') INTO absent
        FROM unnest(read_keys, read_versions) AS t(k, v)
        WHERE t.v = 0 AND NOT t.k = ANY(new_keys);
    INSERT INTO re_records (key, version, body)
        SELECT n.k, n.v, n.b FROM (
            SELECT t.k, 1 AS v, t.b FROM unnest(new_keys, new_bodies) AS t(k, b)
            UNION ALL
            SELECT a.k, 0, '' FROM unnest(absent) AS a(k)
        ) AS n ORDER BY n.k;
    DELETE FROM re_records r WHERE r.key = ANY(absent);
    UPDATE re_records r SET version = t.v, body = t.b
        FROM unnest(changed_keys, changed_versions, changed_bodies) AS t(k, v, b) WHERE r.key = t.k;
    DELETE FROM re_records r WHERE r.key = ANY(gone_keys);
END
$$;
DO $$ BEGIN
    EXECUTE format(
        'ALTER FUNCTION re_commit(text[], text[], text[], text[], int8[], text[], text[], text[], int8[], text[], text[])'
        ' SET search_path = %I, pg_temp', current_schema());
END $$;
