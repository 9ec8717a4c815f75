-- Re-creates nexus_send (body before: 0005), nexus_finish_dispatches and nexus_complete (before: 0012).
--
-- nexus_send. Changes:
-- 1. `to: []` means the same as no `to`: the thread's participants, or the frame (B.86). The
--    `no_recipient` refusal of B.36 is only for a non-empty `to` that names no one but the sender.
-- 2. The comms.send_to refusal carries DETAIL 'comms.send_to', so a dispatch can tell it from the
--    other refusals and answer it with a `forbidden` result envelope (SPEC section 6).
-- 3. The thread turn limit (B.59, B.83, B.84; ADR 0006), kept in the same statement as the send:
--    `threads.aspect_chats` counts the `chat` messages aspects sent since the last message from an
--    operator (`op:` sender), which sets it back to 0. `p_turn_limit` is the broker's
--    NEXUS_THREAD_TURN_LIMIT (0 = off; the default, for the `hand` messages of nexus_dispatch, which
--    never count). A message that takes the count past the limit is stored with
--    `messages.turn_limit`; the first such message of a run (`threads.turn_limit_noted` is false)
--    also posts one `system` note from the reserved sender `nexus` to every participant, carrying
--    `turn_limit` too so no runtime takes a turn on it. Its id and recipients are returned
--    (`note_id`, `note_recipients`) so the broker announces it after commit.
ALTER TABLE messages ADD COLUMN turn_limit boolean NOT NULL DEFAULT false;
ALTER TABLE threads ADD COLUMN aspect_chats integer NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN turn_limit_noted boolean NOT NULL DEFAULT false;

DROP FUNCTION nexus_send(text, boolean, bigint, text[], text, text, text, jsonb, bigint, text, text, text, boolean, boolean);

