//! The Rhai sandbox shared by rule expressions and the `rhai` runtime.

use crate::runtime::{LogSink, LogStream};
use crate::{Error, Result};
use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Dynamic, Engine as RhaiEngine, Module, Scope, Shared};
type SharedModule = Shared<Module>;
use serde_json::Value;
use std::fmt;
use tokio_util::sync::CancellationToken;

/// Limits applied to every Rhai evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptLimits {
    /// Maximum operations (loop iterations, calls, ...) of one evaluation.
    pub max_operations: u64,
    /// Maximum length of a string, in bytes.
    pub max_string_size: usize,
    /// Maximum items of an array.
    pub max_array_size: usize,
    /// Maximum entries of a map.
    pub max_map_size: usize,
    /// Maximum function call depth (calls of script functions; a deeper recursion is an
    /// error, `call depth limit exceeded`).
    pub max_call_levels: usize,
    /// Maximum expression nesting depth, at the top level and inside each function body
    /// (a call nested in a call counts about 2): deeper scripts do not compile.
    pub max_expr_depth: usize,
    /// Wall-clock budget of one evaluation (a backstop for work the operation count misses).
    pub max_duration: std::time::Duration,
}

impl ScriptLimits {
    /// Limits for rule expressions: small, since one runs per event per rule. An expression
    /// defines no functions, so its evaluation nests at most about `max_expr_depth / 2` (15)
    /// calls: it runs on the caller's thread, within 1 MiB of stack in debug builds
    /// ([`Sandbox::eval`]), half of what a spawned thread or a tokio worker has.
    pub const EXPRESSION: ScriptLimits = ScriptLimits {
        max_operations: 100_000,
        max_string_size: 1 << 20,
        max_array_size: 100_000,
        max_map_size: 100_000,
        max_call_levels: 32,
        max_expr_depth: 32,
        max_duration: std::time::Duration::from_millis(50),
    };

    /// Limits for action scripts. Evaluation nests up to `max_call_levels` times the calls
    /// of a function body (about `max_expr_depth / 2`): such scripts run on a thread of
    /// their own with a [`SCRIPT_STACK_BYTES`] stack ([`Sandbox::eval`]).
    pub const ACTION: ScriptLimits = ScriptLimits {
        max_operations: 50_000_000,
        max_string_size: 16 << 20,
        max_array_size: 1_000_000,
        max_map_size: 1_000_000,
        max_call_levels: 32,
        max_expr_depth: 64,
        max_duration: std::time::Duration::from_secs(3600),
    };
}

/// The stack of the thread a script with limits above [`ScriptLimits::EXPRESSION`] runs on.
/// Rhai evaluates recursively with large frames (about 25 KiB per nested call in a debug
/// build, a few KiB in release): the worst case of [`ScriptLimits::ACTION`] (a function
/// recursing 32 levels, each level nesting 27 calls) takes about 35 MiB in debug, and runs
/// within this stack (tests/depth_limits.rs). The stack is reserved, and only the pages a
/// script touches are committed.
pub const SCRIPT_STACK_BYTES: usize = 64 * 1024 * 1024;

