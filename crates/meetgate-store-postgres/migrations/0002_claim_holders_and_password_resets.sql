-- Which claim holds an idempotency key: the id of the request's claim, replaced when another
-- request takes the key over. A release, note or completion only touches the record its own
-- claim still holds. Records in progress before this migration have none; they complete as
-- before only through a takeover once stale.
ALTER TABLE idempotency_records ADD COLUMN holder uuid;

-- The member whose password a link resets: such a link is an invitation for an existing member,
-- and only a link made as a reset may reset (a second, unused invitation to the same address
-- must not).
ALTER TABLE invitations ADD COLUMN resets_member uuid,
    ADD FOREIGN KEY (tenant_id, resets_member) REFERENCES members (tenant_id, id);

-- Fails the statement it is evaluated in, with SQLSTATE MG001 and `what` as the message: a
-- statement that commits on its own (a meeting with its effects, written as one statement of
-- data-modifying CTEs) uses it to refuse the whole change when a row it depends on moved on.
CREATE FUNCTION meetgate_refuse(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'MG001', MESSAGE = what;
END
$$;
