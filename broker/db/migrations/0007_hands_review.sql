-- Hands, after review: no deadlock between multi-result transactions and sends, an aborted or
-- stayed-down dispatch never goes back to the queue, and the claim counts the running set afresh
-- at every pick.

-- Takes the B.1 locks for several posts at once: every thread first, then every recipient, each
-- set in ascending key order. A transaction that posts more than one message takes these first,
-- so it never holds a recipient while waiting for a thread (a single send holds one thread and
-- then waits for recipients: with all threads taken first there is no cycle).
CREATE FUNCTION nexus_lock_posts(p_threads bigint[], p_recipients text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_key bigint;
BEGIN
  FOR v_key IN SELECT DISTINCT hashtextextended('nexus.thread:' || t, 0) FROM unnest(p_threads) t ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(v_key);
  END LOOP;
  FOR v_key IN SELECT DISTINCT hashtextextended('nexus.recipient:' || r, 0) FROM unnest(p_recipients) r ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(v_key);
  END LOOP;
END $$;

-- Puts a dispatch whose running row was just removed back in the queue, unless it must end
-- instead: an abort was requested, or its target is stayed down (B.15, B.16). Returns the posted
-- result when it ended, nothing when it was requeued.
CREATE FUNCTION nexus_requeue_or_end(p_id bigint, p_count_loss boolean)
RETURNS TABLE (message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
DECLARE
  v_d record;
  v_zero jsonb := '{"input_tokens": 0, "output_tokens": 0, "cost_usd": 0}';
BEGIN
  SELECT d.abort_requested, d.target, coalesce(a.stay_down, false) AS stay_down INTO v_d
    FROM hand_dispatches d LEFT JOIN aspects a ON a.name = d.target WHERE d.id = p_id;
  IF v_d.abort_requested OR v_d.stay_down THEN
    RETURN QUERY SELECT * FROM nexus_finish_dispatch(p_id, jsonb_build_object(
      'status', 'aborted', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
      'detail', CASE WHEN v_d.abort_requested THEN '{}'::jsonb ELSE '{"reason": "stay_down"}'::jsonb END));
    RETURN;
  END IF;
  UPDATE hand_dispatches d SET state = 'queued', losses = d.losses + CASE WHEN p_count_loss THEN 1 ELSE 0 END
   WHERE d.id = p_id;
  INSERT INTO hand_queue (dispatch_id, dispatcher, target, hand)
  SELECT d.id, d.dispatcher, d.target, d.hand FROM hand_dispatches d WHERE d.id = p_id;
END $$;

-- SIGTERM's hand-back (B.75): without using the retry.
CREATE FUNCTION nexus_release(p_id bigint, p_token text, p_worker text, p_attempt integer)
RETURNS TABLE (released boolean, message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM hand_running r
   WHERE r.dispatch_id = p_id AND r.token_id = p_token AND r.worker_id = p_worker AND r.attempt = p_attempt;
  IF NOT FOUND THEN
    RETURN QUERY SELECT false, NULL::bigint, NULL::bigint, NULL::text[], NULL::text;
    RETURN;
  END IF;
  RETURN QUERY SELECT true, f.* FROM nexus_requeue_or_end(p_id, false) f;
  IF NOT FOUND THEN
    RETURN QUERY SELECT true, NULL::bigint, NULL::bigint, NULL::text[], NULL::text;
  END IF;
END $$;

-- Completes the leases a worker holds, in one transaction with the post locks taken up front.
CREATE FUNCTION nexus_complete(p_token text, p_worker text, p_ids bigint[], p_attempts integer[], p_envelopes jsonb[])
RETURNS TABLE (dispatch_id bigint, target text, hand text, message_id bigint, thread_id bigint,
               recipients text[], status text, submitted_at timestamptz, started_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_held bigint[];
BEGIN
  v_held := ARRAY(
    SELECT r.dispatch_id FROM hand_running r
      JOIN unnest(p_ids, p_attempts) AS i (id, attempt) ON i.id = r.dispatch_id AND i.attempt = r.attempt
     WHERE r.token_id = p_token AND r.worker_id = p_worker
     ORDER BY r.dispatch_id
       FOR UPDATE OF r);
  IF cardinality(v_held) = 0 THEN
    RETURN;
  END IF;
  IF cardinality(v_held) > 1 THEN
    PERFORM nexus_lock_posts(ARRAY(SELECT d.thread_id FROM hand_dispatches d WHERE d.id = ANY (v_held)),
                             ARRAY(SELECT d.dispatcher FROM hand_dispatches d WHERE d.id = ANY (v_held)));
  END IF;
  DELETE FROM hand_running r WHERE r.dispatch_id = ANY (v_held);
  RETURN QUERY
    SELECT d.id, d.target, d.hand, f.message_id, f.thread_id, f.recipients, f.status, d.submitted_at, d.started_at
      FROM unnest(p_ids, p_envelopes) AS i (id, envelope)
      JOIN hand_dispatches d ON d.id = i.id
     CROSS JOIN LATERAL nexus_finish_dispatch(i.id, i.envelope) f
     WHERE i.id = ANY (v_held);
END $$;

-- Ends queued dispatches at once (abort of one, or stay-down of a target), post locks first.
CREATE FUNCTION nexus_end_queued(p_id bigint, p_target text, p_result jsonb)
RETURNS TABLE (dispatch_id bigint, target text, hand text, message_id bigint, thread_id bigint,
               recipients text[], status text)
LANGUAGE plpgsql AS $$
DECLARE
  v_gone bigint[];
BEGIN
  WITH gone AS (
    DELETE FROM hand_queue q
     WHERE (p_id IS NOT NULL AND q.dispatch_id = p_id) OR (p_target IS NOT NULL AND q.target = p_target)
    RETURNING q.dispatch_id)
  SELECT ARRAY(SELECT g.dispatch_id FROM gone g ORDER BY 1) INTO v_gone;
  IF cardinality(v_gone) > 1 THEN
    PERFORM nexus_lock_posts(ARRAY(SELECT d.thread_id FROM hand_dispatches d WHERE d.id = ANY (v_gone)),
                             ARRAY(SELECT d.dispatcher FROM hand_dispatches d WHERE d.id = ANY (v_gone)));
  END IF;
  RETURN QUERY
    SELECT d.id, d.target, d.hand, f.message_id, f.thread_id, f.recipients, f.status
      FROM unnest(v_gone) AS g (id)
      JOIN hand_dispatches d ON d.id = g.id
     CROSS JOIN LATERAL nexus_finish_dispatch(g.id, p_result) f;
END $$;

-- The lease duty, revised: the rows it will act on are locked first, then the post locks, then it
-- acts; expired leases of aborted or stayed-down dispatches end `aborted` rather than requeue; a
-- queued dispatch past its deadline ends at once (the grace is for a worker that may still report).
CREATE OR REPLACE FUNCTION nexus_hand_sweep(p_grace_s integer)
RETURNS TABLE (requeued integer, message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
DECLARE
  v_r record;
  v_requeued integer := 0;
  v_zero jsonb := '{"input_tokens": 0, "output_tokens": 0, "cost_usd": 0}';
  v_running bigint[];
  v_queued bigint[];
  v_all bigint[];
  v_n integer;
BEGIN
  v_running := ARRAY(
    SELECT x.dispatch_id FROM hand_running x
     WHERE x.deadline_at + p_grace_s * interval '1 second' < now() OR x.lease_expires_at < now()
     ORDER BY x.dispatch_id
       FOR UPDATE SKIP LOCKED);
  v_queued := ARRAY(
    SELECT x.dispatch_id FROM hand_queue x JOIN hand_dispatches d ON d.id = x.dispatch_id
     WHERE d.deadline_at IS NOT NULL AND d.deadline_at < now()
     ORDER BY x.dispatch_id
       FOR UPDATE OF x SKIP LOCKED);
  v_all := v_running || v_queued;
  IF cardinality(v_all) = 0 THEN
    RETURN QUERY SELECT 0, NULL::bigint, NULL::bigint, NULL::text[], NULL::text;
    RETURN;
  END IF;
  IF cardinality(v_all) > 1 THEN
    PERFORM nexus_lock_posts(ARRAY(SELECT d.thread_id FROM hand_dispatches d WHERE d.id = ANY (v_all)),
                             ARRAY(SELECT d.dispatcher FROM hand_dispatches d WHERE d.id = ANY (v_all)));
  END IF;

  FOR v_r IN DELETE FROM hand_running r WHERE r.dispatch_id = ANY (v_running) RETURNING r.* LOOP
    IF v_r.deadline_at + p_grace_s * interval '1 second' < now() THEN
      RETURN QUERY SELECT 0, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
        'status', 'timeout', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
        'error', 'the dispatch passed its deadline')) f;
    ELSIF (SELECT d.losses FROM hand_dispatches d WHERE d.id = v_r.dispatch_id) = 0 THEN
      RETURN QUERY SELECT 0, f.* FROM nexus_requeue_or_end(v_r.dispatch_id, true) f;
      IF NOT FOUND THEN
        v_requeued := v_requeued + 1;
      END IF;
    ELSE
      UPDATE hand_dispatches d SET losses = d.losses + 1 WHERE d.id = v_r.dispatch_id;
      RETURN QUERY SELECT 0, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
        'status', 'worker_lost', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
        'error', 'the worker stopped renewing its lease twice')) f;
    END IF;
  END LOOP;

  DELETE FROM hand_queue q WHERE q.dispatch_id = ANY (v_queued);
  FOR v_r IN SELECT unnest(v_queued) AS dispatch_id LOOP
    RETURN QUERY SELECT 0, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
      'status', 'timeout', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
      'error', 'the dispatch passed its deadline')) f;
  END LOOP;

  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN QUERY SELECT v_requeued, NULL::bigint, NULL::bigint, NULL::text[], NULL::text;
