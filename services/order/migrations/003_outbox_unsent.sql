-- 003_outbox_unsent.sql - the outbox relay's look-up of unsent rows by age.
--
-- Jobs now go to Redis straight after the commit (order_outbox_enqueue),
-- leaving enqueued_at NULL; the relay looks for unsent rows by creation
-- time: those created since a failed direct XADD, and those older than the
-- redelivery age. Both are ordered scans of this index that stop after a
-- batch. It replaces payment_outbox_fresh (unsent rows by order_id).
CREATE INDEX payment_outbox_unsent ON payment_outbox (created_at) WHERE enqueued_at IS NULL;
DROP INDEX payment_outbox_fresh;
