//! The host's API of policies: register, remove, list, queue statistics, attempts.

use super::super::Engine;
use super::QueueStats;
use crate::model::validate_ref;
use crate::model::{Definition, DefinitionKind, Execution, ExecutionId, Policy, PolicyKind};
use crate::store::{ExecutionFilter, StoreExt};
use crate::{Error, Result};

/// # Policies
///
/// Concurrency limits (with a FIFO queue or cancel), rate limits and retries of an action.
/// Packs declare them in `policies/`; a host registers them here. Rules of combination:
/// an execution starts only when every concurrency and rate-limit policy of its action
/// admits it; it waits (`delayed`, in request order) otherwise, unless a concurrency policy
/// at its limit says `cancel`. A change of policies applies at once to what waits.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
/// use attune_core::Engine;
/// use attune_core::model::{ConcurrencyOverflow, Policy, PolicyKind};
/// use serde_json::json;
///
/// let engine = Engine::builder().build().await?;
/// engine.register_fn("demo.deploy", |_| async { Ok(json!("deployed")) }).await?;
/// engine.register_policy(Policy {
///     policy_ref: "demo.one_deploy_at_a_time".into(),
///     action: "demo.deploy".into(),
///     kind: PolicyKind::Concurrency {
///         limit: 1,
///         overflow: ConcurrencyOverflow::Delay,
///         attributes: vec![],
///     },
///     enabled: true,
/// }).await?;
/// let ids = [
///     engine.execute("demo.deploy", json!({})).await?,
///     engine.execute("demo.deploy", json!({})).await?,
/// ];
/// engine.settle(std::time::Duration::from_secs(5)).await?;
/// for id in ids {
///     assert_eq!(engine.execution(id).await?.result, Some(json!("deployed")));
/// }
/// let stats = engine.queue_stats("demo.deploy").await?;
/// assert_eq!((stats.queued, stats.running, stats.limit), (0, 0, Some(1)));
/// # Ok(()) }
/// ```
impl Engine {
    /// Registers (or replaces) a policy. Its action must be registered; a concurrency
    /// limit, a rate limit's `max` and a retry's `max_attempts` must be at least 1; times
    /// must be finite, a rate window positive. What waits for the action is admitted again
    /// under the new rules.
    pub async fn register_policy(&self, policy: Policy) -> Result<()> {
        validate_ref("policy", &policy.policy_ref)?;
        check(&policy)?;
        if self.shared.catalog.action(&policy.action).is_none() {
            return Err(Error::invalid(
                format!("policy '{}'", policy.policy_ref),
                format!("action '{}' does not exist", policy.action),
            ));
        }
        let _changing = self.shared.definitions.lock().await;
        self.shared
            .store
            .put_definition(Definition::Policy(policy.clone()))
            .await?;
        let action = policy.action.clone();
        let old = self.shared.catalog.put_policy(policy);
        super::configure(&self.shared, &action).await?;
        if let Some(old) = old.filter(|o| o.action != action) {
            super::configure(&self.shared, &old.action).await?;
        }
        Ok(())
    }

    /// Removes a policy; returns whether it existed. What waited for it is admitted as the
    /// remaining policies allow.
    pub async fn remove_policy(&self, policy_ref: &str) -> Result<bool> {
        let _changing = self.shared.definitions.lock().await;
        let existed = self
            .shared
            .store
            .delete_definition(DefinitionKind::Policy, policy_ref)
            .await?;
        if let Some(old) = self.shared.catalog.remove_policy(policy_ref) {
            super::configure(&self.shared, &old.action).await?;
            return Ok(true);
        }
        Ok(existed)
    }

    /// The registered policies (of packs and of the host), by ref; only those of `action`
    /// when given.
    pub fn policies(&self, action: Option<&str>) -> Vec<Policy> {
        let all = match action {
            Some(a) => self.shared.catalog.policies_for(a),
            None => self.shared.catalog.all_policies(),
        };
        all.into_iter().map(|p| (*p).clone()).collect()
    }

    /// A registered policy.
    pub fn policy(&self, policy_ref: &str) -> Option<Policy> {
        self.shared.catalog.policy(policy_ref).map(|p| (*p).clone())
    }

    /// The queue of `action`: executions waiting and holding a slot, its limit, the oldest
    /// wait, and what its policies decided since the engine started (those counts are 0
    /// for an action without gating policies: its figures then come from the store).
    pub async fn queue_stats(&self, action: &str) -> Result<QueueStats> {
        super::stats(&self.shared, action).await
    }

    /// Every attempt of the execution `id` belongs to — the first and its retries — in
    /// order.
    pub async fn attempts(&self, id: ExecutionId) -> Result<Vec<Execution>> {
        let store = &self.shared.store;
        let e = store.get_execution(id).await?;
        let first_id = e.retry_of.unwrap_or(e.id);
        let first = if first_id == e.id {
            e
        } else {
            store.get_execution(first_id).await?
        };
        let mut out = vec![first];
        store
            .each_execution(&ExecutionFilter::new().retry_of(first_id), &mut |x| {
                out.push(x.clone())
            })
            .await?;
        out.sort_by_key(|x| x.attempt);
        Ok(out)
    }
}

/// The settings of a policy registered by a host, checked as a pack's are.
fn check(p: &Policy) -> Result<()> {
    let what = format!("policy '{}'", p.policy_ref);
    let bad = |m: String| Err(Error::invalid(&what, m));
    let seconds = |name: &str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                &what,
                format!("{name} must be a number of seconds, 0 or more, got {v}"),
            ))
        }
    };
    match &p.kind {
        PolicyKind::Concurrency { limit: 0, .. } => {
            bad("the concurrency limit must be at least 1".into())
        }
        PolicyKind::RateLimit { max: 0, .. } => {
            bad("the rate limit's max must be at least 1".into())
        }
        PolicyKind::RateLimit { window_secs, .. }
            if !(window_secs.is_finite() && *window_secs > 0.0) =>
        {
            bad(format!(
                "the rate window must be a positive number of seconds, got {window_secs}"
            ))
        }
        PolicyKind::Retry {
            max_attempts: 0, ..
        } => bad("max_attempts must be at least 1".into()),
        PolicyKind::Retry {
            delay_secs,
            max_delay_secs,
            ..
        } => {
            seconds("delay_secs", *delay_secs)?;
            if let Some(m) = max_delay_secs {
                seconds("max_delay_secs", *m)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
