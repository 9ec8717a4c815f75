-- Foundation: identity of the database, tokens, roster, the message bus, cursors, audit.
-- Every id the API shows is a bigint rendered as a decimal string.

CREATE TABLE nexus_instance (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO nexus_instance (id) VALUES (md5(random()::text || clock_timestamp()::text));

CREATE TABLE tokens (
  id bigserial PRIMARY KEY,
  hash bytea NOT NULL UNIQUE,              -- SHA-256 of the token; the value is never stored
  kind text NOT NULL CHECK (kind IN ('aspect', 'worker', 'admin')),
  aspect text,                             -- for kind = aspect
  name text,                               -- required for admin tokens (B.4), free for others
  admin boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  last_used_at timestamptz,
  CHECK ((kind = 'aspect') = (aspect IS NOT NULL)),
  CHECK (kind <> 'admin' OR name IS NOT NULL)
);
-- At most one live admin token per name, so op:NAME is unambiguous.
CREATE UNIQUE INDEX tokens_live_admin_name ON tokens (name) WHERE kind = 'admin' AND revoked_at IS NULL;
CREATE INDEX tokens_recently_revoked ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX tokens_aspect ON tokens (aspect) WHERE aspect IS NOT NULL;

CREATE TABLE aspects (
  name text PRIMARY KEY,
  role text NOT NULL DEFAULT 'aspect' CHECK (role IN ('aspect', 'frame')),
  status text NOT NULL DEFAULT 'down' CHECK (status IN ('live', 'stale', 'down')),
  instance_id text,
  config jsonb,                            -- the latest registered aspect.json; null if never registered
  identity jsonb,
  script jsonb,
  registered_at timestamptz,
  last_heartbeat timestamptz,
  stats jsonb NOT NULL DEFAULT '{}',
  stay_down boolean NOT NULL DEFAULT false
);
-- At most one registered frame (B.4).
CREATE UNIQUE INDEX aspects_one_frame ON aspects ((true)) WHERE role = 'frame' AND registered_at IS NOT NULL;

CREATE SEQUENCE thread_ids;
CREATE TABLE threads (
  id bigint PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_message_id bigint
);

CREATE TABLE thread_participants (
  thread_id bigint NOT NULL REFERENCES threads (id),
  participant text NOT NULL,
  PRIMARY KEY (thread_id, participant)
);
CREATE INDEX thread_participants_by_participant ON thread_participants (participant, thread_id);

CREATE SEQUENCE message_ids;
CREATE TABLE messages (
  id bigint PRIMARY KEY,
  thread_id bigint NOT NULL REFERENCES threads (id),
  sender text NOT NULL,
  to_list text[] NOT NULL,                 -- as sent; resolved recipients live in message_recipients
  kind text NOT NULL CHECK (kind IN ('chat', 'hand', 'hand_result', 'system')),
  hand text,
  content text NOT NULL,
  input jsonb,
  reply_to bigint,
  traceparent text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_by_thread ON messages (thread_id, id);
CREATE INDEX messages_by_sender ON messages (sender, id);

-- Delivery and resume read this table by (recipient, message_id > cursor): B.1.
CREATE TABLE message_recipients (
  recipient text NOT NULL,
  message_id bigint NOT NULL,
  PRIMARY KEY (recipient, message_id)
);

CREATE TABLE cursors (
  recipient text PRIMARY KEY,
  acked_id bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE idempotency_keys (
  sender text NOT NULL,
  key text NOT NULL,
  body_hash text NOT NULL,
  reply jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sender, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE TABLE audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  token_id bigint,
  action text NOT NULL,
  target text,
  outcome text NOT NULL CHECK (outcome IN ('allowed', 'denied')),
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_actor ON audit (actor, id);

CREATE TABLE events (
  id bigserial PRIMARY KEY,
  aspect text NOT NULL,
  kind text NOT NULL,
  ts timestamptz NOT NULL,
  thread_id bigint,
  data jsonb NOT NULL DEFAULT '{}',
  stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_aspect ON events (aspect, id);
CREATE INDEX events_by_age ON events (stored_at);