CREATE FUNCTION nexus_send(
  p_sender text,
  p_admin boolean,
  p_thread_id bigint,
  p_to text[],
  p_kind text,
  p_hand text,
  p_content text,
  p_input jsonb,
  p_reply_to bigint,
  p_traceparent text,
  p_idempotency_key text,
  p_body_hash text,
  p_remove_self boolean,
  p_add_participants boolean,
  p_turn_limit integer DEFAULT 0
) RETURNS TABLE (id bigint, thread_id bigint, created_at timestamptz, held_for text[], recipients text[],
                 repeated boolean, note_id bigint, note_recipients text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_thread bigint := p_thread_id;
  v_participants text[] := '{}';
  v_recipients text[];
  v_frame text;
  v_allowed jsonb;
  v_stay_down boolean;
  v_bad text;
  v_key bigint;
  v_id bigint;
  v_created timestamptz;
  v_held text[];
  v_prev record;
  v_chats integer := 0;
  v_noted boolean := false;
  v_counts boolean := p_kind = 'chat' AND p_sender NOT LIKE 'op:%';
  v_past boolean := false;
  v_note_id bigint;
  v_note_recipients text[] := '{}';
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    SELECT k.body_hash, k.reply INTO v_prev FROM idempotency_keys k
     WHERE k.sender = p_sender AND k.key = p_idempotency_key;
    IF FOUND THEN
      IF v_prev.body_hash <> p_body_hash THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001',
          MESSAGE = 'nexus:conflict:idempotency_key was already used with a different body';
      END IF;
      RETURN QUERY SELECT (v_prev.reply->>'id')::bigint, (v_prev.reply->>'thread_id')::bigint,
        (v_prev.reply->>'created_at')::timestamptz,
        ARRAY(SELECT jsonb_array_elements_text(coalesce(v_prev.reply->'held_for', '[]'::jsonb))),
        '{}'::text[], true, NULL::bigint, '{}'::text[];
      RETURN;
    END IF;
  END IF;

  IF p_sender NOT LIKE 'op:%' THEN
    SELECT a.config->'comms'->'send_to', a.stay_down INTO v_allowed, v_stay_down FROM aspects a WHERE a.name = p_sender;
    IF v_stay_down THEN
      RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'nexus:stay_down:' || p_sender || ' is shut down (stay-down)';
    END IF;
  END IF;

  IF v_thread IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('nexus.thread:' || v_thread, 0));
    SELECT t.aspect_chats, t.turn_limit_noted INTO v_chats, v_noted FROM threads t WHERE t.id = v_thread;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'nexus:not_found:thread ' || v_thread || ' does not exist';
    END IF;
    v_participants := ARRAY(SELECT tp.participant FROM thread_participants tp WHERE tp.thread_id = v_thread);
    IF NOT p_admin AND NOT (p_sender = ANY (v_participants)) THEN
      RAISE EXCEPTION USING ERRCODE = 'P0001',
        MESSAGE = 'nexus:forbidden:' || p_sender || ' is not a participant of thread ' || v_thread;
    END IF;
  ELSE
    v_thread := nextval('thread_ids');
    INSERT INTO threads (id) VALUES (v_thread);
    PERFORM pg_advisory_xact_lock(hashtextextended('nexus.thread:' || v_thread, 0));
  END IF;

  -- An empty `to` is no `to` (B.86).
  IF cardinality(p_to) > 0 THEN
    v_recipients := ARRAY(SELECT DISTINCT r FROM unnest(p_to) r WHERE NOT (p_remove_self AND r = p_sender) ORDER BY r);
    IF cardinality(v_recipients) = 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'nexus:no_recipient:to names no one but the sender';
    END IF;
  ELSE
    v_recipients := ARRAY(SELECT r FROM unnest(v_participants) r WHERE r <> p_sender ORDER BY r);
    IF cardinality(v_recipients) = 0 THEN
      SELECT a.name INTO v_frame FROM aspects a WHERE a.role = 'frame' AND a.registered_at IS NOT NULL;
      IF v_frame IS NULL OR v_frame = p_sender THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001',
          MESSAGE = 'nexus:no_recipient:the message names no recipient, the thread has no other participant and no frame is registered';
      END IF;
      v_recipients := ARRAY[v_frame];
    END IF;
  END IF;

  SELECT r INTO v_bad FROM unnest(v_recipients) r
   WHERE r LIKE 'op:%' AND NOT EXISTS (
     SELECT 1 FROM tokens t WHERE t.kind = 'admin' AND t.revoked_at IS NULL AND t.name = substr(r, 4))
   LIMIT 1;
  IF v_bad IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'nexus:no_recipient:' || v_bad || ' names no operator';
  END IF;

  IF v_allowed IS NOT NULL AND NOT (v_allowed ? '*') THEN
    SELECT r INTO v_bad FROM unnest(v_recipients) r
     WHERE r NOT LIKE 'op:%' AND NOT (v_allowed ? r)
       AND NOT EXISTS (SELECT 1 FROM aspects a WHERE a.name = r AND a.role = 'frame')
     LIMIT 1;
    IF v_bad IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'P0001',
        MESSAGE = 'nexus:forbidden:' || p_sender || ' may not message ' || v_bad || ' (comms.send_to)',
        DETAIL = 'comms.send_to';
    END IF;
  END IF;

  IF p_reply_to IS NOT NULL THEN
    PERFORM 1 FROM messages m WHERE m.id = p_reply_to AND m.thread_id = v_thread;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'P0001',
        MESSAGE = 'nexus:invalid_request:reply_to: must name a message in the same thread';
    END IF;
  END IF;

  -- The count runs only for recipients that never registered: CASE fixes the order. (As two ANDed
  -- conditions, the planner turned NOT EXISTS into an anti join and ran the count first, reading
  -- up to 1,000 mailbox rows of every recipient on every send.)
  SELECT r INTO v_bad FROM unnest(v_recipients) r
   WHERE r NOT LIKE 'op:%'
     AND CASE WHEN (SELECT a.registered_at IS NOT NULL FROM aspects a WHERE a.name = r) THEN false
              ELSE (SELECT count(*) FROM (SELECT 1 FROM message_recipients mr WHERE mr.recipient = r LIMIT 1000) held) >= 1000
         END
   LIMIT 1;
  IF v_bad IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'P0001',
      MESSAGE = 'nexus:conflict:' || v_bad || ' never registered and already holds 1000 messages', DETAIL = 'mailbox_full';
  END IF;

  -- The turn count (read under the thread lock above, so sends to one thread count in order).
  IF p_sender LIKE 'op:%' THEN
    v_chats := 0;
    v_noted := false;
  ELSIF v_counts THEN
    v_chats := v_chats + 1;
    v_past := p_turn_limit > 0 AND v_chats > p_turn_limit;
  END IF;
  IF v_past AND NOT v_noted THEN
    -- The note goes to every participant once this message is in: its own recipients and sender too.
    v_note_recipients := ARRAY(SELECT DISTINCT r FROM unnest(v_participants || v_recipients || p_sender) r ORDER BY r);
  END IF;

  FOR v_key IN SELECT DISTINCT hashtextextended('nexus.recipient:' || r, 0)
                 FROM unnest(v_recipients || v_note_recipients) r ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(v_key);
  END LOOP;

  v_id := nextval('message_ids');
  INSERT INTO messages (id, thread_id, sender, to_list, kind, hand, content, input, reply_to, traceparent, turn_limit)
  VALUES (v_id, v_thread, p_sender, coalesce(p_to, '{}'), p_kind, p_hand, p_content, p_input, p_reply_to, p_traceparent,
          v_past)
  RETURNING messages.created_at INTO v_created;
  INSERT INTO message_recipients (recipient, message_id) SELECT r, v_id FROM unnest(v_recipients) r;
  IF p_add_participants THEN
    INSERT INTO thread_participants (thread_id, participant)
    SELECT v_thread, r FROM unnest(array_append(v_recipients, p_sender)) r
    ON CONFLICT DO NOTHING;
  END IF;
  IF cardinality(v_note_recipients) > 0 THEN
    v_note_id := nextval('message_ids');
    INSERT INTO messages (id, thread_id, sender, to_list, kind, content, turn_limit)
    VALUES (v_note_id, v_thread, 'nexus', '{}', 'system',
            format('This thread reached its turn limit: %s messages between aspects without a message from an '
                   'operator. Aspects take no more turns here until an operator (op:NAME) writes in this thread, '
                   'which resets the count.', p_turn_limit),
            true);
    INSERT INTO message_recipients (recipient, message_id) SELECT r, v_note_id FROM unnest(v_note_recipients) r;
    v_noted := true;
  END IF;
  UPDATE threads t SET updated_at = now(), last_message_id = coalesce(v_note_id, v_id), aspect_chats = v_chats,
                       turn_limit_noted = v_noted
   WHERE t.id = v_thread;

  v_held := ARRAY(SELECT r FROM unnest(v_recipients) r
                   WHERE r NOT LIKE 'op:%'
                     AND NOT EXISTS (SELECT 1 FROM aspects a WHERE a.name = r AND a.status = 'live'));

  IF p_idempotency_key IS NOT NULL THEN
    -- A concurrent repeat blocks here on the unique key and then fails; the broker retries it.
    INSERT INTO idempotency_keys (sender, key, body_hash, reply)
    VALUES (p_sender, p_idempotency_key, p_body_hash,
            jsonb_build_object('id', v_id::text, 'thread_id', v_thread::text, 'created_at', v_created,
                               'held_for', to_jsonb(v_held)));
  END IF;

  RETURN QUERY SELECT v_id, v_thread, v_created, v_held, v_recipients, false, v_note_id, v_note_recipients;
