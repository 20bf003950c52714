-- 0011: smart encoding (issue 19 §3; docs/encoding.md): whether a workspace's messages have
-- their GSM-7 look-alikes replaced unless the request says otherwise. Off
-- by default. A constant default: adding the column rewrites nothing.
ALTER TABLE workspaces ADD COLUMN smart_encoding boolean NOT NULL DEFAULT false;
