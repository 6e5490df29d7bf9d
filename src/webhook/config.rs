//! The `webhook` configuration section: the HTTPS listener, which pods get the sidecar,
//! and what the sidecar looks like.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::section::{Invalid, Section};

/// The `webhook` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the HTTPS listener.
    pub listen: String,
    /// PEM certificate chain served to the API server.
    pub tls_cert: PathBuf,
    /// PEM private key of that certificate.
    pub tls_key: PathBuf,
    /// Which pods get the sidecar.
    #[serde(rename = "match")]
    pub matching: Match,
    /// The sidecar added to those pods (also by `podflow inject`).
    pub sidecar: Sidecar,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8443".into(),
            tls_cert: PathBuf::from("/etc/podflow/tls/tls.crt"),
            tls_key: PathBuf::from("/etc/podflow/tls/tls.key"),
            matching: Match::default(),
            sidecar: Sidecar::default(),
        }
    }
}

impl Section for Config {
    fn check(&self) -> Result<(), Invalid> {
        self.sidecar
            .check_run_as_user()
            .map_err(|why| Invalid::new("sidecar.run_as_user", why))
    }
}

/// `webhook.match`: the pods that get the sidecar. With neither rule set, only pods
/// annotated `podflow.io/inject: "true"` get it, so that installing the webhook alone
/// changes no pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Match {
    /// Labels the pod must all carry, with these values.
    #[serde(deserialize_with = "lenient_map")]
    pub labels: BTreeMap<String, String>,
    /// Deployments whose pods get the sidecar: `NAME` (in any namespace) or
    /// `NAMESPACE/NAME`.
    pub deployments: Vec<String>,
    /// How `labels` and `deployments` combine when both are set.
    pub mode: MatchMode,
}

/// How the two match rules combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Either rule selects the pod.
    #[default]
    Any,
    /// Both rules must select the pod.
    All,
}

/// `webhook.sidecar`: the container added to the pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sidecar {
    /// Image of the sidecar; unset = `ghcr.io/podflow/podflow:<version of this binary>`.
    pub image: Option<String>,
    /// `imagePullPolicy` of the sidecar.
    pub pull_policy: PullPolicy,
    /// A native sidecar (an init container with `restartPolicy: Always`, Kubernetes 1.29
    /// and later): it starts before the application's containers and does not keep a Job
    /// from completing. `false` adds a regular container.
    pub native: bool,
    /// Port of the sidecar's `/healthz`, `/readyz`, `/startupz` and `/metrics`; 0 disables
    /// them. When an application container declares this port, the sidecar of that pod
    /// goes without (and without its startup probe).
    pub telemetry_port: u16,
    /// The sidecar's securityContext (see [`SecurityProfile`]): what it runs as and which
    /// capabilities it holds, and so which Pod Security levels admit it.
    pub security_profile: SecurityProfile,
    /// User the sidecar runs as under the `default` profile (`runAsUser`, with
    /// `runAsNonRoot`); not 0 (that is the `root` profile). The other profiles run as 0.
    pub run_as_user: i64,
    /// Resource requests and limits of the sidecar.
    pub resources: Resources,
    /// A Secret in the pod's namespace with the collector's TLS files (`ca.crt`; with
    /// `collector_tls_client_cert` also `tls.crt` and `tls.key`, as cert-manager writes
    /// them), mounted into the sidecar at `/etc/podflow/collector-tls` with
    /// `export.tls_*` pointed at it. Marked optional: a namespace without it still starts
    /// its pods, whose sidecars say which file is missing. Empty: none.
    pub collector_tls_secret: String,
    /// Whether that Secret holds a client certificate for the collector (mutual TLS).
    pub collector_tls_client_cert: bool,
}

impl Default for Sidecar {
    fn default() -> Self {
        Sidecar {
            image: None,
            pull_policy: PullPolicy::IfNotPresent,
            native: true,
            telemetry_port: 9477,
            security_profile: SecurityProfile::Default,
            // The `nonroot` user of distroless images.
            run_as_user: 65532,
            resources: Resources::default(),
            collector_tls_secret: String::new(),
            collector_tls_client_cert: false,
        }
    }
}

impl Sidecar {
    /// The configured image, or this binary's own release.
    pub fn image(&self) -> String {
        self.image.clone().unwrap_or_else(|| {
            concat!("ghcr.io/podflow/podflow:", env!("CARGO_PKG_VERSION")).into()
        })
    }

    /// Checks `run_as_user` for the profile that uses it: why it cannot be used, if not.
    fn check_run_as_user(&self) -> Result<(), String> {
        if self.security_profile != SecurityProfile::Default {
            return Ok(());
        }
        match self.run_as_user {
            0 => Err(
                "the default security profile runs the sidecar as a non-root user; \
                 for UID 0 set webhook.sidecar.security_profile = \"root\""
                    .into(),
            ),
            1..=MAX_UID => Ok(()),
            _ => Err(format!("must be a user ID from 1 to {MAX_UID}")),
        }
    }
}

/// The largest `runAsUser` the API server accepts.
const MAX_UID: i64 = i32::MAX as i64;

/// The sidecar's security settings. Kubernetes has no ambient capabilities: a capability
/// added to a non-root container never reaches its process, unless the binary carries it
/// as a file capability (the podflow image does: `cap_net_raw`, permitted only, raised by
/// podflow itself). Pod Security Admission checks the pod after the sidecar is added:
/// `baseline` refuses an added NET_RAW, `restricted` any added capability but
/// NET_BIND_SERVICE and any root container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityProfile {
    /// Non-root (`run_as_user`), all capabilities dropped but NET_RAW, which the image's
    /// file capability makes effective. Any runtime; refused by PSA `baseline`.
    #[default]
    Default,
    /// As `default`, but UID 0: for images without the file capability. Refused by PSA
    /// `baseline`.
    Root,
    /// UID 0, nothing added, the runtime's default capabilities dropped by name except
    /// NET_RAW: admitted by PSA `baseline`, and captures where the runtime grants NET_RAW
    /// by default (containerd does, CRI-O does not).
    Baseline,
}

