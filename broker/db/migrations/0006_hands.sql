-- Hands: the dispatch queue of SPEC section 6 and B.73-B.79.
--
-- A dispatch lives in `hand_dispatches` for good. While it waits it also has a row in the small
-- `hand_queue`, while it runs one in `hand_running`: claims and counts touch only those two small
-- tables, so finished rows never slow them (B.73). They carry no foreign keys, to keep the hot
-- path to one index write each; the functions below are the only writers and keep them consistent.
-- Lock order everywhere: the queue or running row first, then the dispatch row.

CREATE SEQUENCE dispatch_ids;

CREATE TABLE hand_dispatches (
  id bigint PRIMARY KEY,
  target text NOT NULL,
  hand text NOT NULL,
  dispatcher text NOT NULL,                -- aspect name or op:NAME
  thread_id bigint NOT NULL REFERENCES threads (id),
  message_id bigint NOT NULL,              -- the `hand` message (B.11)
  content text NOT NULL,
  input jsonb,
  deadline_s integer NOT NULL,
  hand_definition jsonb NOT NULL,          -- the declaration as it was when queued
  traceparent text,
  state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
  attempt integer NOT NULL DEFAULT 0,      -- number of starts so far
  losses integer NOT NULL DEFAULT 0,       -- leases that expired (B.75: one is forgiven)
  abort_requested boolean NOT NULL DEFAULT false,
  submitted_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,                  -- the first start; a requeue keeps it (B.16)
  deadline_at timestamptz,
  finished_at timestamptz,
  result jsonb,
  result_message_id bigint,
  running_at_start integer                 -- how many ran, this one excluded, when it last started
);
CREATE INDEX hand_dispatches_by_message ON hand_dispatches (message_id);

CREATE TABLE hand_queue (
  dispatch_id bigint PRIMARY KEY,
  dispatcher text NOT NULL,
  target text NOT NULL,
  hand text NOT NULL
);
-- One entry per (dispatcher, target, hand) group head is all a claim needs to look at.
CREATE INDEX hand_queue_groups ON hand_queue (dispatcher, target, hand, dispatch_id);
CREATE INDEX hand_queue_by_hand ON hand_queue (target, hand);

CREATE TABLE hand_running (
  dispatch_id bigint PRIMARY KEY,
  dispatcher text NOT NULL,
  target text NOT NULL,
  hand text NOT NULL,
  token_id text NOT NULL,
  worker_id text NOT NULL,
  attempt integer NOT NULL,
  lease_expires_at timestamptz NOT NULL,
  deadline_at timestamptz NOT NULL
);
CREATE INDEX hand_running_by_dispatcher ON hand_running (dispatcher);
CREATE INDEX hand_running_by_hand ON hand_running (target, hand);

-- The limits a claim checks besides N and H: each Hand's `concurrency` and each target's
-- `hand_concurrency`, as last declared (written when dispatches are queued). They belong to the
-- Hand and the target, not to a dispatch, so every queued dispatch of a Hand is judged alike.
CREATE TABLE hand_caps (
  target text NOT NULL,
  hand text NOT NULL,
  concurrency integer NOT NULL,
  PRIMARY KEY (target, hand)
);
CREATE TABLE hand_target_caps (
  target text PRIMARY KEY,
  hand_concurrency integer NOT NULL
);

-- N and H for every replica alike (B.76); h null means "live or stale aspects + 1".
CREATE TABLE hand_limits (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  n integer NOT NULL CHECK (n >= 1),
  h integer CHECK (h >= 1)
);

-- Posts a broker-written message (hand_result, system) with the locks of B.1. Unlike nexus_send it
-- checks nothing about the sender: the broker speaks for the target, even one stayed down.
CREATE FUNCTION nexus_post(
  p_sender text, p_thread_id bigint, p_recipients text[], p_kind text, p_hand text,
  p_content text, p_input jsonb, p_reply_to bigint, p_traceparent text
) RETURNS TABLE (id bigint, thread_id bigint, recipients text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_key bigint;
  v_id bigint;
  v_recipients text[] := ARRAY(SELECT DISTINCT r FROM unnest(p_recipients) r ORDER BY r);
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('nexus.thread:' || p_thread_id, 0));
  FOR v_key IN SELECT DISTINCT hashtextextended('nexus.recipient:' || r, 0) FROM unnest(v_recipients) r ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(v_key);
  END LOOP;
  v_id := nextval('message_ids');
  INSERT INTO messages (id, thread_id, sender, to_list, kind, hand, content, input, reply_to, traceparent)
  VALUES (v_id, p_thread_id, p_sender, v_recipients, p_kind, p_hand, p_content, p_input, p_reply_to, p_traceparent);
  INSERT INTO message_recipients (recipient, message_id) SELECT r, v_id FROM unnest(v_recipients) r;
  UPDATE threads t SET updated_at = now(), last_message_id = v_id WHERE t.id = p_thread_id;
  RETURN QUERY SELECT v_id, p_thread_id, v_recipients;
END $$;

