//! The shapes of the API's answers, for the OpenAPI document ([`super::openapi`]).
//!
//! The handlers build these answers as JSON (`models.rs` and the resource files); the types
//! here only describe them. They cannot drift unseen: the fuzzing pass
//! (`tests/openapi.rs`, schemathesis) checks every answer it gets against them.
//! Optional fields are those an answer leaves out or sets to null.

#![allow(dead_code)] // described, never built

use serde_json::Value;
use utoipa::ToSchema;

/// An error: StackStorm's `{"faultstring": ...}`.
#[derive(ToSchema)]
pub(crate) struct Fault {
    /// What went wrong, naming what and where.
    faultstring: String,
    /// On a 409, the id of the resource that already exists.
    #[serde(rename = "conflict-id")]
    conflict_id: Option<String>,
}

/// StackStorm's `ActionAPI`.
#[derive(ToSchema)]
pub(crate) struct ActionApi {
    /// The action's ref (`pack.name`); StackStorm's ids are refs here.
    id: String,
    r#ref: String,
    uid: String,
    name: String,
    pack: String,
    description: String,
    enabled: bool,
    /// StackStorm's runner type (`local-shell-cmd`, `python-script`, `orquesta`, ...).
    runner_type: String,
    entry_point: String,
    /// The parameters' JSON schemas, by name.
    #[schema(value_type = Object)]
    parameters: Value,
    output_schema: Option<Value>,
    tags: Vec<String>,
}

/// StackStorm's `RunnerTypeAPI` (Attune declares parameters on each action).
#[derive(ToSchema)]
pub(crate) struct RunnerTypeApi {
    id: String,
    uid: String,
    name: String,
    description: String,
    enabled: bool,
    runner_module: String,
    #[schema(value_type = Object)]
    runner_parameters: Value,
}

/// StackStorm's `ActionExecutionAPI` (fields named in `exclude_attributes` left out).
#[derive(ToSchema)]
pub(crate) struct ExecutionApi {
    id: Option<String>,
    /// The action (its `ActionAPI` when it is registered here).
    #[schema(value_type = Option<Object>)]
    action: Option<Value>,
    #[schema(value_type = Option<Object>)]
    runner: Option<Value>,
    /// `requested`, `scheduled`, `running`, `succeeded`, `failed`, ...
    status: Option<String>,
    parameters: Option<Value>,
    /// `user`, `pack`, and the `rule`, `trigger_instance` and `parent` that caused it.
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
    start_timestamp: Option<String>,
    end_timestamp: Option<String>,
    elapsed_seconds: Option<f64>,
    /// The action's result (or `{"error": ...}`), once finished.
    result: Option<Value>,
    /// The parent execution's id (a workflow task's workflow).
    parent: Option<String>,
    #[schema(value_type = Option<Object>)]
    liveaction: Option<Value>,
}

/// StackStorm's `RuleAPI`.
#[derive(ToSchema)]
pub(crate) struct RuleApi {
    id: String,
    r#ref: String,
    uid: String,
    name: String,
    pack: String,
    description: String,
    enabled: bool,
    /// `{ref: "standard" | "backstop", parameters}`.
    #[schema(value_type = Object)]
    r#type: Value,
    /// `{type: TRIGGER_REF, parameters}`.
    #[schema(value_type = Object)]
    trigger: Value,
    /// StackStorm's criteria, by payload path.
    criteria: Value,
    /// `{ref: ACTION_REF, parameters}`.
    #[schema(value_type = Object)]
    action: Value,
    tags: Vec<String>,
    /// Attune's criteria expression, when the rule has one.
    expression: Option<String>,
}

/// A rule as sent to create or replace one: a pack's rule file as JSON (unknown keys are
/// refused, naming them).
#[derive(ToSchema)]
pub(crate) struct RuleBody {
    name: String,
    /// The pack (`default` when absent).
    pack: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    /// `{type: TRIGGER_REF, parameters}`.
    #[schema(value_type = Object)]
    trigger: Value,
    /// StackStorm's criteria, by payload path.
    #[schema(value_type = Option<Object>)]
    criteria: Option<Value>,
    /// `{ref: ACTION_REF, parameters}`.
    #[schema(value_type = Object)]
    action: Value,
}

/// StackStorm's `TriggerTypeAPI`.
#[derive(ToSchema)]
pub(crate) struct TriggerTypeApi {
    id: String,
    r#ref: String,
    uid: String,
    name: String,
    pack: String,
    description: String,
    parameters_schema: Value,
    payload_schema: Value,
    tags: Vec<String>,
}

/// StackStorm's `TriggerInstanceAPI`: an event.
#[derive(ToSchema)]
pub(crate) struct TriggerInstanceApi {
    id: String,
    trigger: String,
    occurrence_time: String,
    payload: Value,
    /// `pending` until the rules have seen it, then `processed`.
    status: String,
}

/// One item of a trace: `caused_by` is `{type, id}` (`trigger_instance`, `rule` or
/// `action_execution`), `{}` for the root.
#[derive(ToSchema)]
pub(crate) struct TraceComponentApi {
    object_id: String,
    /// The trigger type's, rule's or action's ref.
    r#ref: String,
    updated_at: String,
    #[schema(value_type = Object)]
    caused_by: Value,
}

