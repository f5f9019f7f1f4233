-- A rotated webhook endpoint secret: the one it replaced keeps signing deliveries (beside the
-- new one) until it expires, so that the host app can switch over without missing an event.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret bytea;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_expires_at timestamptz;
