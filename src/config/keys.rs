//! Which keys hold text, asked of the configuration's own `Deserialize`: a probe
//! deserializer walks to one key at a time and notes what serde asks for there. A key read
//! as a string or a path (`deserialize_str`, `deserialize_string`, or `deserialize_any`,
//! which only the text-from-any-scalar values use) holds text; so does every entry of a
//! map whose values do.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// The keys of a configuration type whose values are text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextKeys {
    /// Dotted keys (`k8s.pod_name`).
    pub keys: BTreeSet<String>,
    /// Prefixes (`webhook.match.labels.`) under which every key's value is text.
    pub maps: BTreeSet<String>,
}

impl TextKeys {
    /// The text keys of `T`.
    pub fn of<T: DeserializeOwned>() -> TextKeys {
        let mut found = TextKeys::default();
        walk::<T>(&mut Vec::new(), &mut found);
        found
    }

    /// Whether the value of the dotted `key` is text.
    pub fn holds_text(&self, key: &str) -> bool {
        self.keys.contains(key) || self.maps.iter().any(|p| key.starts_with(p.as_str()))
    }
}

fn walk<T: DeserializeOwned>(route: &mut Vec<&'static str>, found: &mut TextKeys) {
    match ask::<T>(route) {
        Some(Asked::Struct(fields)) => {
            for field in fields {
                route.push(field);
                walk::<T>(route, found);
                route.pop();
            }
        }
        Some(Asked::Map) => {
            route.push(ANY_KEY);
            let text = ask::<T>(route) == Some(Asked::Text);
            route.pop();
            if text {
                found.maps.insert(format!("{}.", route.join(".")));
            }
        }
        Some(Asked::Text) => {
            found.keys.insert(route.join("."));
        }
        Some(Asked::Other) | None => {}
    }
}

/// The key a probe gives a map to learn what its values are.
const ANY_KEY: &str = "*";

/// What serde asked for at the end of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Struct(&'static [&'static str]),
    Map,
    Text,
    Other,
}

/// What `T` asks for at `route`.
fn ask<T: DeserializeOwned>(route: &[&'static str]) -> Option<Asked> {
    let asked = Cell::new(None);
    let _ = T::deserialize(Probe {
        route,
        asked: &asked,
    });
    asked.get()
}

/// Ends every probe: nothing is ever really deserialized.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

/// Follows `route` through structs, maps and options, and notes what is asked at its end.
struct Probe<'a> {
    route: &'a [&'static str],
    asked: &'a Cell<Option<Asked>>,
}

impl<'a> Probe<'a> {
    fn note<T>(self, asked: Asked) -> Result<T, Stop> {
        if self.route.is_empty() {
            self.asked.set(Some(asked));
        }
        Err(Stop)
    }

    /// A struct or a map: the end of the route, or one entry on the way.
    fn descend<'de, V: Visitor<'de>>(self, here: Asked, visitor: V) -> Result<V::Value, Stop> {
        match self.route.split_first() {
            None => self.note(here),
            Some((key, rest)) => visitor.visit_map(Entry {
                key: Some(key),
                value: Probe {
                    route: rest,
                    asked: self.asked,
                },
            }),
        }
    }
}

/// Deserialize methods that only note what was asked.
macro_rules! noting {
    ($asked:expr => $($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.note($asked)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    noting!(Asked::Text => deserialize_any deserialize_str deserialize_string);
    noting!(Asked::Other =>
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_seq deserialize_identifier deserialize_ignored_any);

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.descend(Asked::Struct(fields), visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.descend(Asked::Map, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Stop> {
        self.note(Asked::Other)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Stop> {
        self.note(Asked::Other)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Stop> {
        self.note(Asked::Other)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.note(Asked::Other)
    }
}

/// A map of one entry: the next key of the route, and a probe for its value.
struct Entry<'a> {
    key: Option<&'static str>,
    value: Probe<'a>,
}

impl<'de, 'a> MapAccess<'de> for Entry<'a> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Stop> {
        seed.deserialize(Probe {
            route: self.value.route,
            asked: self.value.asked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn text_keys_come_from_the_types() {
        let found = TextKeys::of::<Config>();
        // Strings and paths, optional or not.
        for key in [
            "capture.pcap",
            "export.collector",
            "k8s.pod_name",
            "k8s.pod_namespace",
            "k8s.pod_uid",
            "k8s.node_name",
            "k8s.workload_name",
            "k8s.workload_kind",
            "k8s.cluster_name",
            "k8s.labels_file",
            "k8s.annotations_file",
            "k8s.source",
            "telemetry.listen",
            "webhook.listen",
            "webhook.tls_cert",
            "webhook.tls_key",
            "webhook.sidecar.image",
            "node.proc_dir",
            "log.level",
            // An address is read from its text, a quantity from any scalar's.
            "k8s.node_ip",
            "webhook.sidecar.resources.requests.cpu",
            "webhook.sidecar.resources.limits.memory",
        ] {
            assert!(found.keys.contains(key), "{key} not in {:?}", found.keys);
        }
        // Numbers, booleans, lists and names of variants are parsed.
        for key in [
            "flow.idle_timeout_secs",
            "flow.biflow",
            "capture.interfaces",
            "k8s.pod_ips",
            "node.netns_dirs",
            "webhook.sidecar.run_as_user",
            "webhook.sidecar.pull_policy",
            "webhook.match.mode",
            "log.format",
        ] {
            assert!(!found.holds_text(key), "{key} is not text");
        }
        assert_eq!(
            found.maps,
            BTreeSet::from(["webhook.match.labels.".to_string()])
        );
        assert!(found.holds_text("webhook.match.labels.version"));
    }
}
