//! What every configuration section shares. Each domain declares its own section (the
//! root configuration only composes them); the pieces here are the ones they have in
//! common.

/// Serde for values written as one string and parsed with `FromStr` (`export.collector`,
/// `k8s.source`): a parse error names the value and what was expected.
pub mod as_str {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr<Err = String>,
        D: Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        s.parse().map_err(|why: String| {
            serde::de::Error::invalid_value(serde::de::Unexpected::Str(&s), &why.as_str())
        })
    }
}
