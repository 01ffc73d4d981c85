-- re_commit refuses to run at REPEATABLE READ (RE003). Its version checks
-- run in statements of their own so that at READ COMMITTED each sees every
-- commit that held a lock before it; at REPEATABLE READ they would all see
-- the transaction's first snapshot, and a key read as absent (or changed
-- since that snapshot) could pass. SERIALIZABLE stays sound: what the checks
-- miss there, the server aborts with 40001, and the commit is tried again.
-- Otherwise the function is version 4's (0005), unchanged.
CREATE OR REPLACE FUNCTION re_commit(
    event_keys text[], digests bytea[], handled timestamptz[], outcomes text[],
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
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION USING ERRCODE = 'RE003', MESSAGE = 'repeatable read';
    END IF;
    WITH inserted AS (
        INSERT INTO re_events (key, digest, handled_at, outcome)
        SELECT * FROM unnest(event_keys, digests, handled, outcomes)
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
        'ALTER FUNCTION re_commit(text[], bytea[], timestamptz[], text[], text[], int8[], text[], text[], text[], int8[], text[], text[])'
        ' SET search_path = %I, pg_temp', current_schema());
END $$;
