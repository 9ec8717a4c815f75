-- The knowledge store (SPEC section 9, B.26, B.90; docs/knowledge.md).
-- One entry per (from_agent, topic): a second store of the same topic updates the row in place.
-- `search` is the full-text vector the ranking reads (topic weighted above content, text-search
-- configuration `english`, B.60); `embedding` is kept as a plain real[] so the table is the same
-- with or without pgvector: hybrid search casts it to `vector` only where the extension exists.

CREATE TABLE knowledge (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_agent text NOT NULL CHECK (char_length(from_agent) BETWEEN 1 AND 64),  -- an aspect or op:NAME
  topic text NOT NULL CHECK (char_length(topic) BETWEEN 1 AND 256),
  content text NOT NULL CHECK (octet_length(content) BETWEEN 1 AND 262144),
  shared boolean NOT NULL DEFAULT false,
  embedding real[] CHECK (embedding IS NULL OR array_ndims(embedding) = 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', topic), 'A') || setweight(to_tsvector('english', content), 'B')
  ) STORED,
  UNIQUE (from_agent, topic)
);

CREATE INDEX knowledge_search_idx ON knowledge USING gin (search);

-- Hybrid search needs pgvector. Create it where the server offers it and this role may; anywhere
-- else the store is text-only, and the broker detects the extension at start (docs/knowledge.md).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS vector;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'pgvector is available but this role may not create it; knowledge search stays text-only';
    END;
  END IF;
END
$$;