END;
$$;

-- Traces on completes (B.60, B.87). A worker may send `traceparent` on the single complete and on
-- each item of a batch complete; it is stored on the `hand_result` message, so the trace continues
-- from the worker's run to the result (B.97). Without one the message keeps the dispatch's own, as
-- before. Re-creates nexus_finish_dispatches and nexus_complete (bodies before: 0012), each with a
-- new last parameter, `p_traceparents` (one per id; NULL or a NULL item: none sent);
-- nexus_finish_dispatch (0012) calls the first with two arguments, which the default covers.
DROP FUNCTION nexus_finish_dispatches(bigint[], jsonb[]);
CREATE FUNCTION nexus_finish_dispatches(p_ids bigint[], p_results jsonb[], p_traceparents text[] DEFAULT NULL)
RETURNS TABLE (dispatch_id bigint, target text, hand text, message_id bigint, thread_id bigint,
               recipients text[], status text, submitted_at timestamptz, started_at timestamptz)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_live bigint[];
BEGIN
  v_live := ARRAY(
    SELECT d.id FROM hand_dispatches d
     WHERE d.id = ANY (p_ids) AND d.state <> 'done'
     ORDER BY d.id
       FOR UPDATE);
  IF cardinality(v_live) = 0 THEN
    RETURN;
  END IF;
  PERFORM nexus_lock_posts(ARRAY(SELECT d.thread_id FROM hand_dispatches d WHERE d.id = ANY (v_live)),
                           ARRAY(SELECT d.dispatcher FROM hand_dispatches d WHERE d.id = ANY (v_live)));

  RETURN QUERY
    WITH ending AS (
      -- After an abort request the result is `aborted`, usage kept (B.16).
      SELECT d.id, d.target, d.hand, d.dispatcher, d.thread_id, d.message_id AS invocation,
             coalesce(i.traceparent, d.traceparent) AS traceparent, d.submitted_at, d.started_at,
             CASE WHEN d.abort_requested AND i.result->>'status' IN ('ok', 'error', 'timeout')
                  THEN jsonb_set(i.result, '{status}', '"aborted"') ELSE i.result END AS result
        FROM (SELECT DISTINCT ON (u.id) u.id, u.result, u.traceparent  -- a dispatch named twice ends once, first wins
                FROM unnest(p_ids, p_results, p_traceparents) WITH ORDINALITY AS u (id, result, traceparent, ord)
               ORDER BY u.id, u.ord) i
        JOIN hand_dispatches d ON d.id = i.id
       WHERE d.id = ANY (v_live)
       ORDER BY d.id
    ), numbered AS (
      -- Ids are drawn after the post locks, so each recipient's messages commit in id order (B.1).
      SELECT e.*, nextval('message_ids') AS result_id FROM ending e
    ), posted AS (
      INSERT INTO messages (id, thread_id, sender, to_list, kind, hand, content, input, reply_to, traceparent)
      SELECT n.result_id, n.thread_id, n.target, ARRAY[n.dispatcher], 'hand_result', n.hand,
             coalesce(n.result->>'summary', ''), n.result, n.invocation, n.traceparent
        FROM numbered n
    ), delivered AS (
      INSERT INTO message_recipients (recipient, message_id) SELECT n.dispatcher, n.result_id FROM numbered n
    ), moved AS (
      UPDATE threads t SET updated_at = now(), last_message_id = x.last_id
        FROM (SELECT n.thread_id, max(n.result_id) AS last_id FROM numbered n GROUP BY n.thread_id) x
       WHERE t.id = x.thread_id
    ), ended AS (
      UPDATE hand_dispatches d
         SET state = 'done', finished_at = now(), result = n.result, result_message_id = n.result_id
        FROM numbered n
       WHERE d.id = n.id
    )
    SELECT n.id, n.target, n.hand, n.result_id, n.thread_id, ARRAY[n.dispatcher], n.result->>'status',
           n.submitted_at, n.started_at
      FROM numbered n ORDER BY n.id;
