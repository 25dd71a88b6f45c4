//! Compiled rule criteria (StackStorm `RuleFilter` semantics).
//!
//! Criteria are a JSON object `path -> {"type": operator, "pattern": value,
//! ...}`, all ANDed, evaluated in key order. Paths and literal regexes are
//! compiled once; string patterns containing `{{` or `{%` are templates
//! rendered at evaluation by a caller-supplied [`PatternRenderer`]. An error
//! inside an operator makes its criterion false.

use std::fmt;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use crate::rules::operators::{self, Operator, SearchCondition, type_name};
use crate::rules::path::{FieldPath, ItemScope, Scope};

/// Renders a templated pattern (the engine uses minijinja against the event).
pub trait PatternRenderer {
    /// Renders `template`, keeping the JSON type when it is a single expression (the engine
    /// also reads text that renders to JSON as that value: `Templates::render_pattern`).
    fn render(&self, template: &str) -> Result<Value, String>;
}

/// Whether a string pattern is a template (contains `{{` or `{%`).
pub(super) fn is_template(pattern: &str) -> bool {
    pattern.contains("{{") || pattern.contains("{%")
}

/// A problem found while compiling one criterion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("criterion '{key}': {message}")]
pub struct CriteriaError {
    /// The criterion key (`parent/child` for `search` children).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found while compiling criteria.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriteriaErrors {
    /// The individual errors, in key order.
    pub errors: Vec<CriteriaError>,
}

impl fmt::Display for CriteriaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CriteriaErrors {}

/// The result of evaluating one criterion in [`Criteria::explain`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CriterionCheck {
    /// The criterion key as written (suffix included).
    pub key: String,
    /// The operator's canonical name.
    pub operator: &'static str,
    /// The looked-up value (`None` when missing).
    pub value: Option<Value>,
    /// The pattern applied (the rendered value when templated).
    pub pattern: Value,
    /// Whether the criterion held.
    pub passed: bool,
    /// The operator or rendering error that made it fail, if any.
    pub error: Option<String>,
}

/// The detailed result of [`Criteria::explain`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Whether every criterion held.
    pub matched: bool,
    /// One check per criterion, in evaluation order.
    pub checks: Vec<CriterionCheck>,
}

/// Compiled criteria of a rule; empty criteria always match.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    criteria: Vec<Criterion>,
}

#[derive(Debug, Clone)]
struct Criterion {
    key: String,
    path: FieldPath,
    op: Operator,
    pattern: Value,
    template: bool,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Plain,
    Regex(Regex),
    Search {
        condition: SearchCondition,
        children: Criteria,
    },
}

type Renderer<'a> = Option<&'a dyn PatternRenderer>;

impl Criteria {
    /// Compiles criteria from JSON (an object; `null` means no criteria),
    /// collecting every error.
    pub fn compile(spec: &Value) -> Result<Criteria, CriteriaErrors> {
        let map = match spec {
            Value::Null => return Ok(Criteria::default()),
            Value::Object(map) => map,
            other => {
                let message = format!(
                    "criteria must be a JSON object, got {}",
                    type_name(Some(other))
                );
                return Err(CriteriaErrors {
                    errors: vec![CriteriaError {
                        key: String::new(),
                        message,
                    }],
                });
            }
        };
        let mut criteria = Vec::with_capacity(map.len());
        let mut errors = Vec::new();
        for (key, spec) in map {
            match Criterion::compile(key, spec) {
                Ok(criterion) => criteria.push(criterion),
                Err(mut found) => errors.append(&mut found),
            }
        }
        if errors.is_empty() {
            Ok(Criteria { criteria })
        } else {
            Err(CriteriaErrors { errors })
        }
    }

    /// Whether there are no criteria (the rule always matches).
    pub fn is_empty(&self) -> bool {
        self.criteria.is_empty()
    }

    /// The number of top-level criteria.
    pub fn len(&self) -> usize {
        self.criteria.len()
    }

    /// The templated patterns, search children included, as `(key, source)` (a child's key
    /// is `parent/child`): what a caller compiles once and renders by source.
    pub fn templates(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        for c in &self.criteria {
            match (&c.kind, &c.pattern) {
                (Kind::Search { children, .. }, _) => out.extend(
                    children
                        .templates()
                        .into_iter()
                        .map(|(k, src)| (format!("{}/{k}", c.key), src)),
                ),
                (Kind::Plain, Value::String(src)) if c.template && c.op.uses_pattern() => {
                    out.push((c.key.clone(), src.as_str()));
                }
                _ => {}
            }
        }
        out
    }

