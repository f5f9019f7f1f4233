-- Which claim holds an idempotency key: the id of the request's claim, replaced when another
-- request takes the key over. A release, note or completion only touches the record its own
-- claim still holds. Records in progress before this migration have none; they complete as
-- before only through a takeover once stale.
ALTER TABLE idempotency_records ADD COLUMN holder TEXT;

-- The member whose password a link resets: such a link is an invitation for an existing member,
-- and only a link made as a reset may reset (a second, unused invitation to the same address
-- must not).
ALTER TABLE invitations ADD COLUMN resets_member TEXT;
