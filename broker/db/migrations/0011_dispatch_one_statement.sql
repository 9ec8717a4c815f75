-- Queueing a dispatch is one statement. Before, `POST /v1/hands/dispatch` ran a transaction of about
-- ten round trips (BEGIN, the stay-down share lock, the Hand's queue lock and count, the B.1 send,
-- the participant, the dispatch and queue rows, the caps upsert, COMMIT); the dispatch-start
-- benchmark spent most of its 4.4 ms to the 202 there. The steps and their order are the same.
--
-- outcome: 'queued'; 'repeated' (the idempotency key's first dispatch committed before this one);
-- 'key_used' (the key belongs to a message, not a dispatch); 'stay_down' and 'busy' (refusals:
-- nothing is written; retry_after_s is the oldest running dispatch's remaining time, B.77).
-- nexus_send's refusals are raised as they are for a message.

CREATE FUNCTION nexus_dispatch(
  p_sender text, p_admin boolean, p_thread_id bigint, p_target text, p_hand text, p_content text,
  p_input jsonb, p_traceparent text, p_idempotency_key text, p_body_hash text, p_queue_limit integer,
  p_deadline_s integer, p_hand_definition jsonb, p_hand_concurrency integer, p_target_concurrency integer)
RETURNS TABLE (outcome text, dispatch_id bigint, thread_id bigint, message_id bigint, retry_after_s float8)
LANGUAGE plpgsql AS $$
DECLARE
  v_stay_down boolean;
  v_queued integer;
  v_sent record;
  v_prev record;
  v_id bigint;
BEGIN
  -- Idempotency first (B.77): concurrent repeats of one key wait for each other here, so a repeat
  -- is answered with the first dispatch, never refused busy or failed on the key's unique index.
  IF p_idempotency_key IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('nexus.idem:' || p_sender || '/' || p_idempotency_key, 0));
    SELECT k.body_hash, k.reply INTO v_prev FROM idempotency_keys k
     WHERE k.sender = p_sender AND k.key = p_idempotency_key;
    IF FOUND THEN
      IF v_prev.body_hash <> p_body_hash THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001',
          MESSAGE = 'nexus:conflict:idempotency_key was already used with a different body';
      END IF;
      SELECT d.id INTO v_id FROM hand_dispatches d WHERE d.message_id = (v_prev.reply->>'id')::bigint;
      RETURN QUERY SELECT CASE WHEN v_id IS NULL THEN 'key_used' ELSE 'repeated' END, v_id,
        (v_prev.reply->>'thread_id')::bigint, (v_prev.reply->>'id')::bigint, NULL::float8;
      RETURN;
    END IF;
  END IF;

  -- A shutdown racing this dispatch either waits for it (and then ends it with the other queued
  -- ones) or is seen here (B.15).
  SELECT a.stay_down INTO v_stay_down FROM aspects a WHERE a.name = p_target FOR SHARE;
  IF v_stay_down THEN
    RETURN QUERY SELECT 'stay_down'::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::float8;
    RETURN;
  END IF;

  IF p_queue_limit > 0 THEN
    -- Serialises dispatches to one Hand for the rest of the transaction, so the bound holds exactly.
    PERFORM pg_advisory_xact_lock(hashtextextended('nexus.hand:' || p_target || '/' || p_hand, 0));
    SELECT count(*)::integer INTO v_queued
      FROM (SELECT 1 FROM hand_queue q WHERE q.target = p_target AND q.hand = p_hand LIMIT p_queue_limit) x;
    IF v_queued >= p_queue_limit THEN
      RETURN QUERY SELECT 'busy'::text, NULL::bigint, NULL::bigint, NULL::bigint,
        (SELECT extract(epoch FROM min(r.deadline_at) - now())::float8
           FROM hand_running r WHERE r.target = p_target AND r.hand = p_hand);
      RETURN;
    END IF;
  END IF;

  SELECT s.id, s.thread_id, s.repeated INTO v_sent
    FROM nexus_send(p_sender, p_admin, p_thread_id, ARRAY[p_target], 'hand', p_hand, p_content, p_input,
                    NULL, p_traceparent, p_idempotency_key, p_body_hash, false, false) s;
  IF v_sent.repeated THEN
    SELECT d.id INTO v_id FROM hand_dispatches d WHERE d.message_id = v_sent.id;
    RETURN QUERY SELECT CASE WHEN v_id IS NULL THEN 'key_used' ELSE 'repeated' END,
      v_id, v_sent.thread_id, v_sent.id, NULL::float8;
    RETURN;
  END IF;

  -- A thread the dispatch itself created has its dispatcher as participant, so it can read it.
  IF p_thread_id IS NULL THEN
    INSERT INTO thread_participants (thread_id, participant) VALUES (v_sent.thread_id, p_sender)
    ON CONFLICT DO NOTHING;
  END IF;

  v_id := nextval('dispatch_ids');
  INSERT INTO hand_dispatches (id, target, hand, dispatcher, thread_id, message_id, content, input,
                               deadline_s, hand_definition, traceparent)
  VALUES (v_id, p_target, p_hand, p_sender, v_sent.thread_id, v_sent.id, p_content, p_input,
          p_deadline_s, p_hand_definition, p_traceparent);
  INSERT INTO hand_queue (dispatch_id, dispatcher, target, hand) VALUES (v_id, p_sender, p_target, p_hand);

  -- The caps the claim reads (B.76), written only when they changed.
  INSERT INTO hand_caps (target, hand, concurrency) VALUES (p_target, p_hand, p_hand_concurrency)
  ON CONFLICT (target, hand) DO UPDATE SET concurrency = EXCLUDED.concurrency
   WHERE hand_caps.concurrency <> EXCLUDED.concurrency;
  INSERT INTO hand_target_caps (target, hand_concurrency) VALUES (p_target, p_target_concurrency)
  ON CONFLICT (target) DO UPDATE SET hand_concurrency = EXCLUDED.hand_concurrency
   WHERE hand_target_caps.hand_concurrency <> EXCLUDED.hand_concurrency;

  RETURN QUERY SELECT 'queued'::text, v_id, v_sent.thread_id, v_sent.id, NULL::float8;
END $$;
