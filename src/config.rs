//! The root configuration and its one load: built-in defaults < the `--config` file (TOML
//! or YAML) < `PODFLOW_<SECTION>__<KEY>` environment variables.

use std::path::Path;

use figment::providers::{Format, Serialized, Toml, Yaml};
use figment::{error::Kind, Figment};
use serde::{Deserialize, Serialize};

use crate::section::Section;
use crate::webhook::sidecar::Template;
use crate::webhook::Injector;

/// Every section of the configuration. Each domain owns its section's type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub capture: crate::capture::Config,
    pub flow: crate::flow::Config,
    pub export: crate::export::Config,
    pub ipfix: crate::export::IpfixConfig,
    pub k8s: crate::metadata::Config,
    pub telemetry: crate::telemetry::Config,
    pub webhook: crate::webhook::Config,
    pub node: crate::node::Config,
    pub mediator: crate::mediator::Config,
    pub log: crate::telemetry::LogConfig,
}

/// A configuration that cannot be used. The message names the key, the value and where
/// the value came from.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

mod env;
mod keys;
pub use env::EnvLayer;

/// Prefix of the environment variables read as configuration.
pub const ENV_PREFIX: &str = "PODFLOW_";

impl Config {
    /// Loads defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        Self::from_figment(Self::figment(file, EnvLayer::from_process())?)
    }

    /// The layered sources; tests pass their own provider in place of the environment.
    pub fn figment(file: Option<&Path>, env: EnvLayer) -> Result<Figment> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            fig = fig.merge(file_provider(path)?);
        }
        Ok(fig.merge(env))
    }

    /// Extracts and checks the configuration.
    pub fn from_figment(fig: Figment) -> Result<Config> {
        let config: Config = fig.extract().map_err(|e| describe(&fig, e))?;
        config.validate(&fig)?;
        Ok(config)
    }

    /// Each section checks itself; a refusal is told with the section's name, the value
    /// and where it came from.
    fn validate(&self, fig: &Figment) -> Result<()> {
        // Taken apart so that a new section cannot be left out.
        let Config {
            capture,
            flow,
            export,
            ipfix,
            k8s,
            telemetry,
            webhook,
            node,
            mediator,
            log,
        } = self;
        let sections: [(&str, &dyn Section); 10] = [
            ("flow", flow),
            ("export", export),
            ("log", log),
            ("webhook", webhook),
            ("node", node),
            ("k8s", k8s),
            ("capture", capture),
            ("ipfix", ipfix),
            ("telemetry", telemetry),
            ("mediator", mediator),
        ];
        for (name, section) in sections {
            if let Err(refused) = section.check() {
                return Err(invalid(
                    fig,
                    &format!("{name}.{}", refused.key),
                    &refused.why,
                ));
            }
        }
        Ok(())
    }
}

impl From<&Config> for Template {
    /// The sidecar every injection adds: `webhook.sidecar`, and the collector, enterprise
    /// number and cluster name of this process.
    fn from(config: &Config) -> Template {
        Template {
            settings: config.webhook.sidecar.clone(),
            collector: config.export.collector.to_string(),
            enterprise_number: config.ipfix.enterprise_number,
            cluster_name: config.k8s.cluster_name.clone(),
        }
    }
}

impl From<&Config> for Injector {
    /// The webhook's injector: `webhook.match` and the sidecar of [`Template`].
    fn from(config: &Config) -> Injector {
        Injector::with_rules(config.webhook.matching.clone(), Template::from(config))
    }
}

fn file_provider(path: &Path) -> Result<Figment> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(ConfigError(format!(
            "cannot read config file {}: {e}",
            path.display()
        )));
    }
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    Ok(if yaml {
        Figment::from(Yaml::file_exact(path))
    } else {
        Figment::from(Toml::file_exact(path))
    })
}

/// "from <source>" for a dotted key: the file path or the environment variable name.
fn source_of(fig: &Figment, key: &str) -> String {
    let Some(md) = fig.find_metadata(key) else {
        return "the built-in defaults".into();
    };
    if let Some(figment::Source::File(path)) = &md.source {
        return format!("file {}", path.display());
    }
    if md.name == env::NAME {
        let var = key.split('.').collect::<Vec<_>>().join("__").to_uppercase();
        return format!("environment variable {ENV_PREFIX}{var}");
    }
    md.name.to_string()
}

fn value_of(fig: &Figment, key: &str) -> String {
    match fig.find_value(key) {
        Ok(figment::value::Value::String(_, s)) => format!("{s:?}"),
        Ok(v) => serde_json::to_string(&v).unwrap_or_else(|_| format!("{v:?}")),
        Err(_) => "(unset)".into(),
    }
}

fn invalid(fig: &Figment, key: &str, why: &str) -> ConfigError {
    ConfigError(format!(
        "invalid configuration: {key} = {} from {}: {why}",
        value_of(fig, key),
        source_of(fig, key)
    ))
}

/// Turns figment's error into one line that names key, value and source.
fn describe(fig: &Figment, err: figment::Error) -> ConfigError {
    if let Some(figment::Source::File(path)) = err.metadata.as_ref().and_then(|m| m.source.as_ref())
    {
        if matches!(err.kind, Kind::Message(_)) && err.path.is_empty() {
            // A syntax error in the file itself.
            return ConfigError(format!(
                "cannot parse config file {}: {}",
                path.display(),
                one_line(&err.kind.to_string())
            ));
        }
    }
    let mut key = err.path.join(".");
    let why = match &err.kind {
        Kind::UnknownField(field, expected) => {
            if err.path.last() != Some(field) {
                key = if key.is_empty() {
                    field.clone()
                } else {
                    format!("{key}.{field}")
                };
            }
            let known = if expected.is_empty() {
                "none".to_string()
            } else {
                expected.join(", ")
            };
            return ConfigError(format!(
                "invalid configuration: unknown key {key} = {} from {} (known keys here: {known})",
                value_of(fig, &key),
                source_of(fig, &key)
            ));
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            match number_range(expected) {
                Some(range) => format!("found {actual}, expected {range}"),
                None if matches!(err.kind, Kind::InvalidValue(..)) => expected.clone(),
                None => format!("found {actual}, expected {expected}"),
            }
        }
        Kind::UnknownVariant(v, expected) => {
            format!(
                "unknown value {v:?}, expected one of {}",
                expected.join(", ")
            )
        }
        other => other.to_string(),
    };
    if key.is_empty() {
        return ConfigError(format!("invalid configuration: {why}"));
    }
    invalid(fig, &key, &why)
}

/// What a number of serde's primitive type `expected` may be, e.g. "a whole number from 0
/// to 65535" for `u16`; None for other types.
fn number_range(expected: &str) -> Option<String> {
    let (min, max): (i128, i128) = match expected {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        "f32" | "f64" => return Some("a number".into()),
        _ => return None,
    };
    Some(format!("a whole number from {min} to {max}"))
}

/// A parser's multi-line report (with a source excerpt and a caret) as one line.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.contains(" |"))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
// figment's Jail closures return figment::Error, whose size is figment's choice.
#[allow(clippy::result_large_err)]
mod tests;