-- Ends a dispatch with `p_result` (the envelope) and posts it as the `hand_result` message, from
-- the target to the dispatcher, reply_to the `hand` message. The caller has already removed the
-- dispatch's queue or running row; a dispatch already done is left alone (no row returned).
CREATE FUNCTION nexus_finish_dispatch(p_id bigint, p_result jsonb)
RETURNS TABLE (message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
DECLARE
  v_d hand_dispatches;
  v_result jsonb := p_result;
  v_posted record;
BEGIN
  SELECT * INTO v_d FROM hand_dispatches d WHERE d.id = p_id FOR UPDATE;
  IF NOT FOUND OR v_d.state = 'done' THEN
    RETURN;
  END IF;
  -- After an abort request the result is `aborted`, usage kept (B.16).
  IF v_d.abort_requested AND v_result->>'status' IN ('ok', 'error', 'timeout') THEN
    v_result := jsonb_set(v_result, '{status}', '"aborted"');
  END IF;
  SELECT * INTO v_posted FROM nexus_post(v_d.target, v_d.thread_id, ARRAY[v_d.dispatcher], 'hand_result',
    v_d.hand, coalesce(v_result->>'summary', ''), v_result, v_d.message_id, v_d.traceparent);
  UPDATE hand_dispatches d SET state = 'done', finished_at = now(), result = v_result,
    result_message_id = v_posted.id WHERE d.id = p_id;
  RETURN QUERY SELECT v_posted.id, v_posted.thread_id, v_posted.recipients, v_result->>'status';
END $$;

-- The claim of B.44 / B.73 for a gathered group of claimers: claimer i gets up to p_maxes[i]
-- dispatches. The pool lock is the first statement, so every later statement's snapshot sees the
-- running set as the previous claim committed it. Each pick applies the rule of
-- broker/hands/fair-share.ts (pickNext); a property test checks the two agree.
CREATE FUNCTION nexus_claim(p_workers text[], p_tokens text[], p_maxes integer[], p_lease_s integer)
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
  SELECT count(*)::integer INTO v_total FROM hand_running;

  WHILE v_claimer <= cardinality(p_workers) AND v_total < v_h LOOP
    -- Group heads by a loose index scan: the oldest dispatch of each (dispatcher, target, hand).
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

    -- Someone else (an abort, a stay-down) holds the row: leave it to them.
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
    v_total := v_total + 1;
    v_given := v_given + 1;
    IF v_given >= p_maxes[v_claimer] THEN
      v_claimer := v_claimer + 1;
      v_given := 0;
    END IF;
  END LOOP;
END $$;

-- The lease duty (B.16, B.75): leases not renewed in time are requeued once, then end
-- `worker_lost`; dispatches past their deadline plus grace end `timeout`. Returns what it ended
-- (for delivery) and how many it requeued.
CREATE FUNCTION nexus_hand_sweep(p_grace_s integer)
RETURNS TABLE (requeued integer, message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
DECLARE
  v_r record;
  v_requeued integer := 0;
  v_zero jsonb := '{"input_tokens": 0, "output_tokens": 0, "cost_usd": 0}';
BEGIN
  FOR v_r IN
    DELETE FROM hand_running r
     WHERE r.dispatch_id IN (
       SELECT x.dispatch_id FROM hand_running x
        WHERE x.deadline_at + p_grace_s * interval '1 second' < now() OR x.lease_expires_at < now()
          FOR UPDATE SKIP LOCKED)
    RETURNING r.*
  LOOP
    IF v_r.deadline_at + p_grace_s * interval '1 second' < now() THEN
      RETURN QUERY SELECT 0, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
        'status', 'timeout', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
        'error', 'the dispatch passed its deadline')) f;
    ELSIF (SELECT d.losses FROM hand_dispatches d WHERE d.id = v_r.dispatch_id) = 0 THEN
      UPDATE hand_dispatches d SET state = 'queued', losses = 1 WHERE d.id = v_r.dispatch_id;
      INSERT INTO hand_queue (dispatch_id, dispatcher, target, hand)
      SELECT d.id, d.dispatcher, d.target, d.hand FROM hand_dispatches d WHERE d.id = v_r.dispatch_id;
      v_requeued := v_requeued + 1;
    ELSE
      UPDATE hand_dispatches d SET losses = d.losses + 1 WHERE d.id = v_r.dispatch_id;
      RETURN QUERY SELECT 0, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
        'status', 'worker_lost', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
        'error', 'the worker stopped renewing its lease twice')) f;
    END IF;
  END LOOP;

  -- A requeued dispatch keeps its deadline (B.16): past it, it ends without running again.
  FOR v_r IN
    DELETE FROM hand_queue q
     WHERE q.dispatch_id IN (
       SELECT d.id FROM hand_dispatches d JOIN hand_queue x ON x.dispatch_id = d.id
        WHERE d.deadline_at IS NOT NULL AND d.deadline_at + p_grace_s * interval '1 second' < now()
          FOR UPDATE OF x SKIP LOCKED)
    RETURNING q.dispatch_id
  LOOP
    RETURN QUERY SELECT 0, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
      'status', 'timeout', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
      'error', 'the dispatch passed its deadline')) f;
  END LOOP;

  RETURN QUERY SELECT v_requeued, NULL::bigint, NULL::bigint, NULL::text[], NULL::text;
END $$;
