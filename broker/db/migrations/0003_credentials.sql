-- Broker-held credentials (SPEC section 3, B.28; ADR 0004).
-- Values are stored only as AES-256-GCM ciphertext under NEXUS_SECRET_KEY, with the credential
-- name as additional authenticated data: a ciphertext copied onto another row does not decrypt.

CREATE TABLE credentials (
  name text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 253),
  kind text NOT NULL,
  description text,
  ciphertext bytea NOT NULL CHECK (octet_length(ciphertext) > 16),  -- encrypted value, then the 16-byte tag
  nonce bytea NOT NULL CHECK (octet_length(nonce) = 12),             -- random per write, never reused
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Which aspects may fetch a credential. An aspect need not be registered yet (the roster is live
-- state, principle 3); deleting the credential deletes its grants.
CREATE TABLE credential_grants (
  credential text NOT NULL REFERENCES credentials (name) ON DELETE CASCADE,
  aspect text NOT NULL,
  granted_by text NOT NULL,                -- the audit actor of the admin who granted it (B.28)
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (credential, aspect)
);
