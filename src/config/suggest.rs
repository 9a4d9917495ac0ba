//! "Did you mean …?" for unknown keys: the closest known name in the same block by edit
//! distance, or else the list of names the block takes.

use super::catalog;

/// The message for an unknown `what` ("option" or "block") named `key` inside `block`.
pub fn unknown(what: &str, block: &str, key: &str) -> String {
    let names = catalog::names_in(block);
    let best = names
        .iter()
        .map(|n| (distance(key, n), *n))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, n)| *d <= 2.max(n.len() / 4));
    let place = if block.is_empty() {
        "the top level".to_string()
    } else {
        format!("`{block}`")
    };
    match best {
        Some((_, name)) => format!("unknown {what}; did you mean `{name}`?"),
        None => format!("unknown {what}; {place} takes: {}", names.join(", ")),
    }
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(distance("sesion_ttl", "session_ttl"), 1);
        assert!(unknown("option", "consul", "sesion_ttl").contains("`session_ttl`"));
        let far = unknown("option", "consul.tls", "colour");
        assert!(far.contains("takes: ca_file, client_cert"), "{far}");
    }
}