END $$;

-- The claim, revised: the running count is read afresh before every pick, like the per-Hand,
-- per-target and per-dispatcher counts, so each pick applies the rule to the state it sees.
CREATE OR REPLACE FUNCTION nexus_claim(p_workers text[], p_tokens text[], p_maxes integer[], p_lease_s integer)
RETURNS TABLE (claimer integer, dispatch_id bigint, running_at_start integer)
LANGUAGE plpgsql AS $$
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
    )
    SELECT h.dispatch_id, h.dispatcher, h.target, h.hand INTO v_pick
      FROM heads h
      LEFT JOIN hand_caps hc ON hc.target = h.target AND hc.hand = h.hand
      LEFT JOIN hand_target_caps tc ON tc.target = h.target
     WHERE (SELECT count(*) FROM hand_running r WHERE r.target = h.target AND r.hand = h.hand) < coalesce(hc.concurrency, 2)
       AND (SELECT count(*) FROM hand_running r WHERE r.target = h.target) < coalesce(tc.hand_concurrency, 2)
       AND (v_total < v_n OR NOT EXISTS (SELECT 1 FROM hand_running r WHERE r.dispatcher = h.dispatcher))
     ORDER BY EXISTS (SELECT 1 FROM hand_running r WHERE r.dispatcher = h.dispatcher), h.dispatch_id
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