impl SecurityProfile {
    /// The name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProfile::Default => "default",
            SecurityProfile::Root => "root",
            SecurityProfile::Baseline => "baseline",
        }
    }

    /// Whether a namespace whose `pod-security.kubernetes.io/enforce` label is `level`
    /// refuses pods with this sidecar.
    pub fn refused_by(self, level: &str) -> bool {
        match self {
            SecurityProfile::Default | SecurityProfile::Root => {
                matches!(level, "baseline" | "restricted")
            }
            SecurityProfile::Baseline => level == "restricted",
        }
    }
}

/// `imagePullPolicy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    /// Pull on every start.
    Always,
    /// Pull when the node does not have the image.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The value as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// `webhook.sidecar.resources`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Resources {
    /// What the scheduler reserves for the sidecar.
    pub requests: ResourceList,
    /// What the sidecar may use at most.
    pub limits: ResourceList,
}

impl Default for Resources {
    fn default() -> Self {
        // The default flow table (262144 flows) takes about 40 MiB when full.
        Resources {
            requests: ResourceList {
                cpu: Some(Quantity("50m".into())),
                memory: Some(Quantity("64Mi".into())),
            },
            limits: ResourceList {
                cpu: Some(Quantity("500m".into())),
                memory: Some(Quantity("256Mi".into())),
            },
        }
    }
}

/// CPU and memory amounts; an unset one is left out of the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceList {
    /// CPU, e.g. `100m` or `1`.
    pub cpu: Option<Quantity>,
    /// Memory, e.g. `64Mi`.
    pub memory: Option<Quantity>,
}

/// A Kubernetes resource quantity (`100m`, `64Mi`, `1.5`, `2e3`), checked when the
/// configuration is read, so that a typo cannot make the API server refuse every pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quantity(String);

impl Quantity {
    /// The quantity as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses `text` in the API's syntax: a decimal number, then a binary suffix
    /// (`Ki` .. `Ei`), a decimal one (`n u m k M G T P E`) or an exponent (`e3`, `E-2`).
    pub fn parse(text: &str) -> Option<Quantity> {
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        let digits_end = unsigned
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(digits_end);
        let number_ok = !number.is_empty()
            && number != "."
            && number.matches('.').count() <= 1
            && !text.starts_with('-');
        let suffix_ok = match suffix {
            "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
            "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
            s => s
                .strip_prefix(['e', 'E'])
                .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
        };
        (number_ok && suffix_ok).then(|| Quantity(text.to_string()))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Scalar::deserialize(d)?.0;
        Quantity::parse(&text).ok_or_else(|| {
            de::Error::invalid_value(
                de::Unexpected::Str(&text),
                &"a non-negative Kubernetes quantity such as 100m, 64Mi or 1",
            )
        })
    }
}

/// A string, or a number or boolean taken as its text: environment variables such as
/// `PODFLOW_WEBHOOK__MATCH__LABELS__TIER=1` arrive typed.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn lenient_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in [
            "1", "100m", "0.5", "64Mi", "1Gi", "2e3", "1E-2", "+1", "250k", ".5",
        ] {
            assert!(Quantity::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "m", "64MB", "1..2", "-1", "abc", "1e", "1 Gi", "."] {
            assert!(Quantity::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_section_refuses_a_root_uid_under_the_default_profile() {
        let mut c = Config::default();
        assert_eq!(c.check(), Ok(()));
        c.sidecar.run_as_user = 0;
        assert_eq!(c.check().unwrap_err().key, "sidecar.run_as_user");
    }

    #[test]
    fn run_as_user_is_checked_for_the_default_profile_only() {
        let mut sidecar = Sidecar::default();
        assert_eq!(sidecar.check_run_as_user(), Ok(()));
        sidecar.run_as_user = 0;
        let why = sidecar.check_run_as_user().unwrap_err();
        assert!(why.contains("security_profile = \"root\""), "{why}");
        sidecar.run_as_user = -1;
        assert!(sidecar.check_run_as_user().is_err());
        sidecar.run_as_user = i64::from(i32::MAX) + 1;
        assert!(sidecar.check_run_as_user().is_err());
        for profile in [SecurityProfile::Root, SecurityProfile::Baseline] {
            sidecar.security_profile = profile;
            sidecar.run_as_user = 0;
            assert_eq!(sidecar.check_run_as_user(), Ok(()), "{profile:?}");
        }
    }

    #[test]
    fn enforced_levels_that_refuse_each_profile() {
        let refused = |p: SecurityProfile| -> Vec<&str> {
            ["privileged", "baseline", "restricted", ""]
                .into_iter()
                .filter(|level| p.refused_by(level))
                .collect()
        };
        assert_eq!(
            refused(SecurityProfile::Default),
            ["baseline", "restricted"]
        );
        assert_eq!(refused(SecurityProfile::Root), ["baseline", "restricted"]);
        assert_eq!(refused(SecurityProfile::Baseline), ["restricted"]);
    }

    #[test]
    fn default_image_is_this_release() {
        assert_eq!(
            Sidecar::default().image(),
            format!("ghcr.io/podflow/podflow:{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
