//! `pack.name` references.

use crate::{Error, Result};

/// Checks that `r` is a `pack.name` ref: two non-empty parts separated by the first dot, made
/// of ASCII letters, digits, `_` and `-` (the name part may contain further dots).
/// `kind` names the entity in the error ("action", "rule", ...).
pub fn validate_ref(kind: &str, r: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    match r.split_once('.') {
        Some((pack, name))
            if !pack.is_empty()
                && !name.is_empty()
                && !name.starts_with('.')
                && !name.ends_with('.')
                && r.chars().all(ok_char) =>
        {
            Ok(())
        }
        _ => Err(Error::invalid(
            format!("{kind} ref"),
            format!("'{r}' is not of the form 'pack.name' (letters, digits, '_', '-')"),
        )),
    }
}

/// Splits a valid ref into `(pack, name)`; `None` when there is no dot.
pub fn split_ref(r: &str) -> Option<(&str, &str)> {
    r.split_once('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert!(validate_ref("action", "core.echo").is_ok());
        assert!(validate_ref("action", "my-pack.do_it.v2").is_ok());
        for bad in ["core", ".echo", "core.", "co re.echo", "core.echo!", ""] {
            let e = validate_ref("action", bad).unwrap_err();
            assert!(e.to_string().contains("action ref"), "{e}");
        }
        assert_eq!(split_ref("a.b.c"), Some(("a", "b.c")));
    }
}
