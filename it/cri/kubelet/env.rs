//! A container's environment as the kubelet builds it: `env` in order, each value expanded
//! against the variables before it, Downward-API values from `fieldRef` and
//! `resourceFieldRef`, ConfigMap and Secret keys from what the test gives; then command and
//! args expanded against the result. (Service links are left out: there are no Services.)

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::expand::expand;
use super::fieldpath::{field_value, resource_value, PodAddresses};
use super::{NodeInfo, Objects, TranslateError};

/// The environment of `container`, in the order of its variables (a name given twice keeps
/// its first place and its last value).
pub fn environment(
    pod: &Pod,
    container: &Container,
    node: &NodeInfo,
    addresses: &PodAddresses,
    objects: &Objects,
) -> Result<Vec<(String, String)>, TranslateError> {
    let mut order: Vec<String> = Vec::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut set = |name: String, value: String, vars: &mut HashMap<String, String>| {
        if vars.insert(name.clone(), value).is_none() {
            order.push(name);
        }
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (name, optional) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(c), _) => (c.name.clone(), c.optional.unwrap_or(false)),
            (None, Some(s)) => (s.name.clone(), s.optional.unwrap_or(false)),
            (None, None) => continue,
        };
        let data = if from.config_map_ref.is_some() {
            objects.config_maps.get(&name)
        } else {
            objects.secrets.get(&name)
        };
        match data {
            Some(data) => {
                for (k, v) in data {
                    set(format!("{prefix}{k}"), v.clone(), &mut vars);
                }
            }
            None if optional => {}
            None => return Err(TranslateError::Missing(name)),
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) if !v.is_empty() => expand(v, &vars)?,
            (_, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    field_value(pod, &f.field_path, node, addresses)?
                } else if let Some(r) = &from.resource_field_ref {
                    resource_value(container, r, node)?
                } else if let Some(k) = &from.config_map_key_ref {
                    key_value(&objects.config_maps, &k.name, &k.key, k.optional)?
                } else if let Some(k) = &from.secret_key_ref {
                    key_value(&objects.secrets, &k.name, &k.key, k.optional)?
                } else {
                    String::new()
                }
            }
            _ => String::new(),
        };
        set(var.name.clone(), value, &mut vars);
    }
    Ok(order
        .into_iter()
        .map(|name| {
            let value = vars[&name].clone();
            (name, value)
        })
        .collect())
}

fn key_value(
    objects: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    name: &str,
    key: &str,
    optional: Option<bool>,
) -> Result<String, TranslateError> {
    match objects.get(name).and_then(|data| data.get(key)) {
        Some(v) => Ok(v.clone()),
        None if optional == Some(true) => Ok(String::new()),
        None => Err(TranslateError::Missing(format!("{name}/{key}"))),
    }
}

/// `command` and `args` with `$(VAR)` expanded against the container's environment.
pub fn command_and_args(
    container: &Container,
    env: &[(String, String)],
) -> Result<(Vec<String>, Vec<String>), TranslateError> {
    let vars: HashMap<String, String> = env.iter().cloned().collect();
    let all = |list: &Option<Vec<String>>| -> Result<Vec<String>, TranslateError> {
        list.iter()
            .flatten()
            .map(|s| expand(s, &vars).map_err(TranslateError::from))
            .collect()
    };
    Ok((all(&container.command)?, all(&container.args)?))
}
