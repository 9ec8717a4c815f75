-- Re-creates nexus_report_missing and nexus_fire_alarm (before: 0018). The reserved sender `nexus`
-- is no longer left a participant of the thread it opens for the frame (B.84), and an alarm fires
-- with its owner's authority at the firing, not at its creation (a revoked owner's alarm stops).
-- Current bodies: docs/broker.md.
CREATE OR REPLACE FUNCTION nexus_report_missing(p_stale_s integer)
RETURNS TABLE (aspect text, since timestamptz, event_id bigint, message_id bigint, thread_id bigint, recipients text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_m record;
  v_event bigint;
  v_message bigint;
  v_thread bigint;
  v_recipients text[];
  v_since text;
BEGIN
  DELETE FROM missing_aspects ma
   WHERE NOT EXISTS (SELECT 1 FROM expected_aspects e WHERE e.aspect = ma.aspect)
      OR EXISTS (SELECT 1 FROM aspects a WHERE a.name = ma.aspect AND a.status = 'live');
  FOR v_m IN
    SELECT e.aspect, greatest(min(e.added_at), max(a.last_heartbeat)) AS since
      FROM expected_aspects e LEFT JOIN aspects a ON a.name = e.aspect
     WHERE NOT EXISTS (SELECT 1 FROM missing_aspects ma WHERE ma.aspect = e.aspect)
       AND coalesce(a.status, 'down') <> 'live'
     GROUP BY e.aspect
    HAVING greatest(min(e.added_at), max(a.last_heartbeat)) <= now() - make_interval(secs => p_stale_s * 3)
     ORDER BY e.aspect
  LOOP
    v_since := to_char(v_m.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
    INSERT INTO events (aspect, kind, ts, thread_id, data)
    VALUES (v_m.aspect, 'roster.missing', now(), NULL,
            jsonb_build_object('aspect', v_m.aspect, 'since', v_since))
    RETURNING events.id INTO v_event;
    v_message := NULL;
    v_thread := NULL;
    v_recipients := NULL;
    BEGIN
      -- No `to` and a new thread: nexus_send routes it to the registered frame (B.36).
      SELECT s.id, s.thread_id, s.recipients INTO v_message, v_thread, v_recipients
        FROM nexus_send('nexus', true, NULL, NULL, 'system', NULL,
          'roster.missing: ' || v_m.aspect || ' is expected but has not been live since ' || v_since,
          jsonb_build_object('roster_missing', jsonb_build_object('aspect', v_m.aspect, 'since', v_since)),
          NULL, NULL, NULL, '', false, true) s;
    EXCEPTION WHEN SQLSTATE 'P0001' THEN
      NULL; -- no frame registered: the event is the record
    END;
    -- `nexus` sends, it is never addressed (B.84): not a participant, so the frame's reply without
    -- `to` does not go to a mailbox nobody drains (which would fill to mailbox_full).
    IF v_thread IS NOT NULL THEN
      DELETE FROM thread_participants tp WHERE tp.thread_id = v_thread AND tp.participant = 'nexus';
    END IF;
    -- The primary key makes a spell reported once even if two replicas ever ran this at once.
    INSERT INTO missing_aspects (aspect, since, event_id, message_id)
    VALUES (v_m.aspect, v_m.since, v_event, v_message);
    RETURN QUERY SELECT v_m.aspect, v_m.since, v_event, v_message, v_thread, v_recipients;
  END LOOP;
END $$;

-- Fires alarm p_id if it is due (B.27); see 0018 for the whole contract.
CREATE OR REPLACE FUNCTION nexus_fire_alarm(p_id bigint)
RETURNS TABLE (message_id bigint, thread_id bigint, recipients text[], due_at timestamptz, error text)
LANGUAGE plpgsql AS $$
DECLARE
  v_a alarms;
  v_message bigint;
  v_thread bigint;
  v_recipients text[];
  v_error text;
  v_periods double precision;
  v_next timestamptz;
  v_live boolean;
  v_admin boolean;
BEGIN
  SELECT * INTO v_a FROM alarms a WHERE a.id = p_id AND a.next_at <= now() FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- The owner's authority now, not at creation: a firing speaks only for an owner that still holds a
  -- live token (an aspect's token may be rotated, so any live one counts), with the admin scope
  -- that token has today.
  IF v_a.owner LIKE 'op:%' THEN
    SELECT count(*) > 0, count(*) > 0 INTO v_live, v_admin
      FROM tokens t WHERE t.kind = 'admin' AND t.revoked_at IS NULL AND t.name = substr(v_a.owner, 4);
  ELSE
    SELECT count(*) > 0, coalesce(bool_or(t.admin), false) INTO v_live, v_admin
      FROM tokens t WHERE t.kind = 'aspect' AND t.revoked_at IS NULL AND t.aspect = v_a.owner;
  END IF;
  INSERT INTO alarm_firings (alarm_id, due_at) VALUES (v_a.id, v_a.next_at) ON CONFLICT DO NOTHING;
  IF FOUND AND NOT v_live THEN
    v_error := 'nexus:forbidden:' || v_a.owner || ' holds no live token: the alarm does not fire';
    UPDATE alarm_firings f SET error = v_error WHERE f.alarm_id = v_a.id AND f.due_at = v_a.next_at;
  ELSIF FOUND THEN
    BEGIN
      SELECT s.id, s.thread_id, s.recipients INTO v_message, v_thread, v_recipients
        FROM nexus_send(v_a.owner, v_admin, v_a.thread_id, v_a.to_list, 'system', NULL, v_a.content,
          jsonb_build_object('alarm', jsonb_build_object('id', v_a.id::text,
            'due_at', to_char(v_a.next_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))),
          NULL, NULL, NULL, '', false, true) s;
    EXCEPTION WHEN SQLSTATE 'P0001' THEN
      v_error := SQLERRM;
    END;
    UPDATE alarm_firings f SET message_id = v_message, error = v_error
     WHERE f.alarm_id = v_a.id AND f.due_at = v_a.next_at;
  END IF;
  IF v_a.every_s IS NOT NULL THEN
    -- The first period boundary strictly after now: however long the broker was away, one firing.
    v_periods := floor(extract(epoch FROM now() - v_a.next_at) / v_a.every_s) + 1;
    v_next := v_a.next_at + make_interval(secs => v_a.every_s * v_periods);
  END IF;
  UPDATE alarms a SET next_at = v_next, fired = a.fired + 1, last_fired_at = now() WHERE a.id = v_a.id;
  RETURN QUERY SELECT v_message, v_thread, v_recipients, v_a.next_at, v_error;
END $$;