END $$;

DROP FUNCTION nexus_complete(text, text, bigint[], integer[], jsonb[]);
CREATE FUNCTION nexus_complete(p_token text, p_worker text, p_ids bigint[], p_attempts integer[], p_envelopes jsonb[],
                               p_traceparents text[])
RETURNS TABLE (dispatch_id bigint, target text, hand text, message_id bigint, thread_id bigint,
               recipients text[], status text, submitted_at timestamptz, started_at timestamptz)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_held bigint[];
  v_ids bigint[];
  v_envelopes jsonb[];
  v_traceparents text[];
BEGIN
  -- The leases named with their attempt and held by this worker, each once.
  v_held := ARRAY(
    SELECT r.dispatch_id FROM hand_running r
     WHERE r.token_id = p_token AND r.worker_id = p_worker
       AND (r.dispatch_id, r.attempt) IN (SELECT i.id, i.attempt FROM unnest(p_ids, p_attempts) AS i (id, attempt))
     ORDER BY r.dispatch_id
       FOR UPDATE OF r);
  IF cardinality(v_held) = 0 THEN
    RETURN;
  END IF;
  -- Their envelopes and traces: the item with the held attempt, the first if one is named twice.
  SELECT array_agg(x.id ORDER BY x.id), array_agg(x.envelope ORDER BY x.id), array_agg(x.traceparent ORDER BY x.id)
    INTO v_ids, v_envelopes, v_traceparents
    FROM (SELECT DISTINCT ON (i.id) i.id, i.envelope, i.traceparent
            FROM unnest(p_ids, p_attempts, p_envelopes, p_traceparents)
                 WITH ORDINALITY AS i (id, attempt, envelope, traceparent, ord)
            JOIN hand_running r ON r.dispatch_id = i.id AND r.attempt = i.attempt
           WHERE i.id = ANY (v_held)
           ORDER BY i.id, i.ord) x;
  IF cardinality(v_held) > 1 THEN
    PERFORM nexus_lock_posts(ARRAY(SELECT d.thread_id FROM hand_dispatches d WHERE d.id = ANY (v_held)),
                             ARRAY(SELECT d.dispatcher FROM hand_dispatches d WHERE d.id = ANY (v_held)));
  END IF;
  DELETE FROM hand_running r WHERE r.dispatch_id = ANY (v_held);
  RETURN QUERY SELECT * FROM nexus_finish_dispatches(v_ids, v_envelopes, v_traceparents);
END $$;
