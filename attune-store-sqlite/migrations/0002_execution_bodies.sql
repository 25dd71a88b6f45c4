-- attune-store-sqlite schema version 2.
--
-- An execution's status changes three or more times, and SQLite rewrites a whole row on
-- every UPDATE: with the body (params included) in the row, that rewrite was most of the
-- writer's work. From version 2 the body, written once, lives in `execution_bodies`, and a
-- change rewrites only the small row in `executions`, with `state`: the JSON of the fields
-- that changed after insert (status, result, error, stdout, stderr, attempt, worker, lease,
-- updated, started, finished; times as integer nanoseconds). The stored execution is the
-- body with `state` laid over it; `state` is NULL until the first change (and in rows
-- moved from version 1, whose body is complete).
CREATE TABLE execution_bodies (
    exec_id BLOB PRIMARY KEY,   -- executions.id
    body    TEXT NOT NULL
);
INSERT INTO execution_bodies (exec_id, body) SELECT id, body FROM executions;
ALTER TABLE executions DROP COLUMN body;
ALTER TABLE executions ADD COLUMN state TEXT;
