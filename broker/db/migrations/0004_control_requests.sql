-- Session control (B.12, B.48): admin calls become rows that any replica can forward to the
-- runtime's socket; NOTIFY carries the id only, and waiters also poll the row.
CREATE TABLE control_requests (
  id bigserial PRIMARY KEY,
  aspect text NOT NULL,
  action text NOT NULL,
  params jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
  result jsonb,
  error jsonb,
  requested_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX control_requests_pending ON control_requests (aspect, id) WHERE state = 'pending';
