-- attune-store-postgres schema version 2: what many processes on one database need.
--
-- 1. The definitions' generation (Store::definitions_generation). One row; every row of
--    `definitions` inserted, changed or deleted adds one, in the transaction of the change,
--    so that engines of other processes see that they must load the definitions again.
--    Writes that change nothing (an upsert of an identical body) update no row and leave it.
-- 2. The workers (Store::put_worker): one row per engine, its last heartbeat.

CREATE TABLE definitions_generation (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL
);
INSERT INTO definitions_generation (one, generation) VALUES (true, 0);

CREATE FUNCTION definitions_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    UPDATE definitions_generation SET generation = generation + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER definitions_changed
    AFTER INSERT OR UPDATE OR DELETE ON definitions
    FOR EACH ROW EXECUTE FUNCTION definitions_changed();

CREATE TABLE workers (
    id           text COLLATE "C" PRIMARY KEY,
    heartbeat_us bigint NOT NULL,          -- server clock, µs since the Unix epoch
    body         text NOT NULL             -- JSON of attune_core's Worker
);
