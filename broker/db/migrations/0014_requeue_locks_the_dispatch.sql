-- nexus_requeue_or_end reads abort_requested and the target's stay-down, then requeues. Read
-- without a lock, an abort committed between that read and the requeue was missed: the dispatch
-- went back to the queue and ran again until its worker's first heartbeat saw the abort. The read
-- now locks the dispatch row, so a concurrent abort either commits first (and is seen here) or
-- waits and then finds the dispatch queued, which it ends at once. Otherwise as in 0007.
CREATE OR REPLACE FUNCTION nexus_requeue_or_end(p_id bigint, p_count_loss boolean)
RETURNS TABLE (message_id bigint, thread_id bigint, recipients text[], status text)
LANGUAGE plpgsql AS $$
DECLARE
  v_d record;
  v_zero jsonb := '{"input_tokens": 0, "output_tokens": 0, "cost_usd": 0}';
BEGIN
  SELECT d.abort_requested, d.target, coalesce(a.stay_down, false) AS stay_down INTO v_d
    FROM hand_dispatches d LEFT JOIN aspects a ON a.name = d.target WHERE d.id = p_id
     FOR UPDATE OF d;
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
