-- B.95: a grant's granted_by is the granting token's name (the operator removes only the grants its
-- own token made), no longer the audit actor. Rows written before read `op:NAME` or `aspect:NAME`;
-- the prefix goes, leaving the name.
UPDATE credential_grants
   SET granted_by = regexp_replace(granted_by, '^(op|aspect|worker):', '')
 WHERE granted_by ~ '^(op|aspect|worker):';

COMMENT ON COLUMN credential_grants.granted_by IS
  'the name of the token that made the grant (B.95): an admin token''s name, else its aspect';
