-- hand_queue and hand_running churn: every claim and completion inserts and deletes. A vacuum that
-- finds empty pages at the end of such a table takes an ACCESS EXCLUSIVE lock to cut them off,
-- retrying for up to 5 s, and every time it gets the lock the claims and completions wait behind
-- it (measured: the claim benchmark fell from about 2,000 to 350 dispatches/s while the vacuum
-- duty sat in VacuumTruncate). The pages are reused a moment later anyway, so neither the duty nor
-- autovacuum truncates these two tables.
ALTER TABLE hand_queue SET (vacuum_truncate = false);
ALTER TABLE hand_running SET (vacuum_truncate = false);
