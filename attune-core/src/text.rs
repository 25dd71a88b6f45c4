//! Small text helpers shared across the crate (one copy: "did you mean" hints).

/// The Levenshtein distance between `a` and `b`, counted in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate nearest to `word` (case-insensitive), if it is close enough to be a likely
/// misspelling: at most a third of the word's length away (at least 2) and not a rewrite of
/// the whole word. Ties go to the first candidate.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = word.to_lowercase();
    let len = wanted.chars().count();
    let limit = (len / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit && *d < len)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, nearest};

    #[test]
    fn nearest_candidates() {
        let keys = ["runner_type", "entry_point", "parameters"];
        assert_eq!(nearest("runer_type", keys), Some("runner_type"));
        assert_eq!(nearest("Parameters", keys), Some("parameters"));
        assert_eq!(nearest("zzz", keys), None);
        assert_eq!(nearest("ab", ["xy"]), None);
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("prot", "port"), 2);
        assert_eq!(edit_distance("héllo", "hello"), 1);
    }
}