    /// The criterion keys, in evaluation order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.criteria.iter().map(|c| c.key.as_str())
    }

    /// Whether every criterion holds; stops at the first that does not.
    /// Allocates nothing for literal patterns unless an operator errors.
    pub fn matches(&self, scope: &dyn Scope, renderer: Renderer<'_>, now: DateTime<Utc>) -> bool {
        self.criteria.iter().all(|c| c.passes(scope, renderer, now))
    }

    /// Like [`Criteria::matches`], but an operator error is returned (naming the criterion)
    /// instead of counting as false: the engine records it on the enforcement.
    pub fn check(
        &self,
        scope: &dyn Scope,
        renderer: Renderer<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, CriteriaError> {
        for c in &self.criteria {
            match c.evaluate(c.path.lookup(scope), renderer, now).0 {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(message) => {
                    return Err(CriteriaError {
                        key: c.key.clone(),
                        message,
                    });
                }
            }
        }
        Ok(true)
    }

    /// Evaluates every criterion and reports each one (for a rule tester).
    pub fn explain(
        &self,
        scope: &dyn Scope,
        renderer: Renderer<'_>,
        now: DateTime<Utc>,
    ) -> Evaluation {
        let checks: Vec<CriterionCheck> = self
            .criteria
            .iter()
            .map(|c| {
                let value = c.path.lookup(scope);
                let (result, rendered) = c.evaluate(value, renderer, now);
                CriterionCheck {
                    key: c.key.clone(),
                    operator: c.op.name(),
                    value: value.cloned(),
                    pattern: rendered.unwrap_or_else(|| c.pattern.clone()),
                    passed: result == Ok(true),
                    error: result.err(),
                }
            })
            .collect();
        Evaluation {
            matched: checks.iter().all(|c| c.passed),
            checks,
        }
    }
}

impl Criterion {
    fn compile(key: &str, spec: &Value) -> Result<Criterion, Vec<CriteriaError>> {
        let error = |message: String| CriteriaError {
            key: key.to_string(),
            message,
        };
        let mut errors = Vec::new();
        let path = FieldPath::parse(key)
            .map_err(|e| errors.push(error(e.to_string())))
            .ok();
        let Value::Object(obj) = spec else {
            let got = type_name(Some(spec));
            errors.push(error(format!(
                "must be an object with 'type' and 'pattern', got {got}"
            )));
            return Err(errors);
        };
        let op = match obj.get("type") {
            Some(Value::String(name)) => Operator::from_name(name).or_else(|| {
                let nearest = Operator::suggest(name);
                errors.push(error(format!(
                    "unknown operator '{name}'; did you mean '{nearest}'?"
                )));
                None
            }),
            Some(other) => {
                errors.push(error(format!(
                    "'type' must be a string, got {}",
                    type_name(Some(other))
                )));
                None
            }
            None => {
                let names: Vec<&str> = Operator::ALL.iter().map(|op| op.name()).collect();
                errors.push(error(format!(
                    "missing 'type' (one of: {})",
                    names.join(", ")
                )));
                None
            }
        };
        for k in obj.keys() {
            if !["type", "pattern", "condition"].contains(&k.as_str()) {
                let hint = crate::text::nearest(k, ["type", "pattern", "condition"])
                    .map(|h| format!("; did you mean '{h}'?"))
                    .unwrap_or_default();
                errors.push(error(format!("unknown key '{k}'{hint}")));
            }
        }
        let pattern = obj.get("pattern").cloned().unwrap_or(Value::Null);
        let template = matches!(&pattern, Value::String(s) if is_template(s));
        let kind = match (op, &pattern) {
            (None, _) => None,
            (Some(Operator::Search), _) => compile_search(key, obj, &pattern, &mut errors),
            (Some(op), Value::String(source)) if op.uses_regex() && !template => {
                match operators::compile_regex(op, source) {
                    Ok(regex) => Some(Kind::Regex(regex)),
                    Err(e) => {
                        errors.push(error(format!("invalid regex {source:?}: {e}")));
                        None
                    }
                }
            }
            (Some(_), _) => Some(Kind::Plain),
        };
        match (path, op, kind) {
            (Some(path), Some(op), Some(kind)) if errors.is_empty() => Ok(Criterion {
                key: key.to_string(),
                path,
                op,
                pattern,
                template,
                kind,
            }),
            _ => Err(errors),
        }
    }

