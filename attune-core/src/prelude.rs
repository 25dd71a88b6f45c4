//! What a host writes daily, in one import: `use attune_core::prelude::*;`.
//!
//! The engine and its builder, the definitions a host registers, the records it reads back
//! with their ids and statuses, the filters and pages to list them, the store it may pick,
//! and what a native action handler's signature needs. Everything here is also at its own
//! path; the prelude only gathers it.
//!
//! ```
//! use attune_core::prelude::*;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<()> {
//! let engine = Engine::builder().build().await?;
//! engine
//!     .register_fn("demo.hello", |ctx: ActionContext| async move {
//!         Ok(json!({ "hello": ctx.param("name").cloned() }))
//!     })
//!     .await?;
//! let done: Execution = engine.run("demo.hello", json!({"name": "world"})).await?;
//! assert_eq!(done.status, ExecutionStatus::Succeeded);
//! let failed = engine
//!     .count_executions(&ExecutionFilter::new().status(ExecutionStatus::Failed))
//!     .await?;
//! assert_eq!(failed, 0);
//! engine.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```

pub use crate::model::{
    Action, Enforcement, EnforcementId, EnforcementStatus, Event, EventId, Execution, ExecutionId,
    ExecutionStatus, Name, Pack, Rule, TriggerType,
};
pub use crate::params::ParamSpec;
pub use crate::runtime::{ActionContext, CancellationToken, Runtime};
pub use crate::store::{
    EnforcementFilter, EventFilter, ExecutionFilter, MemoryStore, Page, Store, StoreExt,
};
pub use crate::{Engine, EngineBuilder, Error, Result, Retention};
