-- solomo_webhook_enqueue: the transactional outbox's one write. Called inside the transaction of the change it
-- reports (the check-in, claim and redemption request functions; the void, member and erasure services), so a
-- rolled-back change leaves nothing to send and a committed one always leaves its row. One row per change: the
-- worker (solomo/webhooks/fan_out.py) makes the events and the per-endpoint messages from it, off the hot path.
--
-- Nothing is written while the brand has no enabled endpoint: an event is for the endpoints that exist when it
-- happens, and a brand without webhooks pays one index probe.
--
-- No NOTIFY here: PostgreSQL commits every transaction that notified under one database-wide lock, held through
-- the commit's WAL flush, so a NOTIFY in each check-in serialised the check-ins' commits (bench/README.md,
-- "Webhooks": 13 % fewer check-ins/s with it). The worker polls the outbox every quarter second instead
-- (solomo/webhooks/worker.py); the rarer changes made through the ORM notify (solomo/webhooks/lifecycle.py).
-- p_brand comes first and only the brand's rows are touched, so the call runs on the brand's shard.
CREATE OR REPLACE FUNCTION solomo_webhook_enqueue(p_brand uuid, p_kind text, p_member uuid, p_payload jsonb)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.brand_id = p_brand AND e.enabled) THEN
        RETURN false;
    END IF;
    INSERT INTO webhook_outbox (brand_id, kind, member_id, payload) VALUES (p_brand, p_kind, p_member, p_payload);
    RETURN true;
END;
$$;
