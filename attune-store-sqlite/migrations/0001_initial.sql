-- attune-store-sqlite schema version 1.
--
-- Every record keeps its whole JSON (serde of the attune_core model type) in `body`; the
-- other columns are what queries, unique keys and retention need. Ids are the 16 bytes of
-- the UUIDv7, so `ORDER BY id` is creation order; times are integer microseconds since the
-- Unix epoch.

CREATE TABLE definitions (
    kind    TEXT NOT NULL,          -- DefinitionKind::as_str
    def_ref TEXT NOT NULL,
    pack    TEXT NOT NULL,          -- Definition::pack
    body    TEXT NOT NULL,
    PRIMARY KEY (kind, def_ref)
);
CREATE INDEX definitions_pack ON definitions (pack);

-- Events are never updated: what changes about them lives in the two sets below.
CREATE TABLE events (
    id          BLOB PRIMARY KEY,
    trigger_ref TEXT NOT NULL,
    created     INTEGER NOT NULL,
    body        TEXT NOT NULL
);
-- Events not marked matched yet (Store::mark_events_matched).
CREATE TABLE unmatched_events (id BLOB PRIMARY KEY) WITHOUT ROWID;
-- Events no enforcement refers to (with their `created`): what retention may delete.
CREATE TABLE orphan_events (
    id      BLOB PRIMARY KEY,
    created INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE enforcements (
    id           BLOB PRIMARY KEY,
    rule_ref     TEXT NOT NULL,
    event_id     BLOB NOT NULL,
    status       TEXT NOT NULL,         -- EnforcementStatus::as_str
    execution_id BLOB,
    created      INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE UNIQUE INDEX enforcements_event_rule ON enforcements (event_id, rule_ref);
CREATE INDEX enforcements_execution ON enforcements (execution_id)
    WHERE execution_id IS NOT NULL;
-- Enforcements no longer being applied (not 'created') whose execution, if they name one,
-- does not exist (with their `created` and event): what retention may delete.
CREATE TABLE done_enforcements (
    id       BLOB PRIMARY KEY,
    created  INTEGER NOT NULL,
    event_id BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE executions (
    id             BLOB PRIMARY KEY,
    status         TEXT NOT NULL,       -- ExecutionStatus::as_str
    action_ref     TEXT NOT NULL,
    enforcement_id BLOB,
    event_id       BLOB,
    rule_ref       TEXT,
    parent_id      BLOB,
    attempt        INTEGER NOT NULL,
    worker         TEXT,
    lease_expires  INTEGER,
    created        INTEGER NOT NULL,
    body           TEXT NOT NULL
);
CREATE INDEX executions_status ON executions (status, id);
CREATE UNIQUE INDEX executions_enforcement_attempt ON executions (enforcement_id, attempt)
    WHERE enforcement_id IS NOT NULL;
CREATE INDEX executions_action ON executions (action_ref, id);
CREATE INDEX executions_event ON executions (event_id, id) WHERE event_id IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id, id) WHERE parent_id IS NOT NULL;

CREATE TABLE keys (
    scope_kind  INTEGER NOT NULL,       -- 0 system, 1 pack, 2 user: the order of KeyScope
    scope_owner TEXT NOT NULL,          -- '' for system
    name        TEXT NOT NULL,
    expires     INTEGER,
    body        TEXT NOT NULL,
    PRIMARY KEY (scope_kind, scope_owner, name)
);
