-- The claim's pick reads the running set once. Every subquery of the pick (per Hand, per target,
-- per dispatcher) scanned hand_running again; between vacuums that small table is mostly dead
-- rows (a claim inserts one, a completion deletes it), so those scans were a large part of a
-- claim's cost. One materialised read per pick, in the same statement and so the same snapshot,
-- gives the same counts. Otherwise the function is 0007's, with the generic plans of 0008 (a
-- CREATE OR REPLACE resets the function's settings, so the SET is repeated here).

CREATE OR REPLACE FUNCTION nexus_claim(p_workers text[], p_tokens text[], p_maxes integer[], p_lease_s integer)
RETURNS TABLE (claimer integer, dispatch_id bigint, running_at_start integer)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_n integer;
  v_h integer;
  v_total integer;
  v_claimer integer := 1;
  v_given integer := 0;
  v_skip bigint[] := '{}';
  v_pick record;
  v_d record;
BEGIN
  PERFORM pg_advisory_xact_lock(7230100);
  SELECT l.n, l.h INTO v_n, v_h FROM hand_limits l;
  v_n := coalesce(v_n, 3);
  IF v_h IS NULL THEN
    SELECT count(*)::integer + 1 INTO v_h FROM aspects a WHERE a.status IN ('live', 'stale');
  END IF;
  v_h := greatest(v_h, v_n);

  WHILE v_claimer <= cardinality(p_workers) LOOP
    SELECT count(*)::integer INTO v_total FROM hand_running;
    EXIT WHEN v_total >= v_h;
    WITH RECURSIVE heads AS (
      (SELECT q.dispatcher, q.target, q.hand, q.dispatch_id
         FROM hand_queue q WHERE q.dispatch_id <> ALL (v_skip)
        ORDER BY q.dispatcher, q.target, q.hand, q.dispatch_id LIMIT 1)
      UNION ALL
      SELECT nxt.* FROM heads h CROSS JOIN LATERAL (
        SELECT q.dispatcher, q.target, q.hand, q.dispatch_id
          FROM hand_queue q
         WHERE (q.dispatcher, q.target, q.hand) > (h.dispatcher, h.target, h.hand)
           AND q.dispatch_id <> ALL (v_skip)
         ORDER BY q.dispatcher, q.target, q.hand, q.dispatch_id LIMIT 1) nxt
    ),
    -- The running set, read once for this pick (one statement, one snapshot: the same counts as
    -- reading hand_running in each subquery, without a scan for every head and condition).
    run AS MATERIALIZED (SELECT r.dispatcher, r.target, r.hand FROM hand_running r)
    SELECT h.dispatch_id, h.dispatcher, h.target, h.hand INTO v_pick
      FROM heads h
      LEFT JOIN hand_caps hc ON hc.target = h.target AND hc.hand = h.hand
      LEFT JOIN hand_target_caps tc ON tc.target = h.target
     WHERE (SELECT count(*) FROM run r WHERE r.target = h.target AND r.hand = h.hand) < coalesce(hc.concurrency, 2)
       AND (SELECT count(*) FROM run r WHERE r.target = h.target) < coalesce(tc.hand_concurrency, 2)
       AND (v_total < v_n OR NOT EXISTS (SELECT 1 FROM run r WHERE r.dispatcher = h.dispatcher))
     ORDER BY EXISTS (SELECT 1 FROM run r WHERE r.dispatcher = h.dispatcher), h.dispatch_id
     LIMIT 1;
    EXIT WHEN NOT FOUND;

    PERFORM 1 FROM hand_queue q WHERE q.dispatch_id = v_pick.dispatch_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      v_skip := v_skip || v_pick.dispatch_id;
      CONTINUE;
    END IF;
    DELETE FROM hand_queue q WHERE q.dispatch_id = v_pick.dispatch_id;
    UPDATE hand_dispatches d
       SET state = 'running', attempt = d.attempt + 1, started_at = coalesce(d.started_at, now()),
           deadline_at = coalesce(d.deadline_at, now() + d.deadline_s * interval '1 second'),
           running_at_start = v_total
     WHERE d.id = v_pick.dispatch_id
    RETURNING d.attempt, d.deadline_at INTO v_d;
    INSERT INTO hand_running (dispatch_id, dispatcher, target, hand, token_id, worker_id, attempt,
                              lease_expires_at, deadline_at)
    VALUES (v_pick.dispatch_id, v_pick.dispatcher, v_pick.target, v_pick.hand, p_tokens[v_claimer],
            p_workers[v_claimer], v_d.attempt, now() + p_lease_s * interval '1 second', v_d.deadline_at);

    claimer := v_claimer;
    dispatch_id := v_pick.dispatch_id;
    running_at_start := v_total;
    RETURN NEXT;
    v_given := v_given + 1;
    IF v_given >= p_maxes[v_claimer] THEN
      v_claimer := v_claimer + 1;
      v_given := 0;
    END IF;
  END LOOP;
END $$;
