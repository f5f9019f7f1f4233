-- A delivery claim shares itself between endpoints and passes over those that have their share
-- in flight: with the endpoint in the due index, it passes over a backlog without reading its rows.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, endpoint_id)
    WHERE status = 'pending';
