-- 0007: the live claimers (Store.Heartbeat, ReleaseDeadClaims,
-- TakeOverInstance, Unregister).
--
-- One row per running dispatcher process: owner is the string it claims
-- messages under (messages.lease_owner), new at every process start;
-- instance is the configured instance id, stable across restarts and unique
-- among running processes (bind leases already require it), so at most one
-- row per instance: a restarted process replaces its previous life's row
-- and releases that life's claims at once. heartbeat_at is written every
-- few seconds with the database clock; an owner whose heartbeat is older
-- than the caller's staleAfter is dead, and its claims are made claimable
-- without waiting for their lease to end.
--
-- No index on heartbeat_at: the table holds one row per process, and an
-- unindexed heartbeat_at keeps the heartbeat UPDATE HOT. Finding a dead
-- owner's messages needs no index of its own either: they are sending under
-- a lease that has not ended, a range of messages_due (see
-- Store.ReleaseDeadClaims).
CREATE TABLE dispatch_owners (
    owner        text PRIMARY KEY CHECK (owner <> ''),
    instance     text NOT NULL CHECK (instance <> ''),
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dispatch_owners_instance UNIQUE (instance)
);
