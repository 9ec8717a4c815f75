-- The orchestrator's team duties (SPEC section 8): alarms (B.27) and the expected roster (B.24).
-- Both duties post through nexus_send (B.1's locks and routing), inside the transaction that
-- records the firing or the report, so a message exists exactly when its record does.

-- Alarms. `owner` is the address of the token that created the alarm (an aspect name or op:NAME):
-- firings are sent from it (B.27, B.84). `next_at` is null once a one-shot alarm has fired.
CREATE TABLE alarms (
  id bigserial PRIMARY KEY,
  owner text NOT NULL,
  owner_admin boolean NOT NULL,            -- the owner's token passed admin checks at creation
  to_list text[] NOT NULL,
  content text NOT NULL,
  thread_id bigint REFERENCES threads (id), -- null: each firing opens a new thread
  at timestamptz,
  every_s integer CHECK (every_s >= 1),
  next_at timestamptz,
  fired integer NOT NULL DEFAULT 0,
  last_fired_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (at IS NOT NULL OR every_s IS NOT NULL)
);
CREATE INDEX alarms_due ON alarms (next_at) WHERE next_at IS NOT NULL;
CREATE INDEX alarms_by_owner ON alarms (owner, id);

-- One row per firing: the primary key is what makes a firing happen exactly once (B.27), whatever
-- replica runs the duty; `error` holds the refusal of a firing the send path refused.
CREATE TABLE alarm_firings (
  alarm_id bigint NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
  due_at timestamptz NOT NULL,
  fired_at timestamptz NOT NULL DEFAULT now(),
  message_id bigint,
  error text,
  PRIMARY KEY (alarm_id, due_at)
);

-- Fires alarm p_id if it is due: records (alarm, due_at), sends the `system` message from the
-- owner, and moves next_at past now (missed firings fire once, B.27), all in the caller's
-- transaction. A refusal of the send (the owner stayed down, a recipient's mailbox full, …) is
-- recorded on the firing and the schedule moves on. Returns nothing when the alarm is not due,
-- already being fired, or gone.
CREATE FUNCTION nexus_fire_alarm(p_id bigint)
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
BEGIN
  SELECT * INTO v_a FROM alarms a WHERE a.id = p_id AND a.next_at <= now() FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  INSERT INTO alarm_firings (alarm_id, due_at) VALUES (v_a.id, v_a.next_at) ON CONFLICT DO NOTHING;
  IF FOUND THEN
    BEGIN
      SELECT s.id, s.thread_id, s.recipients INTO v_message, v_thread, v_recipients
        FROM nexus_send(v_a.owner, v_a.owner_admin, v_a.thread_id, v_a.to_list, 'system', NULL, v_a.content,
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

-- The expected roster (B.24): per source (the operator, an admin), the aspects that should be live.
CREATE TABLE expected_aspects (
  source text NOT NULL,
  aspect text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, aspect)
);

-- One row per aspect in a missing spell that was reported; deleted when the spell ends (the aspect
-- is live again or no longer expected), so each spell is reported once.
CREATE TABLE missing_aspects (
  aspect text PRIMARY KEY,
  since timestamptz NOT NULL,
  reported_at timestamptz NOT NULL DEFAULT now(),
  event_id bigint,
  message_id bigint
);

-- Ends the spells that are over and reports the new ones: an expected aspect not live for
-- 3 × p_stale_s since the later of its last heartbeat and when it became expected gets one
-- `roster.missing {aspect, since}` event and one `system` message from the reserved sender
-- `nexus` to the frame (B.24, B.84), in this transaction. With no frame registered the event
-- alone is written.
CREATE FUNCTION nexus_report_missing(p_stale_s integer)
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
    -- The primary key makes a spell reported once even if two replicas ever ran this at once.
    INSERT INTO missing_aspects (aspect, since, event_id, message_id)
    VALUES (v_m.aspect, v_m.since, v_event, v_message);
    RETURN QUERY SELECT v_m.aspect, v_m.since, v_event, v_message, v_thread, v_recipients;
  END LOOP;
END $$;
