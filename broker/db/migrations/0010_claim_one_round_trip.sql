-- The claim answers in one round trip and starts each dispatch in one statement.
--
-- Before, a claim was two round trips (the claim, then a read of what it started) and each start
-- was four statements (lock the queue row, delete it, update the dispatch, insert the running row).
-- Now the start is one statement of data-modifying CTEs that also returns what the worker needs,
-- and the function returns it: the gate's round is one statement, and each start pays one executor
-- start-up instead of four. The fairness rule, the pool lock and the pick are 0009's unchanged (the
-- claim-agreement property test checks them against broker/hands/fair-share.ts).
--
-- The read of the details runs inside the pool lock now; it is one index lookup per start, far less
-- than the round trip and the second statement it replaces. The return type changes, so the
-- function is dropped and created; the generic plans of 0008 are set again.

DROP FUNCTION nexus_claim(text[], text[], integer[], integer);

CREATE FUNCTION nexus_claim(p_workers text[], p_tokens text[], p_maxes integer[], p_lease_s integer)
RETURNS TABLE (
  claimer integer, dispatch_id bigint, running_at_start integer, attempt integer, deadline_at timestamptz,
  target text, hand text, dispatcher text, content text, input jsonb, thread_id bigint,
  hand_definition jsonb, traceparent text, submitted_at timestamptz,
  provider jsonb, identity jsonb, script jsonb)
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

    -- One statement starts it: the queue row goes (skipped if an abort holds it), the dispatch
    -- turns running, the lease is written, and what the worker needs comes back.
    WITH taken AS (
      DELETE FROM hand_queue q
       WHERE q.dispatch_id = (SELECT l.dispatch_id FROM hand_queue l
                               WHERE l.dispatch_id = v_pick.dispatch_id FOR UPDATE SKIP LOCKED)
      RETURNING q.dispatch_id
    ), started AS (
      UPDATE hand_dispatches d
         SET state = 'running', attempt = d.attempt + 1, started_at = coalesce(d.started_at, now()),
             deadline_at = coalesce(d.deadline_at, now() + d.deadline_s * interval '1 second'),
             running_at_start = v_total
        FROM taken t
       WHERE d.id = t.dispatch_id
      RETURNING d.*
    ), leased AS (
      INSERT INTO hand_running (dispatch_id, dispatcher, target, hand, token_id, worker_id, attempt,
                                lease_expires_at, deadline_at)
      SELECT s.id, s.dispatcher, s.target, s.hand, p_tokens[v_claimer], p_workers[v_claimer], s.attempt,
             now() + p_lease_s * interval '1 second', s.deadline_at
        FROM started s
    )
    SELECT s.attempt, s.deadline_at, s.content, s.input, s.thread_id, s.hand_definition, s.traceparent,
           s.submitted_at, a.config->'provider' AS provider, a.identity, a.script
      INTO v_d
      FROM started s LEFT JOIN aspects a ON a.name = s.target;
    IF NOT FOUND THEN
      v_skip := v_skip || v_pick.dispatch_id;
      CONTINUE;
    END IF;

    claimer := v_claimer;
    dispatch_id := v_pick.dispatch_id;
    running_at_start := v_total;
    attempt := v_d.attempt;
    deadline_at := v_d.deadline_at;
    target := v_pick.target;
    hand := v_pick.hand;
    dispatcher := v_pick.dispatcher;
    content := v_d.content;
    input := v_d.input;
    thread_id := v_d.thread_id;
    hand_definition := v_d.hand_definition;
    traceparent := v_d.traceparent;
    submitted_at := v_d.submitted_at;
    provider := v_d.provider;
    identity := v_d.identity;
    script := v_d.script;
    RETURN NEXT;
    v_given := v_given + 1;
    IF v_given >= p_maxes[v_claimer] THEN
      v_claimer := v_claimer + 1;
      v_given := 0;
    END IF;
  END LOOP;
END $$;
