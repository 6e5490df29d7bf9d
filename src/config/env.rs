//! The environment layer: `PODFLOW_<SECTION>__<KEY>` variables as configuration values.
//!
//! Values are read the way figment's own `Env` provider reads them (`15` is a number,
//! `true` a boolean, `[a, b]` a list), except for the keys whose type is text (found in
//! the sections' types, see [`super::keys`]): those keep the exact text, so a pod named
//! `1234` or a UID of digits stays what it was.

use std::sync::OnceLock;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

use super::keys::TextKeys;
use super::{Config, ENV_PREFIX};

/// Variables under the prefix that belong to the command line, not to the sections.
const NOT_CONFIG: &[&str] = &["MODE", "CONFIG"];

/// Name of this layer in figment metadata; error messages look for "environment".
pub const NAME: &str = "environment variables";

/// The process environment (or, in tests, any list of variables) as a figment layer.
pub struct EnvLayer {
    vars: Vec<(String, String)>,
}

impl EnvLayer {
    /// The `PODFLOW_*` variables of this process.
    pub fn from_process() -> EnvLayer {
        EnvLayer::from_vars(std::env::vars())
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> EnvLayer {
        let vars = vars
            .into_iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(ENV_PREFIX)?;
                (!rest.is_empty() && !NOT_CONFIG.contains(&rest)).then(|| (rest.to_string(), v))
            })
            .collect();
        EnvLayer { vars }
    }
}

/// The keys of the configuration whose values are text, found once.
fn text_keys() -> &'static TextKeys {
    static KEYS: OnceLock<TextKeys> = OnceLock::new();
    KEYS.get_or_init(TextKeys::of::<Config>)
}

/// `FLOW__IDLE_TIMEOUT_SECS` -> `flow.idle_timeout_secs`.
fn dotted(var: &str) -> String {
    var.split("__")
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(".")
}

fn insert(dict: &mut Dict, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.to_string(), value);
        }
        [first, rest @ ..] => {
            let child = dict
                .entry(first.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = child {
                insert(inner, rest, value);
            } else {
                // `PODFLOW_FLOW=1` and `PODFLOW_FLOW__X=2` together: the deeper key wins.
                let mut inner = Dict::new();
                insert(&mut inner, rest, value);
                *child = Value::from(inner);
            }
        }
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(NAME)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (var, raw) in &self.vars {
            let key = dotted(var);
            let value = if text_keys().holds_text(&key) {
                Value::from(raw.clone())
            } else {
                raw.parse::<Value>()
                    .expect("parsing a figment value is infallible")
            };
            let path: Vec<&str> = key.split('.').collect();
            insert(&mut dict, &path, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(vars: &[(&str, &str)]) -> Dict {
        let l = EnvLayer::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l.data().unwrap().remove(&Profile::Default).unwrap()
    }

    #[test]
    fn nests_sections_and_keeps_string_keys_exact() {
        let d = layer(&[
            ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "30"),
            ("PODFLOW_K8S__POD_NAME", "007"),
            ("PODFLOW_K8S__POD_UID", "1234"),
            ("PODFLOW_WEBHOOK__MATCH__LABELS__VERSION", "1.0"),
            ("PODFLOW_MODE", "sidecar"),
            ("OTHER", "x"),
        ]);
        let flow = d["flow"].as_dict().unwrap();
        assert_eq!(flow["idle_timeout_secs"].to_u128(), Some(30));
        let k8s = d["k8s"].as_dict().unwrap();
        assert_eq!(k8s["pod_name"].as_str(), Some("007"));
        assert_eq!(k8s["pod_uid"].as_str(), Some("1234"));
        let labels = d["webhook"].as_dict().unwrap()["match"].as_dict().unwrap()["labels"]
            .as_dict()
            .unwrap();
        assert_eq!(labels["version"].as_str(), Some("1.0"));
        assert!(!d.contains_key("mode"));
        assert_eq!(d.len(), 3);
    }
}
