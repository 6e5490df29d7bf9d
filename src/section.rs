//! What every configuration section shares. Each domain declares its own section and
//! checks it ([`Section::check`]); the root configuration composes them, and adds to a
//! refusal the full key, the value and where it came from.

/// A value a section refuses: its key within the section (`idle_timeout_secs`,
/// `sidecar.run_as_user`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub why: String,
}

impl Invalid {
    pub fn new(key: &'static str, why: impl Into<String>) -> Invalid {
        Invalid {
            key,
            why: why.into(),
        }
    }
}

/// A configuration section.
pub trait Section {
    /// What serde cannot express: ranges and combinations. The first value refused.
    fn check(&self) -> Result<(), Invalid> {
        Ok(())
    }
}

/// `value` of `key` is 1 or more.
pub fn at_least_one(key: &'static str, value: u64) -> Result<(), Invalid> {
    if value == 0 {
        return Err(Invalid::new(key, "must be at least 1"));
    }
    Ok(())
}

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
