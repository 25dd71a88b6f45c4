//! Which keys of the key store a rule's templates read, found once when the rule is
//! compiled, so that matching reads those keys only instead of listing the store.

use std::sync::LazyLock;

/// What a rule's templates read of the key-value namespaces (`kv`, `st2kv`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum KvRefs {
    /// Nothing.
    #[default]
    None,
    /// Only these keys, each `(scope, name)` with scope `system`, `pack` or `user`, written out as
    /// `st2kv.system.NAME` / `kv.pack.NAME`.
    Keys(Vec<(String, String)>),
    /// Anything: a namespace is used another way (`st2kv.system[name]`, `kv` in an
    /// expression, a loop over it).
    All,
}

/// A use of a namespace name, and what follows it when it is `.<scope>.<name>`.
static USE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\b(?:st2kv|kv)\b(?:\.(system|pack|user)\.([A-Za-z_][A-Za-z0-9_]*))?")
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

impl KvRefs {
    /// The references of `sources` (template texts; `all`: something reads the namespaces
    /// in a way that cannot be told from the text, such as a rule expression).
    pub(crate) fn of<'a>(sources: impl IntoIterator<Item = &'a str>, all: bool) -> KvRefs {
        if all {
            return KvRefs::All;
        }
        let mut keys: Vec<(String, String)> = Vec::new();
        for src in sources {
            for m in USE.captures_iter(src) {
                let whole = m.get(0).map_or(0..0, |w| w.range());
                // `trigger.kv` or `my.st2kv` is a field of something else.
                if src[..whole.start].ends_with('.') {
                    continue;
                }
                match (m.get(1), m.get(2)) {
                    (Some(scope), Some(name))
                        if !src[whole.end..].trim_start().starts_with('[')
                            && !src[whole.end..].starts_with('(') =>
                    {
                        keys.push((scope.as_str().to_string(), name.as_str().to_string()));
                    }
                    _ => return KvRefs::All,
                }
            }
        }
        if keys.is_empty() {
            return KvRefs::None;
        }
        keys.sort();
        keys.dedup();
        KvRefs::Keys(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[(&str, &str)]) -> KvRefs {
        KvRefs::Keys(
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn written_out_keys_are_listed() {
        assert_eq!(
            KvRefs::of(
                [
                    "{{ st2kv.system.a }}/{{ kv.pack.b | decrypt_kv }}",
                    "{{ st2kv.system.a }} {{ trigger.kv }}",
                    "{{ st2kv.user.c }}",
                ],
                false
            ),
            keys(&[("pack", "b"), ("system", "a"), ("user", "c")])
        );
        assert_eq!(
            KvRefs::of(["{{ trigger.x }}", "plain kv text"], false),
            KvRefs::All
        );
        assert_eq!(KvRefs::of(["{{ trigger.x }}"], false), KvRefs::None);
        assert_eq!(KvRefs::of(["{{ trigger.my_kv }}"], false), KvRefs::None);
    }

    #[test]
    fn other_uses_read_everything() {
        for src in [
            "{{ st2kv.system[name] }}",
            "{{ st2kv.system }}",
            "{% for k in kv.system %}{{ k }}{% endfor %}",
            "{{ st2kv }}",
            "{{ kv.other.x }}",
        ] {
            assert_eq!(KvRefs::of([src], false), KvRefs::All, "{src}");
        }
        assert_eq!(KvRefs::of(["{{ kv.system.a }}"], true), KvRefs::All);
    }
}