    fn passes(&self, scope: &dyn Scope, renderer: Renderer<'_>, now: DateTime<Utc>) -> bool {
        self.evaluate(self.path.lookup(scope), renderer, now).0 == Ok(true)
    }

    /// The operator's result and, for a templated pattern, the rendered pattern.
    fn evaluate(
        &self,
        value: Option<&Value>,
        renderer: Renderer<'_>,
        now: DateTime<Utc>,
    ) -> (Result<bool, String>, Option<Value>) {
        match &self.kind {
            Kind::Search {
                condition,
                children,
            } => (search(*condition, children, value, renderer, now), None),
            Kind::Regex(regex) => (operators::apply_regex(self.op, value, regex), None),
            Kind::Plain => match &self.pattern {
                Value::String(template) if self.template && self.op.uses_pattern() => {
                    let Some(renderer) = renderer else {
                        return (
                            Err("pattern is a template but no renderer was supplied".to_string()),
                            None,
                        );
                    };
                    match renderer.render(template) {
                        Ok(rendered) => (
                            operators::apply(self.op, value, &rendered, now),
                            Some(rendered),
                        ),
                        Err(e) => (Err(format!("cannot render pattern template: {e}")), None),
                    }
                }
                pattern => (operators::apply(self.op, value, pattern, now), None),
            },
        }
    }
}

fn compile_search(
    key: &str,
    obj: &Map<String, Value>,
    pattern: &Value,
    errors: &mut Vec<CriteriaError>,
) -> Option<Kind> {
    let error = |message: String| CriteriaError {
        key: key.to_string(),
        message,
    };
    let condition = match obj.get("condition") {
        Some(Value::String(name)) => SearchCondition::parse(name)
            .map_err(|e| errors.push(error(e)))
            .ok(),
        other => {
            let got = type_name(other);
            errors.push(error(format!(
                "search needs a 'condition' (any, all, any2any or all2any), got {got}"
            )));
            None
        }
    };
    let children = match pattern {
        Value::Object(_) => Criteria::compile(pattern)
            .map_err(|e| {
                errors.extend(e.errors.into_iter().map(|child| CriteriaError {
                    key: format!("{key}/{}", child.key),
                    message: child.message,
                }));
            })
            .ok(),
        other => {
            let got = type_name(Some(other));
            errors.push(error(format!(
                "search pattern must be an object of child criteria, got {got}"
            )));
            None
        }
    };
    Some(Kind::Search {
        condition: condition?,
        children: children?,
    })
}

