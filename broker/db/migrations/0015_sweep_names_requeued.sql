-- The lease duty's sweep names the dispatches it requeued (a row with `requeued_id`) instead of
-- counting them, so the broker can record each running → queued transition as a `hand.requeued`
-- event (SPEC section 6: every state change is an event). Otherwise as in 0007; the return type
-- changes, so the function is dropped and created.

DROP FUNCTION nexus_hand_sweep(integer);

CREATE FUNCTION nexus_hand_sweep(p_grace_s integer)
RETURNS TABLE (requeued_id bigint, message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
DECLARE
  v_r record;
  v_zero jsonb := '{"input_tokens": 0, "output_tokens": 0, "cost_usd": 0}';
  v_running bigint[];
  v_queued bigint[];
  v_all bigint[];
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
    RETURN;
  END IF;
  IF cardinality(v_all) > 1 THEN
    PERFORM nexus_lock_posts(ARRAY(SELECT d.thread_id FROM hand_dispatches d WHERE d.id = ANY (v_all)),
                             ARRAY(SELECT d.dispatcher FROM hand_dispatches d WHERE d.id = ANY (v_all)));
  END IF;

  FOR v_r IN DELETE FROM hand_running r WHERE r.dispatch_id = ANY (v_running) RETURNING r.* LOOP
    IF v_r.deadline_at + p_grace_s * interval '1 second' < now() THEN
      RETURN QUERY SELECT NULL::bigint, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
        'status', 'timeout', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
        'error', 'the dispatch passed its deadline')) f;
    ELSIF (SELECT d.losses FROM hand_dispatches d WHERE d.id = v_r.dispatch_id) = 0 THEN
      RETURN QUERY SELECT NULL::bigint, f.* FROM nexus_requeue_or_end(v_r.dispatch_id, true) f;
      IF NOT FOUND THEN
        RETURN QUERY SELECT v_r.dispatch_id, NULL::bigint, NULL::bigint, NULL::text[], NULL::text;
      END IF;
    ELSE
      UPDATE hand_dispatches d SET losses = d.losses + 1 WHERE d.id = v_r.dispatch_id;
      RETURN QUERY SELECT NULL::bigint, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
        'status', 'worker_lost', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
        'error', 'the worker stopped renewing its lease twice')) f;
    END IF;
  END LOOP;

  DELETE FROM hand_queue q WHERE q.dispatch_id = ANY (v_queued);
  FOR v_r IN SELECT unnest(v_queued) AS dispatch_id LOOP
    RETURN QUERY SELECT NULL::bigint, f.* FROM nexus_finish_dispatch(v_r.dispatch_id, jsonb_build_object(
      'status', 'timeout', 'summary', '', 'artifacts', '[]'::jsonb, 'usage', v_zero,
      'error', 'the dispatch passed its deadline')) f;
  END LOOP;

END $$;