/// StackStorm's `TraceAPI`: what one event (or an execution a caller started) set going.
#[derive(ToSchema)]
pub(crate) struct TraceApi {
    /// The root's id: the event's, or the execution's.
    id: String,
    uid: String,
    trace_tag: Option<String>,
    start_timestamp: String,
    trigger_instances: Vec<TraceComponentApi>,
    rules: Vec<TraceComponentApi>,
    action_executions: Vec<TraceComponentApi>,
}

/// StackStorm's `RuleEnforcementAPI`.
#[derive(ToSchema)]
pub(crate) struct RuleEnforcementApi {
    id: String,
    /// `{ref, id, uid}` of the rule.
    #[schema(value_type = Object)]
    rule: Value,
    trigger_instance_id: String,
    execution_id: Option<String>,
    failure_reason: Option<String>,
    enforced_at: String,
    /// `succeeded` or `failed`.
    status: String,
}

/// StackStorm's `PackAPI`.
#[derive(ToSchema)]
pub(crate) struct PackApi {
    id: String,
    r#ref: String,
    uid: String,
    name: String,
    description: String,
    version: String,
    author: Option<String>,
}

/// StackStorm's `SensorTypeAPI`.
#[derive(ToSchema)]
pub(crate) struct SensorTypeApi {
    id: String,
    r#ref: String,
    uid: String,
    name: String,
    pack: String,
    runner: String,
    trigger_types: Vec<String>,
    /// Whether an enabled rule uses one of its trigger types (the sensor then runs).
    enabled: bool,
    state: String,
}

/// StackStorm's `PolicyAPI`.
#[derive(ToSchema)]
pub(crate) struct PolicyApi {
    id: String,
    r#ref: String,
    uid: String,
    name: String,
    pack: String,
    /// The action it governs.
    resource_ref: String,
    policy_type: String,
    #[schema(value_type = Object)]
    parameters: Value,
    enabled: bool,
}

/// StackStorm's `InquiryAPI` (a pending inquiry).
#[derive(ToSchema)]
pub(crate) struct InquiryApi {
    id: String,
    route: Option<String>,
    /// Minutes it waits for a response.
    ttl: Option<u64>,
    users: Vec<String>,
    roles: Vec<String>,
    /// The JSON schema a response must satisfy.
    schema: Value,
    status: String,
    parent: Option<String>,
    #[schema(value_type = Object)]
    liveaction: Value,
    created: String,
    expires: String,
}

/// The answer to an inquiry's response.
#[derive(ToSchema)]
pub(crate) struct InquiryResponded {
    id: String,
    response: Value,
}

/// StackStorm's `KeyValuePairAPI`.
#[derive(ToSchema)]
pub(crate) struct KeyApi {
    /// `SCOPE:NAME`.
    id: String,
    uid: String,
    name: String,
    /// The value; a secret's ciphertext unless decrypted.
    value: String,
    secret: bool,
    encrypted: bool,
    /// `st2kv.system`, `st2kv.user` or `st2kv.pack`.
    scope: String,
    user: Option<String>,
    expire_timestamp: Option<String>,
}

/// StackStorm's `ApiKeyAPI`; `key` only in the answer to the creation.
#[derive(ToSchema)]
pub(crate) struct ApiKeyApi {
    id: String,
    user: String,
    metadata: Value,
    enabled: bool,
    created_at: String,
    key_hash: String,
    uid: String,
    /// The key itself: shown once, when it is created.
    key: Option<String>,
}

/// A webhook: a path that rules listen on.
#[derive(ToSchema)]
pub(crate) struct WebhookApi {
    url: String,
    r#type: String,
    #[schema(value_type = Object)]
    parameters: Value,
    description: String,
    rules: Vec<String>,
    /// Whether calls must carry a signature (`X-Hub-Signature-256`).
    signed: bool,
}

/// StackStorm's `TokenAPI`.
#[derive(ToSchema)]
pub(crate) struct TokenApi {
    id: String,
    user: String,
    token: String,
    /// Seconds it lives.
    ttl: u64,
    expiry: String,
    #[schema(value_type = Object)]
    metadata: Value,
}

/// Whether a token is valid.
#[derive(ToSchema)]
pub(crate) struct TokenValidity {
    valid: bool,
}

/// Who the caller is (`st2 whoami`).
#[derive(ToSchema)]
pub(crate) struct UserApi {
    username: String,
    /// How the caller authenticated.
    #[schema(value_type = Object)]
    authentication: Value,
    /// `{enabled, roles, is_admin}`.
    #[schema(value_type = Object)]
    rbac: Value,
}

/// The API root.
#[derive(ToSchema)]
pub(crate) struct VersionApi {
    version: String,
    server: String,
}

/// A workflow execution's task graph.
#[derive(ToSchema)]
pub(crate) struct GraphApi {
    /// `mermaid` or `dot`.
    format: String,
    /// The graph's text, its tasks coloured by status.
    graph: String,
    /// Each task's status, by task name (tasks not run are absent).
    #[schema(value_type = Object)]
    tasks: Value,
}