/// st2's `search`: a list value (an object counts as a one-item list), each
/// item exposed as `item` to the child criteria; child errors count as false.
fn search(
    condition: SearchCondition,
    children: &Criteria,
    value: Option<&Value>,
    renderer: Renderer<'_>,
    now: DateTime<Utc>,
) -> Result<bool, String> {
    let items: &[Value] = match value {
        Some(Value::Array(items)) => items,
        Some(item @ Value::Object(_)) => std::slice::from_ref(item),
        other => {
            return Err(format!(
                "search needs a list (or object) value, got {}",
                type_name(other)
            ));
        }
    };
    let every_child = |item: &Value| children.matches(&ItemScope { item }, renderer, now);
    let some_child = |item: &Value| {
        children
            .criteria
            .iter()
            .any(|c| c.passes(&ItemScope { item }, renderer, now))
    };
    Ok(match condition {
        SearchCondition::Any => items.iter().any(every_child),
        SearchCondition::All => items.iter().all(every_child),
        SearchCondition::Any2Any => items.iter().any(some_child),
        SearchCondition::All2Any => items.iter().all(some_child),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Echo;
    impl PatternRenderer for Echo {
        fn render(&self, template: &str) -> Result<Value, String> {
            match template {
                "{{ trigger.n }}" => Ok(json!(3)),
                "{{ host }}" => Ok(json!("web-01")),
                "{{ re }}" => Ok(json!("^w.b")),
                "{{ bad_re }}" => Ok(json!("(")),
                _ => Err(format!("undefined: {template}")),
            }
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn compile(spec: Value) -> Criteria {
        match Criteria::compile(&spec) {
            Ok(criteria) => criteria,
            Err(e) => panic!("{spec}: {e}"),
        }
    }

    fn compile_err(spec: Value) -> CriteriaErrors {
        match Criteria::compile(&spec) {
            Ok(criteria) => panic!("{spec} compiled: {criteria:?}"),
            Err(e) => e,
        }
    }

    fn payload() -> Value {
        json!({"trigger": {"body": {"host": "WEB-01"}, "count": 5, "n": 3, "flag": false,
            "items": [{"name": "alpha", "v": 1}, {"name": "beta", "v": 2}],
            "headers": {"X-Key": "k"}, "when": "2026-01-01T11:59:58Z"}})
    }

    #[test]
    fn example_rule_matches() {
        let criteria = compile(json!({
            "trigger.body.host": {"type": "iequals", "pattern": "web-01"},
            "trigger.count#2": {"type": "gt", "pattern": 3},
            "trigger.count": {"type": "lt", "pattern": 10},
            "trigger.items[0].name": {"type": "regex", "pattern": "^a"},
            "trigger.headers['X-Key']": {"type": "exists"},
            "trigger.when": {"type": "td_lt", "pattern": 5},
        }));
        assert_eq!(criteria.len(), 6);
        assert!(!criteria.is_empty());
        assert!(criteria.matches(&payload(), None, now()));
        let keys: Vec<&str> = criteria.keys().collect();
        assert_eq!(keys[0], "trigger.body.host");
    }

    #[test]
    fn empty_and_null_criteria_always_match() {
        for spec in [Value::Null, json!({})] {
            let criteria = compile(spec);
            assert!(criteria.is_empty());
            assert_eq!(criteria.len(), 0);
            assert!(criteria.matches(&Value::Null, None, now()));
            assert_eq!(
                criteria.explain(&Value::Null, None, now()),
                Evaluation {
                    matched: true,
                    checks: vec![]
                }
            );
        }
    }

    #[test]
    fn compile_errors_are_collected() {
        let errors = compile_err(json!({
            "a..b": {"type": "equals", "pattern": 1},
            "t.re": {"type": "regex", "pattern": "(unclosed"},
            "t.x": {"type": "equal", "pattern": 1},
            "t.y": {"pattern": 1},
            "t.z": "equals",
            "t.s": {"type": "search", "condition": "weird", "pattern": []},
            "t.c": {"type": "search", "condition": "any", "pattern": {
                "item.q": {"type": "regx"}, "item.r": {"type": "matchwildcard", "pattern": "["}}},
        }))
        .errors;
        let find = |key: &str| {
            errors
                .iter()
                .filter(|e| e.key == key)
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
        };
        assert!(find("a..b")[0].contains("empty segment"));
        assert!(
            find("t.re")[0].starts_with("invalid regex \"(unclosed\""),
            "{errors:?}"
        );
        assert_eq!(
            find("t.x"),
            ["unknown operator 'equal'; did you mean 'equals'?"]
        );
        assert!(find("t.y")[0].starts_with("missing 'type' (one of: equals, nequals"));
        assert!(find("t.z")[0].contains("got string"));
        assert_eq!(find("t.s").len(), 2);
        assert!(find("t.s")[0].contains("unrecognized search condition 'weird'"));
        assert!(find("t.c/item.q")[0].contains("did you mean 'regex'"));
        assert_eq!(find("t.c/item.r").len(), 0, "'[' alone is a literal glob");
        let text = CriteriaErrors {
            errors: errors[..2].to_vec(),
        }
        .to_string();
        assert!(
            text.starts_with("criterion 'a..b': invalid field path")
                && text.contains("; criterion '"),
            "{text}"
        );
        assert!(Criteria::compile(&json!([1])).is_err());
    }

    #[test]
    fn search_over_items() {
        let spec = |condition: &str| {
            json!({"trigger.items": {"type": "search", "condition": condition, "pattern": {
                "item.name": {"type": "startswith", "pattern": "a"}, "item.v#1": {"type": "gt", "pattern": 0}}}})
        };
        let p = payload();
        assert!(compile(spec("any")).matches(&p, None, now()));
        assert!(!compile(spec("all")).matches(&p, None, now()));
        assert!(compile(spec("all2any")).matches(&p, None, now()));
        assert!(compile(spec("any2any")).matches(&p, None, now()));
    }

    #[test]
    fn search_on_non_list_is_an_error() {
        let criteria = compile(
            json!({"trigger.count": {"type": "search", "condition": "any",
            "pattern": {"item.x": {"type": "exists"}}}}),
        );
        assert!(!criteria.matches(&payload(), None, now()));
        let evaluation = criteria.explain(&payload(), None, now());
        assert!(!evaluation.matched);
        let check = &evaluation.checks[0];
        assert_eq!(
            (check.operator, check.passed, check.value.clone()),
            ("search", false, Some(json!(5)))
        );
        assert!(
            check
                .error
                .as_deref()
                .is_some_and(|e| e.contains("got number")),
            "{check:?}"
        );
    }

    #[test]
    fn templated_patterns_use_the_renderer() {
        let criteria = compile(json!({
            "trigger.n": {"type": "equals", "pattern": "{{ trigger.n }}"},
            "trigger.body.host": {"type": "iregex", "pattern": "{{ re }}"},
        }));
        assert!(criteria.matches(&payload(), Some(&Echo), now()));
        let evaluation = criteria.explain(&payload(), Some(&Echo), now());
        assert!(evaluation.matched);
        // Checks follow the order of the criteria object (serde_json keeps insertion order).
        assert_eq!(evaluation.checks[0].pattern, json!(3));
        assert_eq!(evaluation.checks[1].pattern, json!("^w.b"));

        let without = criteria.explain(&payload(), None, now());
        assert!(!without.matched && !criteria.matches(&payload(), None, now()));
        assert!(without.checks.iter().all(|c| {
            c.error
                .as_deref()
                .is_some_and(|e| e.contains("no renderer"))
        }));

        let bad = compile(
            json!({"trigger.body.host": {"type": "regex", "pattern": "{{ bad_re }}"},
            "trigger.n": {"type": "equals", "pattern": "{{ nope }}"}}),
        );
        let evaluation = bad.explain(&payload(), Some(&Echo), now());
        assert!(
            evaluation
                .checks
                .iter()
                .all(|c| !c.passed && c.error.is_some()),
            "{evaluation:?}"
        );
        assert!(
            evaluation.checks[1]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("undefined"))
        );
    }

    #[test]
    fn errors_make_the_criterion_false() {
        let criteria = compile(json!({"trigger.body": {"type": "startswith", "pattern": "x"}}));
        let evaluation = criteria.explain(&payload(), None, now());
        assert!(!evaluation.matched && evaluation.checks[0].error.is_some());
    }

    #[test]
    fn matches_agrees_with_explain() {
        let operands = [
            json!({"type": "equals", "pattern": 5}),
            json!({"type": "equals", "pattern": "5"}),
            json!({"type": "exists"}),
            json!({"type": "nexists"}),
            json!({"type": "contains", "pattern": "E"}),
            json!({"type": "icontains", "pattern": "web"}),
            json!({"type": "matchwildcard", "pattern": "W*1"}),
            json!({"type": "td_gt", "pattern": "1"}),
            json!({"type": "in", "pattern": [3, 5]}),
            json!({"type": "search", "condition": "all", "pattern": {"item.v": {"type": "lt", "pattern": 3}}}),
            json!({"type": "equals", "pattern": "{{ host }}"}),
        ];
        let paths = [
            "trigger.count",
            "trigger.n",
            "trigger.body.host",
            "trigger.flag",
            "trigger.items",
            "trigger.when",
            "x.y",
        ];
        let p = payload();
        let mut outcomes = [0usize; 2];
        for a in &operands {
            for b in &operands {
                for (pa, pb) in paths.iter().zip(paths.iter().rev()) {
                    let criteria = compile(json!({ *pa: a, format!("{pb}#2"): b }));
                    for renderer in [None, Some(&Echo as &dyn PatternRenderer)] {
                        let matched = criteria.matches(&p, renderer, now());
                        let evaluation = criteria.explain(&p, renderer, now());
                        assert_eq!(matched, evaluation.matched, "{criteria:?}");
                        assert_eq!(evaluation.checks.len(), 2);
                        outcomes[usize::from(matched)] += 1;
                    }
                }
            }
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    }

    #[test]
    fn criteria_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + fmt::Debug>() {}
        assert_traits::<Criteria>();
        assert_traits::<Evaluation>();
        assert_traits::<CriteriaErrors>();
    }
}
