-- 0006: how many submit_sm a message went out in. A long message sent as
-- one submit_sm with the message_payload TLV is one part on the wire (the
-- carrier splits it, and bills its segments); one sent with UDH or SAR is
-- one part per segment. wire_parts is set by the first accepted submit and
-- NULL until then; NULL means one part per segment. sent_mask and
-- delivered_mask hold one bit per wire part. (Adding a column without a
-- default rewrites nothing.)
ALTER TABLE messages ADD COLUMN wire_parts smallint
    CHECK (wire_parts IS NULL OR (wire_parts >= 1 AND wire_parts <= segments));
