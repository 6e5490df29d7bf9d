//! What of the labels and annotations is exported: the annotation allow-list (glob
//! patterns) and the size cap on the JSON objects. Pure.
//!
//! The cap walks the entries in key order and keeps each one whose addition still fits in
//! `max_bytes`; an entry that does not fit is left out whole and the walk goes on, so one
//! huge annotation does not push out the small ones sorted after it.
//!
//! One annotation is never exported unless an allow pattern names it exactly, without
//! wildcards: `kubectl.kubernetes.io/last-applied-configuration`. It is a copy of the
//! whole applied manifest, often many kilobytes, and holds every environment value written
//! in it, secrets included; a collector has no use for it.

use std::collections::BTreeMap;

/// Annotations a wildcard pattern never selects; an exact pattern still does.
pub const NEVER_BY_WILDCARD: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// True when `text` matches the glob `pattern`: `*` matches any run of characters (`/`
/// included, none at all too), `?` exactly one character; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for the end of.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry from there.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The annotations whose key passes the allow-list.
pub fn allowed(
    annotations: &BTreeMap<String, String>,
    allow: &[String],
) -> BTreeMap<String, String> {
    annotations
        .iter()
        .filter(|(k, _)| is_allowed(k, allow))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn is_allowed(key: &str, allow: &[String]) -> bool {
    if NEVER_BY_WILDCARD.contains(&key) {
        return allow.iter().any(|p| p == key);
    }
    allow.iter().any(|p| glob_match(p, key))
}

/// A JSON object of string values, keys sorted, and the keys the size cap left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capped {
    /// The JSON object, at most `max_bytes` long (or `{}`).
    pub json: String,
    /// Keys of the entries left out because they did not fit.
    pub cut: Vec<String>,
}

/// The JSON object of `map`, keeping entries in key order while they fit in `max_bytes`.
pub fn capped_json(map: &BTreeMap<String, String>, max_bytes: usize) -> Capped {
    let mut kept = BTreeMap::new();
    let mut cut = Vec::new();
    let mut len = 2; // "{}"
    for (k, v) in map {
        let entry = json_string(k).len() + 1 + json_string(v).len();
        let sep = usize::from(!kept.is_empty());
        if len + sep + entry <= max_bytes {
            len += sep + entry;
            kept.insert(k, v);
        } else {
            cut.push(k.clone());
        }
    }
    let json = serde_json::to_string(&kept).expect("a map of strings always serialises");
    debug_assert_eq!(json.len(), len);
    Capped { json, cut }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::entries as map;

    #[test]
    fn globs() {
        let yes = [
            ("*", ""),
            ("*", "anything/at all"),
            ("prometheus.io/*", "prometheus.io/scrape"),
            ("*.io/*", "prometheus.io/port"),
            ("a?c", "abc"),
            ("a?c", "a/c"),
            ("??", "éü"),
            ("*x*y*", "axbyc"),
            ("a*b*c", "abbbc"),
            ("exact", "exact"),
            ("**", "x"),
            ("a*", "a"),
        ];
        for (p, t) in yes {
            assert!(glob_match(p, t), "{p} should match {t}");
        }
        let no = [
            ("", "x"),
            ("prometheus.io/*", "prometheus.iox/scrape"),
            ("a?c", "ac"),
            ("a?c", "abbc"),
            ("exact", "exactly"),
            ("exact", "Exact"),
            ("*x*y*", "ayx"),
            ("a*b*c", "abcb"),
            ("?", ""),
        ];
        for (p, t) in no {
            assert!(!glob_match(p, t), "{p} should not match {t}");
        }
    }

    #[test]
    fn glob_backtracking_is_not_exponential() {
        let text = "a".repeat(2000);
        assert!(!glob_match("*a*a*a*a*a*a*a*b", &text));
    }

    #[test]
    fn allow_list() {
        let a = map(&[
            ("prometheus.io/scrape", "true"),
            ("prometheus.io/port", "9090"),
            ("team", "payments"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{...}"),
            ("kubectl.kubernetes.io/restartedAt", "2024-01-01T00:00:00Z"),
        ]);
        let keys = |allow: &[&str]| -> Vec<String> {
            let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
            allowed(&a, &allow).into_keys().collect()
        };
        assert_eq!(
            keys(&["*"]),
            [
                "kubectl.kubernetes.io/restartedAt",
                "prometheus.io/port",
                "prometheus.io/scrape",
                "team"
            ]
        );
        assert_eq!(
            keys(&["prometheus.io/*", "team"]),
            ["prometheus.io/port", "prometheus.io/scrape", "team"]
        );
        assert!(keys(&[]).is_empty());
        assert_eq!(
            keys(&["kubectl.kubernetes.io/*"]),
            ["kubectl.kubernetes.io/restartedAt"]
        );
        assert_eq!(
            keys(&["kubectl.kubernetes.io/last-applied-configuration"]),
            ["kubectl.kubernetes.io/last-applied-configuration"]
        );
    }

    #[test]
    fn cap_keeps_what_fits_in_key_order() {
        let m = map(&[("a", "1"), ("b", "x".repeat(100).as_str()), ("c", "3")]);
        let all = capped_json(&m, 4096);
        assert!(all.cut.is_empty());
        assert_eq!(
            all.json,
            format!("{{\"a\":\"1\",\"b\":\"{}\",\"c\":\"3\"}}", "x".repeat(100))
        );
        // The big entry is left out whole, the small one after it stays.
        let some = capped_json(&m, 40);
        assert_eq!(some.json, "{\"a\":\"1\",\"c\":\"3\"}");
        assert_eq!(some.cut, ["b"]);
        // Exactly at the limit.
        assert_eq!(capped_json(&m, 17).json, "{\"a\":\"1\",\"c\":\"3\"}");
        assert_eq!(capped_json(&m, 16).json, "{\"a\":\"1\"}");
        let none = capped_json(&m, 2);
        assert_eq!(none.json, "{}");
        assert_eq!(none.cut, ["a", "b", "c"]);
        assert_eq!(capped_json(&BTreeMap::new(), 2).json, "{}");
    }

    #[test]
    fn cap_counts_escaped_bytes() {
        // Quotes, newlines and non-ASCII take more bytes in JSON than in the map.
        let m = map(&[("k", "\"é\"\n")]);
        let json = capped_json(&m, 4096).json;
        assert_eq!(json, "{\"k\":\"\\\"é\\\"\\n\"}");
        assert!(capped_json(&m, json.len()).cut.is_empty());
        assert_eq!(capped_json(&m, json.len() - 1).cut, ["k"]);
    }
}
