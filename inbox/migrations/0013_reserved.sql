-- 0013: reserved for the lead's migration on main (branch h4-ratelimit only:
-- migrations must be consecutive, and this branch's own is 0014). Delete
-- this file at merge and renumber 0014 after main's highest.
SELECT 1;
