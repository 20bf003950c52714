-- 0016: a delivered webhook event costs its outbox row and its log row,
-- nothing more (issue 16 §1: webhooks on within 10 % of off).
--
-- The foreign keys of webhook_events and webhook_attempts to
-- webhook_endpoints checked every inserted row with a query of its own
-- (PostgreSQL's RI trigger: SELECT ... FOR KEY SHARE per row), about
-- 10 µs of PostgreSQL CPU per delivered event, a third of recording it
-- (inbox BenchmarkRecordWebhookBatch). Every statement that writes these
-- rows now holds the endpoint's row itself, locked in the same statement
-- (Store.RecordWebhookBatch and RecordWebhookAttempts update it,
-- QueueWebhookEvent, ReplayWebhookEvent and DisableWebhook's notices read
-- it FOR KEY SHARE), and Store.DeleteWebhook deletes the endpoint's rows
-- after the endpoint in one transaction, as the cascade did: a writer that
-- held the endpoint first commits before the delete goes on (the delete's
-- later statements see its rows), one that comes after finds no endpoint
-- and writes nothing.
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_endpoint_id_fkey;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_endpoint_id_fkey;
