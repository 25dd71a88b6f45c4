-- attune-store-postgres schema version 1, created in the store's own PostgreSQL schema
-- (`attune` unless configured), which the connections' search_path names.
--
-- Every record keeps its JSON (serde of the attune_core model type) in `body`; the other
-- columns are what queries, unique keys, claims and retention need. Ids are UUIDv7
-- (`uuid` compares as bytes, so `ORDER BY id` is creation order). `created` columns are
-- integer microseconds since the Unix epoch (what filters compare); an execution's times
-- that change after insert are integer nanoseconds (exact). Refs and names sort as bytes
-- (COLLATE "C"), as Rust strings do.

CREATE TABLE definitions (
    kind    text NOT NULL,                -- DefinitionKind::as_str
    def_ref text COLLATE "C" NOT NULL,
    pack    text COLLATE "C" NOT NULL,    -- Definition::pack
    body    text NOT NULL,
    PRIMARY KEY (kind, def_ref)
);
CREATE INDEX definitions_pack ON definitions (pack);

-- Events are never updated: what changes about them lives in the two sets below.
CREATE TABLE events (
    id          uuid PRIMARY KEY,
    trigger_ref text COLLATE "C" NOT NULL,
    created     bigint NOT NULL,
    body        text NOT NULL
);
CREATE INDEX events_trigger ON events (trigger_ref, id);
-- Events not marked matched yet (Store::mark_events_matched).
CREATE TABLE unmatched_events (id uuid PRIMARY KEY);
-- Events matched without any enforcement referring to them: what retention may delete.
CREATE TABLE orphan_events (
    id      uuid PRIMARY KEY,
    created bigint NOT NULL
);

CREATE TABLE enforcements (
    id           uuid PRIMARY KEY,
    rule_ref     text COLLATE "C" NOT NULL,
    event_id     uuid NOT NULL,
    status       text NOT NULL,           -- EnforcementStatus::as_str
    execution_id uuid,
    created      bigint NOT NULL,
    body         text NOT NULL
);
CREATE UNIQUE INDEX enforcements_event_rule ON enforcements (event_id, rule_ref);
CREATE INDEX enforcements_rule ON enforcements (rule_ref, id);
CREATE INDEX enforcements_execution ON enforcements (execution_id)
    WHERE execution_id IS NOT NULL;
-- Enforcements no longer being applied (not 'created') whose execution, if they name one,
-- does not exist: what retention may delete.
CREATE TABLE done_enforcements (
    id       uuid PRIMARY KEY,
    created  bigint NOT NULL,
    event_id uuid NOT NULL
);

-- `body` is the execution as inserted; the columns from `status` to `stderr` hold what
-- changes after insert and are laid over it when the row is read.
CREATE TABLE executions (
    id             uuid PRIMARY KEY,
    action_ref     text COLLATE "C" NOT NULL,
    enforcement_id uuid,
    event_id       uuid,
    rule_ref       text COLLATE "C",
    parent_id      uuid,
    retry_of       uuid,
    created        bigint NOT NULL,
    status         text NOT NULL,         -- ExecutionStatus::as_str
    attempt        integer NOT NULL,
    worker         text,
    lease_ns       bigint,
    updated_ns     bigint NOT NULL,
    started_ns     bigint,
    finished_ns    bigint,
    result         text,                  -- JSON; NULL: none
    error          text,
    stdout         text NOT NULL,
    stderr         text NOT NULL,
    body           text NOT NULL
);
CREATE INDEX executions_status ON executions (status, id);
CREATE INDEX executions_scheduled ON executions (id) WHERE status = 'scheduled';
CREATE INDEX executions_lease ON executions (lease_ns) WHERE status = 'running';
CREATE UNIQUE INDEX executions_enforcement_attempt ON executions (enforcement_id, attempt)
    WHERE enforcement_id IS NOT NULL;
CREATE INDEX executions_action ON executions (action_ref, id);
CREATE INDEX executions_event ON executions (event_id, id) WHERE event_id IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id, id) WHERE parent_id IS NOT NULL;
CREATE INDEX executions_retry_of ON executions (retry_of, id) WHERE retry_of IS NOT NULL;
CREATE INDEX executions_rule ON executions (rule_ref, id) WHERE rule_ref IS NOT NULL;

-- The journal of each workflow run (Store::append_journal / read_journal).
CREATE TABLE workflow_journal (
    exec_id uuid NOT NULL,
    seq     bigint NOT NULL,
    step    text NOT NULL,
    PRIMARY KEY (exec_id, seq)
);

CREATE TABLE keys (
    scope_kind  smallint NOT NULL,        -- 0 system, 1 pack, 2 user: the order of KeyScope
    scope_owner text COLLATE "C" NOT NULL,  -- '' for system
    name        text COLLATE "C" NOT NULL,
    expires     bigint,                   -- µs; NULL: never
    body        text NOT NULL,
    PRIMARY KEY (scope_kind, scope_owner, name)
);

-- The Transport's work queues (PgTransport): one row per message not acknowledged yet, in
-- publish order (`seq`). A delivered row has the subscription that holds it (`owner`) and
-- a lease its process renews; a row whose lease lapsed (its process is gone) is freed and
-- delivered again. Fan-out topics use NOTIFY and have no rows.
CREATE TABLE queue (
    seq      bigserial PRIMARY KEY,
    topic    text NOT NULL,
    message  text NOT NULL,                -- JSON of attune_core's Message
    owner    uuid,
    lease_us bigint                        -- server clock, µs since the Unix epoch
);
CREATE INDEX queue_free ON queue (topic, seq) WHERE owner IS NULL;
CREATE INDEX queue_owner ON queue (owner) WHERE owner IS NOT NULL;
CREATE INDEX queue_lease ON queue (lease_us) WHERE owner IS NOT NULL;
