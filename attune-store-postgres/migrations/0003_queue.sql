-- attune-store-postgres schema version 3: a delivered message moves to its own table.
--
-- Version 1 marked a delivered row of `queue` with its owner and lease: an UPDATE that
-- PostgreSQL cannot make in place (the partial indexes name `owner`), leaving a dead row
-- and dead index entries behind for every claim, which later claims scanned past. Measured
-- on the reference box (pgbench, 4 clients inserting and claiming 200 rows at a time):
-- 20k messages/s through insert, claim and ack that way; 61k/s with a claim that deletes
-- the rows from `queue` and inserts them into `queue_held`.
--
-- `queue` now holds the messages not delivered, in publish order (`seq`); `queue_held` the
-- delivered ones not acknowledged, with the subscription that holds each (`owner`) and the
-- lease its process renews. A lapsed or released row goes back to `queue` with its `seq`,
-- so it keeps its place. Rows delivered when this migration runs go back to `queue`: their
-- subscriptions belong to processes of the older release, and delivery is at least once.

CREATE TABLE queue_held (
    seq      bigint PRIMARY KEY,
    topic    text NOT NULL,
    message  text NOT NULL,                -- JSON of attune_core's Message
    owner    uuid NOT NULL,
    lease_us bigint NOT NULL               -- server clock, µs since the Unix epoch
);

DROP INDEX queue_free;
DROP INDEX queue_owner;
DROP INDEX queue_lease;
ALTER TABLE queue DROP COLUMN owner, DROP COLUMN lease_us;
CREATE INDEX queue_topic ON queue (topic, seq);
