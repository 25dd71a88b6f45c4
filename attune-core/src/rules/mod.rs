//! Rules: StackStorm-compatible criteria, Rhai expressions, and the per-trigger index the
//! matching stage uses.

mod criteria;
mod index;
// The operator functions themselves: public for the StackStorm conformance vectors only.
#[doc(hidden)]
pub mod operators;
mod path;

pub use criteria::{
    Criteria, CriteriaError, CriteriaErrors, CriterionCheck, Evaluation, PatternRenderer,
};
pub(crate) use index::{CompiledRule, RuleIndex, TriggerRules, canonical_params};
pub use operators::Operator;
pub use path::{FieldPath, Scope};
