//! Inspection: the records the engine stored (events, enforcements, executions), read and
//! counted through the engine, for a host that does not hold the store itself.

use super::Engine;
use crate::Result;
use crate::model::{Enforcement, EnforcementId, Event, EventId, Execution};
use crate::store::{EnforcementFilter, EventFilter, ExecutionFilter, Page};

/// # Inspection: listing and counting
///
/// Every method reads the store the engine was built on, as [`Engine::store`] would; rows
/// come in creation (id) order, a page at a time: the next page starts after the last id
/// of this one ([`Page::after`]). Retention may have deleted older rows.
impl Engine {
    /// Reads an event.
    pub async fn event(&self, id: EventId) -> Result<Event> {
        self.shared.store.get_event(id).await
    }

    /// Reads an enforcement.
    pub async fn enforcement(&self, id: EnforcementId) -> Result<Enforcement> {
        self.shared.store.get_enforcement(id).await
    }

    /// One page of the events `filter` selects, in the page's order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::Engine;
    /// use attune_core::model::TriggerType;
    /// use attune_core::store::{EventFilter, Page};
    /// use serde_json::json;
    ///
    /// let engine = Engine::builder().build().await?;
    /// engine.register_trigger_type(TriggerType::new("demo.tick")).await?;
    /// engine.register_trigger_type(TriggerType::new("demo.tock")).await?;
    /// for n in 0..5 {
    ///     engine.emit("demo.tick", json!({ "n": n })).await?;
    /// }
    /// engine.emit("demo.tock", json!({})).await?;
    ///
    /// let ticks = EventFilter::new().trigger("demo.tick");
    /// assert_eq!(engine.count_events(&ticks).await?, 5);
    /// let first = engine.events(&ticks, Page::first(3)).await?;
    /// let rest = engine.events(&ticks, Page::after(first[2].id, 3)).await?;
    /// let seen: Vec<_> = first.iter().chain(&rest).map(|e| e.payload["n"].clone()).collect();
    /// assert_eq!(seen, [json!(0), json!(1), json!(2), json!(3), json!(4)]);
    /// # Ok(()) }
    /// ```
    pub async fn events(&self, filter: &EventFilter, page: Page) -> Result<Vec<Event>> {
        self.shared.store.list_events(filter, &page).await
    }

    /// How many events `filter` selects.
    pub async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        self.shared.store.count_events(filter).await
    }

    /// One page of the enforcements `filter` selects, in the page's order: what each rule did with
    /// each event it matched (`processed` naming the execution it created, or `failed` with
    /// the reason).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::Engine;
    /// use attune_core::model::{EnforcementStatus, Rule, TriggerType};
    /// use attune_core::store::{EnforcementFilter, Page};
    /// use serde_json::json;
    ///
    /// let engine = Engine::builder().build().await?;
    /// engine.register_trigger_type(TriggerType::new("demo.alert")).await?;
    /// engine.register_rule(Rule::new("demo.echo_alert", "demo.alert", "core.echo")
    ///     .param("message", json!("{{ trigger.text }}"))).await?;
    /// engine.emit("demo.alert", json!({ "text": "disk full" })).await?;
    /// engine.emit("demo.alert", json!({})).await?; // `trigger.text` is undefined: failed
    /// engine.settle(std::time::Duration::from_secs(10)).await?;
    ///
    /// let of_rule = EnforcementFilter::new().rule("demo.echo_alert");
    /// assert_eq!(engine.count_enforcements(&of_rule).await?, 2);
    /// let failed = engine
    ///     .enforcements(&of_rule.status(EnforcementStatus::Failed), Page::first(10))
    ///     .await?;
    /// assert_eq!(failed.len(), 1);
    /// assert!(failed[0].failure.as_deref().unwrap_or_default().contains("text"));
    /// # Ok(()) }
    /// ```
    pub async fn enforcements(
        &self,
        filter: &EnforcementFilter,
        page: Page,
    ) -> Result<Vec<Enforcement>> {
        self.shared.store.list_enforcements(filter, &page).await
    }

    /// How many enforcements `filter` selects.
    pub async fn count_enforcements(&self, filter: &EnforcementFilter) -> Result<u64> {
        self.shared.store.count_enforcements(filter).await
    }

    /// One page of the executions `filter` selects, in the page's order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::Engine;
    /// use attune_core::model::ExecutionStatus;
    /// use attune_core::store::{ExecutionFilter, Page};
    /// use serde_json::json;
    ///
    /// let engine = Engine::builder().build().await?;
    /// engine.run("core.echo", json!({ "message": "hi" })).await?;
    /// engine.run("core.error", json!({ "message": "boom" })).await?;
    /// engine.run("core.error", json!({ "message": "bang" })).await?;
    ///
    /// let failed = ExecutionFilter::new().action("core.error").status(ExecutionStatus::Failed);
    /// assert_eq!(engine.count_executions(&failed).await?, 2);
    /// let page = engine.executions(&failed, Page::first(10)).await?;
    /// assert_eq!(page[0].params["message"], json!("boom"));
    /// assert_eq!(engine.count_executions(&ExecutionFilter::new()).await?, 3);
    /// # Ok(()) }
    /// ```
    pub async fn executions(&self, filter: &ExecutionFilter, page: Page) -> Result<Vec<Execution>> {
        self.shared.store.list_executions(filter, &page).await
    }

    /// How many executions `filter` selects.
    pub async fn count_executions(&self, filter: &ExecutionFilter) -> Result<u64> {
        self.shared.store.count_executions(filter).await
    }
}
