-- attune-store-sqlite schema version 3.
--
-- The journal of each workflow run: the steps it applied, in order, so that an engine
-- restarted on the file continues the run (`Store::append_journal` / `read_journal`).
-- Entries go with their execution (retention).
CREATE TABLE workflow_journal (
    exec_id BLOB NOT NULL,      -- executions.id of the workflow execution
    seq     INTEGER NOT NULL,   -- from 0, in the order applied
    step    TEXT NOT NULL,      -- JSON, read by the engine only
    PRIMARY KEY (exec_id, seq)
) WITHOUT ROWID;
