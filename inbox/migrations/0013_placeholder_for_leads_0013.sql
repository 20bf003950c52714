-- 0013: a stand-in for the lead's migration 0013, which this branch does
-- not have (migrations must be numbered without gaps). It does nothing.
-- DROP THIS FILE AT MERGE: the lead's 0013 takes its place.
SELECT 1;
