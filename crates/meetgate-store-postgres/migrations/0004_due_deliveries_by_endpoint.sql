-- A delivery claim gives each endpoint its share of the oldest due deliveries and passes over
-- the endpoints that have theirs in flight: it walks the endpoints with pending deliveries on
-- this index and reads each one's oldest due ones, never a backlog it passes over.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
