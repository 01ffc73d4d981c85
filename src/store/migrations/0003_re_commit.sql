-- Applies one commit of the PostgreSQL store in one statement, so in one
-- round trip and one implicit transaction: an exception rolls all of it back.
--
-- This is its second version (the first, migration 2, locked only the rows
-- that existed): every key the commit read or writes is locked,
-- absent ones too, so that a key read as absent cannot be inserted by a
-- concurrent commit between this commit's check and its end. The function
-- also resolves its tables in the schema it was created in, whatever the
-- caller's search_path.
--
-- The locks are transaction-scoped advisory locks on a 64-bit hash of each
-- key, taken in hash order, so two commits wait for each other rather than
-- deadlock (if they ever did, 40P01 is transient: the engine decides again).
-- Every writer of re_records goes through this function, so the locks also
-- serialize commits that change the same rows; two keys that share a hash
-- only wait for each other. The version check runs after the locks, in a
-- statement of its own, so under READ COMMITTED it sees every commit that
-- held one of the locks before.
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
BEGIN
    -- 1. The idempotency rows. A key stored before, or by a concurrent commit
    --    (this one waits for it), is skipped, then named.
    WITH inserted AS (
        INSERT INTO re_events (key, event, outcome)
        SELECT * FROM unnest(event_keys, event_bodies, outcomes)
        ON CONFLICT (key) DO NOTHING RETURNING re_events.key
    )
    SELECT k INTO taken FROM unnest(event_keys) AS k WHERE k NOT IN (SELECT i.key FROM inserted i) LIMIT 1;
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'RE001', MESSAGE = taken;
    END IF;
    -- 2. Lock every key read or written, present or absent, in hash order;
    --    then compare versions (0 means "absent").
    PERFORM pg_advisory_xact_lock(h.h) FROM (
        SELECT DISTINCT hashtextextended(k, 0) AS h
        FROM unnest(read_keys || new_keys || changed_keys || gone_keys) AS k ORDER BY 1
    ) AS h;
    SELECT t.k, t.v, COALESCE(r.version, 0) AS found INTO stale
        FROM unnest(read_keys, read_versions) AS t(k, v) LEFT JOIN re_records r ON r.key = t.k
        WHERE COALESCE(r.version, 0) <> t.v LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'RE002', MESSAGE = stale.k, DETAIL = stale.v || ' ' || stale.found;
    END IF;
    -- 3. The writes.
    INSERT INTO re_records (key, version, body) SELECT t.k, 1, t.b FROM unnest(new_keys, new_bodies) AS t(k, b);
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