/// A Rhai engine factory with the standard library, the limits, and nothing else: no
/// `eval`, no module imports, no file, process or network access; `print`/`debug` go to the
/// execution's log stream when one is given.
#[derive(Clone)]
pub struct Sandbox {
    limits: ScriptLimits,
    stdlib: SharedModule,
    compiler: std::sync::Arc<RhaiEngine>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Sandbox {
    /// A sandbox with `limits`.
    pub fn new(limits: ScriptLimits) -> Self {
        let stdlib = StandardPackage::new().as_shared_module();
        let compiler = std::sync::Arc::new(Self::make(&limits, &stdlib));
        Sandbox {
            limits,
            stdlib,
            compiler,
        }
    }

    /// The limits.
    pub fn limits(&self) -> ScriptLimits {
        self.limits
    }

    fn make(limits: &ScriptLimits, stdlib: &SharedModule) -> RhaiEngine {
        let mut e = RhaiEngine::new_raw();
        e.register_global_module(stdlib.clone());
        e.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        e.set_max_operations(limits.max_operations);
        e.set_max_string_size(limits.max_string_size);
        e.set_max_array_size(limits.max_array_size);
        e.set_max_map_size(limits.max_map_size);
        e.set_max_call_levels(limits.max_call_levels);
        e.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
        e.set_max_modules(0);
        e.disable_symbol("eval");
        e.on_print(|_| {});
        e.on_debug(|_, _, _| {});
        e
    }

    /// An engine for one evaluation: counts every operation itself (Rhai's own count misses
    /// work done inside closures that functions such as `map` call back) and stops at the
    /// operation limit, at the time budget, or when `cancel` fires; sends `print`/`debug`
    /// output to `log`.
    pub fn engine(&self, cancel: Option<CancellationToken>, log: Option<LogSink>) -> RhaiEngine {
        let mut e = Self::make(&self.limits, &self.stdlib);
        let max_ops = self.limits.max_operations;
        let deadline = std::time::Instant::now() + self.limits.max_duration;
        let ops = std::sync::atomic::AtomicU64::new(0);
        e.on_progress(move |_| {
            let n = ops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n >= max_ops {
                return Some(Dynamic::from(STOP_OPERATIONS));
            }
            if n.is_multiple_of(1024) {
                if cancel.as_ref().is_some_and(CancellationToken::is_cancelled) {
                    return Some(Dynamic::from(STOP_CANCELED));
                }
                if std::time::Instant::now() >= deadline {
                    return Some(Dynamic::from(STOP_TIME));
                }
            }
            None
        });
        if let Some(log) = log {
            let l2 = log.clone();
            e.on_print(move |s| log.line(LogStream::Stdout, s));
            e.on_debug(move |s, _, _| l2.line(LogStream::Log, s));
        }
        e
    }

    /// Compiles a script; the error names `location` and the position.
    pub fn compile(&self, location: &str, source: &str) -> Result<AST> {
        self.compiler
            .compile(source)
            .map_err(|e| script_error(location, e))
    }

    /// Compiles a single expression.
    pub fn compile_expression(&self, location: &str, source: &str) -> Result<AST> {
        self.compiler
            .compile_expression(source)
            .map_err(|e| script_error(location, e))
    }

    /// Evaluates `ast` on `engine` with `vars` in scope and converts the value to JSON.
    ///
    /// With limits no larger than [`ScriptLimits::EXPRESSION`] the script runs on the
    /// caller's thread; with larger ones on a thread of its own with a
    /// [`SCRIPT_STACK_BYTES`] stack (waiting for it), so that a script as deep as its limits
    /// allow never exhausts the caller's stack.
    pub fn eval(
        &self,
        engine: &RhaiEngine,
        location: &str,
        ast: &AST,
        vars: &[(&str, &Value)],
    ) -> Result<Value> {
        let inline = self.limits.max_call_levels <= ScriptLimits::EXPRESSION.max_call_levels
            && self.limits.max_expr_depth <= ScriptLimits::EXPRESSION.max_expr_depth;
        if inline {
            return self.eval_here(engine, location, ast, vars);
        }
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("attune-rhai".into())
                .stack_size(SCRIPT_STACK_BYTES)
                .spawn_scoped(scope, || self.eval_here(engine, location, ast, vars))
                .map_err(|e| script_error(location, format!("cannot start its thread: {e}")))?
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    fn eval_here(
        &self,
        engine: &RhaiEngine,
        location: &str,
        ast: &AST,
        vars: &[(&str, &Value)],
    ) -> Result<Value> {
        let mut scope = Scope::new();
        for (name, v) in vars {
            let d = to_dynamic(v).map_err(|m| script_error(location, m))?;
            scope.push_dynamic(name.to_string(), d);
        }
        let out: Dynamic = engine
            .eval_ast_with_scope(&mut scope, ast)
            .map_err(|e| script_error(location, describe(*e)))?;
        from_dynamic(&out).map_err(|m| script_error(location, m))
    }
}

const STOP_OPERATIONS: &str = "operations";
const STOP_CANCELED: &str = "canceled";
const STOP_TIME: &str = "time";

fn describe(e: rhai::EvalAltResult) -> String {
    use rhai::EvalAltResult as E;
    match e.unwrap_inner() {
        E::ErrorTerminated(why, pos) => match why.clone().into_string().as_deref() {
            Ok(STOP_OPERATIONS) => format!("operation limit exceeded ({pos})"),
            Ok(STOP_TIME) => format!("time limit exceeded ({pos})"),
            _ => "canceled".to_string(),
        },
        E::ErrorTooManyOperations(pos) => format!("operation limit exceeded ({pos})"),
        E::ErrorDataTooLarge(what, pos) => format!("size limit exceeded: {what} ({pos})"),
        E::ErrorStackOverflow(pos) => format!("call depth limit exceeded ({pos})"),
        _ => e.to_string(),
    }
}

fn script_error(location: &str, e: impl fmt::Display) -> Error {
    Error::Script {
        location: location.to_string(),
        message: e.to_string(),
    }
}

/// Converts JSON to a Rhai value.
pub(crate) fn to_dynamic(v: &Value) -> std::result::Result<Dynamic, String> {
    rhai::serde::to_dynamic(v).map_err(|e| e.to_string())
}

/// Converts a Rhai value to JSON (a unit `()` is `null`).
pub(crate) fn from_dynamic(d: &Dynamic) -> std::result::Result<Value, String> {
    if d.is_unit() {
        return Ok(Value::Null);
    }
    rhai::serde::from_dynamic::<Value>(d).map_err(|e| format!("result is not JSON-compatible: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_with_vars() {
        let sb = Sandbox::new(ScriptLimits::EXPRESSION);
        let ast = sb.compile_expression("test", "payload.n * 2 + 1").unwrap();
        let v = sb
            .eval(
                &sb.engine(None, None),
                "test",
                &ast,
                &[("payload", &json!({"n": 20}))],
            )
            .unwrap();
        assert_eq!(v, json!(41));
    }

    #[test]
    fn infinite_loop_hits_the_operation_limit() {
        let sb = Sandbox::new(ScriptLimits::EXPRESSION);
        let ast = sb.compile("rule 'x'", "loop { }").unwrap();
        let err = sb
            .eval(&sb.engine(None, None), "rule 'x'", &ast, &[])
            .unwrap_err();
        assert!(err.to_string().contains("operation limit"), "{err}");
        assert!(err.to_string().contains("rule 'x'"), "{err}");
    }

    #[test]
    fn unbounded_allocation_hits_a_size_limit() {
        let sb = Sandbox::new(ScriptLimits::EXPRESSION);
        let ast = sb.compile("s", r#"let s = "x"; loop { s += s; }"#).unwrap();
        let err = sb.eval(&sb.engine(None, None), "s", &ast, &[]).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        let ast = sb.compile("a", "let a = []; loop { a.push(1); }").unwrap();
        let err = sb.eval(&sb.engine(None, None), "a", &ast, &[]).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn no_eval_no_imports() {
        let sb = Sandbox::new(ScriptLimits::EXPRESSION);
        assert!(sb.compile("e", r#"eval("1")"#).is_err());
        let ast = sb.compile("i", r#"import "foo" as f; 1"#);
        let failed = match ast {
            Err(_) => true,
            Ok(ast) => sb.eval(&sb.engine(None, None), "i", &ast, &[]).is_err(),
        };
        assert!(failed);
    }

    #[test]
    fn closures_called_back_count_against_the_limit() {
        // Five nested closures nest deeper than a rule expression may: allow it here.
        let sb = Sandbox::new(ScriptLimits {
            max_expr_depth: 64,
            ..ScriptLimits::EXPRESSION
        });
        let ten = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";
        let src = format!(
            "{ten}.map(|a| {ten}.map(|b| {ten}.map(|c| {ten}.map(|d| {ten}.map(|e| a + b + c + d + e).len()).len()).len()).len()).len()"
        );
        let ast = sb.compile_expression("x", &src).unwrap();
        let err = sb.eval(&sb.engine(None, None), "x", &ast, &[]).unwrap_err();
        // Stopped by the operation count or, where Rhai does not report progress inside the
        // callbacks, by the time budget.
        assert!(err.to_string().contains("limit exceeded"), "{err}");
    }

    #[test]
    fn cancel_stops_a_running_script() {
        let sb = Sandbox::new(ScriptLimits::ACTION);
        let token = CancellationToken::new();
        token.cancel();
        let engine = sb.engine(Some(token), None);
        let ast = sb.compile("c", "let i = 0; loop { i += 1; }").unwrap();
        let err = sb.eval(&engine, "c", &ast, &[]).unwrap_err();
        assert!(err.to_string().contains("canceled"), "{err}");
    }
}
