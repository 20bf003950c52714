-- 0003: indexes for the periodic sweeps, added once the sweeps existed.

-- DeleteOrphanReceipts: receipts still waiting for a submit result.
CREATE INDEX segments_orphans ON segments (created_at) WHERE message_id IS NULL;

-- SweepInboundParts: part sets by age.
CREATE INDEX inbound_part_sets_first ON inbound_part_sets (first_at);

-- Operators read unrouted messages newest first.
CREATE INDEX unrouted_messages_received ON unrouted_messages (received_at DESC, id DESC);
