-- The claim and the batch complete run their statements with generic plans (B.73: "claim
-- statements use prepared, generic plans"). PL/pgSQL caches a plan per statement, but by default
-- the plan cache keeps making custom plans when they look cheaper than the generic one, which the
-- claim's head-finding query always does (its `v_total < v_n` folds away): every pick was planned
-- afresh, about 0.2 ms of Postgres CPU per claim on the benchmark machine (bench `claim`,
-- docs/benchmarks.md). Only the choice of plan changes; what the statements do does not.
ALTER FUNCTION nexus_claim(text[], text[], integer[], integer) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION nexus_complete(text, text, bigint[], integer[], jsonb[]) SET plan_cache_mode = force_generic_plan;
