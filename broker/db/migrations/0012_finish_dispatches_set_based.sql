-- Ending dispatches is set-based. A completion ran nexus_finish_dispatch once per dispatch, and it
-- ran nexus_post: about a dozen statements in three nested functions for each result, and the
-- completion was the larger half of a dispatch's database work (bench `claim`, docs/benchmarks.md).
-- nexus_finish_dispatches ends any number in four statements: lock the dispatch rows (id order;
-- one already done is left alone, as before), take the B.1 post locks (every thread, then every
-- recipient, nexus_lock_posts), then one statement posts the `hand_result` messages with their
-- recipient rows, moves the threads and ends the dispatches. What it writes is what
-- nexus_finish_dispatch + nexus_post wrote, row for row.
--
-- nexus_finish_dispatch stays, with its signature, as the one-dispatch case of the new function
-- (the sweep, release and end-queued paths call it); nexus_complete calls the new one once and
-- returns its rows as they are (joining them to hand_dispatches again made the planner, which
-- guesses 1,000 rows for a function, hash the whole table: 15 ms per completion).

CREATE FUNCTION nexus_finish_dispatches(p_ids bigint[], p_results jsonb[])
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
      SELECT d.id, d.target, d.hand, d.dispatcher, d.thread_id, d.message_id AS invocation, d.traceparent,
             d.submitted_at, d.started_at,
             CASE WHEN d.abort_requested AND i.result->>'status' IN ('ok', 'error', 'timeout')
                  THEN jsonb_set(i.result, '{status}', '"aborted"') ELSE i.result END AS result
        FROM (SELECT DISTINCT ON (u.id) u.id, u.result  -- a dispatch named twice ends once, first wins
                FROM unnest(p_ids, p_results) WITH ORDINALITY AS u (id, result, ord)
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

CREATE OR REPLACE FUNCTION nexus_finish_dispatch(p_id bigint, p_result jsonb)
RETURNS TABLE (message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY SELECT f.message_id, f.thread_id, f.recipients, f.status
                 FROM nexus_finish_dispatches(ARRAY[p_id], ARRAY[p_result]) f;
END $$;

-- As in 0007, with the results ended by one call (and 0008's generic plans, which a CREATE OR
-- REPLACE resets). A batch that names a lease twice, or with another attempt beside the held one,
-- ends it once, with the envelope of the held attempt (the first such item).
CREATE OR REPLACE FUNCTION nexus_complete(p_token text, p_worker text, p_ids bigint[], p_attempts integer[], p_envelopes jsonb[])
RETURNS TABLE (dispatch_id bigint, target text, hand text, message_id bigint, thread_id bigint,
               recipients text[], status text, submitted_at timestamptz, started_at timestamptz)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_held bigint[];
  v_ids bigint[];
  v_envelopes jsonb[];
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
  -- Their envelopes: the item with the held attempt, the first if one is named twice.
  SELECT array_agg(x.id ORDER BY x.id), array_agg(x.envelope ORDER BY x.id) INTO v_ids, v_envelopes
    FROM (SELECT DISTINCT ON (i.id) i.id, i.envelope
            FROM unnest(p_ids, p_attempts, p_envelopes) WITH ORDINALITY AS i (id, attempt, envelope, ord)
            JOIN hand_running r ON r.dispatch_id = i.id AND r.attempt = i.attempt
           WHERE i.id = ANY (v_held)
           ORDER BY i.id, i.ord) x;
  IF cardinality(v_held) > 1 THEN
    PERFORM nexus_lock_posts(ARRAY(SELECT d.thread_id FROM hand_dispatches d WHERE d.id = ANY (v_held)),
                             ARRAY(SELECT d.dispatcher FROM hand_dispatches d WHERE d.id = ANY (v_held)));
  END IF;
  DELETE FROM hand_running r WHERE r.dispatch_id = ANY (v_held);
  RETURN QUERY SELECT * FROM nexus_finish_dispatches(v_ids, v_envelopes);
END $$;
