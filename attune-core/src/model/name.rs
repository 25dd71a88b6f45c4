//! [`Name`]: the string type of the refs and names the records carry.

/// An immutable string for the refs and names a record carries (an execution's action,
/// runner, rule, user and worker; an enforcement's rule and trigger; an event's trigger; a
/// claim's worker). It is [`smol_str::SmolStr`]: up to 23 bytes are held inline, a longer
/// one is shared by reference count, so copying a record copies its names without
/// allocating. It reads as a `&str` (`Deref`, `as_str`), compares with `str`, `&str` and
/// `String`, serializes as a JSON string, and is made with `Name::from("pack.name")` or
/// `.into()` from `&str` and `String`.
///
/// ```
/// use attune_core::model::{Execution, Name};
/// let x = Execution::new("core.echo", "native", serde_json::json!({}), chrono::Utc::now());
/// assert_eq!(x.action, "core.echo");
/// let copy: Name = x.action.clone(); // no allocation
/// assert_eq!(copy.as_str(), "core.echo");
/// ```
pub type Name = smol_str::SmolStr;
