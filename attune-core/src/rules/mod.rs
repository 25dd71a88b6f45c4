//! Rules: StackStorm-compatible criteria, Rhai expressions, and the per-trigger index the
//! matching stage uses.

pub mod criteria;
mod index;
pub mod operators;
pub mod path;

pub use criteria::{
    Criteria, CriteriaError, CriteriaErrors, CriterionCheck, Evaluation, PatternRenderer,
};
pub use index::{CompiledRule, RuleIndex, TriggerRules};
pub use operators::Operator;
pub use path::{FieldPath, Scope};
