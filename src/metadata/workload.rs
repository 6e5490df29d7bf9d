//! The pod's top owner (k8sWorkloadName / k8sWorkloadKind) guessed from its name and
//! labels, for sidecar mode, which cannot ask the API server for owner references. Pure.
//!
//! Controllers name their pods and label them in ways that give the owner away:
//!
//! | labels | pod name | owner |
//! |---|---|---|
//! | `job-name` or `batch.kubernetes.io/job-name` = J | any | CronJob C when J is `C-<8 or more digits>` (the scheduled time in minutes since 1970, 8 digits since 1989), else Job J |
//! | `controller-revision-hash` and `pod-template-generation` | `D-<5 chars>` | DaemonSet D |
//! | `controller-revision-hash` | `S-<ordinal>` | StatefulSet S |
//! | `pod-template-hash` = H | `D-H-<5 chars>` | Deployment D |
//! | `pod-template-hash` = H | 63 characters, `D-<start of H>` + 5 chars | Deployment D (the API server cut the generated name to 58 characters before the random suffix) |
//! | `pod-template-hash` | `R-<5 chars>`, not as above | ReplicaSet R (the label is the Deployment controller's, but the name does not say which Deployment; the ReplicaSet is what the name does say) |
//! | none of these | any | Pod (the pod's own name) |
//!
//! DaemonSet comes before StatefulSet because both carry `controller-revision-hash` and a
//! DaemonSet pod's random suffix can be all digits. The 5 random characters are
//! lowercase letters and digits. When only `k8s.workload_kind` is configured, the name is
//! the derived one if the derivation found that kind, else the pod name cut the way that
//! kind names its pods. When only `k8s.workload_name` is configured, the kind is the
//! derived one if the derivation found that name, else empty (unknown).

use std::collections::BTreeMap;

/// Owner kinds podflow names, as the API spells them.
const KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicaSet",
    "Pod",
];

/// Length the API server cuts a `generateName` prefix to before adding 5 characters.
const GENERATED_PREFIX_MAX: usize = 58;
const RANDOM_SUFFIX_LEN: usize = 5;
/// Digits of a CronJob's scheduled time in minutes since 1970 (8 since 1989).
const CRONJOB_MIN_DIGITS: usize = 8;

/// A workload: its name and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub name: String,
    pub kind: String,
}

impl Workload {
    fn new(name: &str, kind: &str) -> Self {
        Workload {
            name: name.to_string(),
            kind: kind.to_string(),
        }
    }
}

/// The workload from what is configured, derived from the pod name and labels where the
/// configuration is silent. Empty name and kind when nothing is known at all.
pub fn resolve(
    name: Option<&str>,
    kind: Option<&str>,
    pod_name: &str,
    labels: &BTreeMap<String, String>,
) -> Workload {
    let kind = kind.map(canonical_kind);
    match (name, kind) {
        (Some(n), Some(k)) => Workload::new(n, k),
        (None, None) if pod_name.is_empty() => Workload::new("", ""),
        (None, None) => derive(pod_name, labels),
        (Some(n), None) => {
            let derived = derive(pod_name, labels);
            let kind = if derived.name == n {
                derived.kind
            } else {
                String::new()
            };
            Workload {
                name: n.to_string(),
                kind,
            }
        }
        (None, Some(k)) => {
            let derived = derive(pod_name, labels);
            if derived.kind == k {
                derived
            } else {
                Workload::new(name_for_kind(k, pod_name, labels), k)
            }
        }
    }
}

/// The known kind spelled as the API does (`deployment` -> `Deployment`); other kinds as
/// given.
fn canonical_kind(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(kind))
        .copied()
        .unwrap_or(kind)
}

/// The top owner guessed from the pod name and labels; the pod itself when nothing fits.
pub fn derive(pod_name: &str, labels: &BTreeMap<String, String>) -> Workload {
    let label = |k: &str| labels.get(k).map(String::as_str);
    if let Some(job) = label("batch.kubernetes.io/job-name").or(label("job-name")) {
        return match cronjob_of(job) {
            Some(cronjob) => Workload::new(cronjob, "CronJob"),
            None => Workload::new(job, "Job"),
        };
    }
    if label("controller-revision-hash").is_some() {
        if label("pod-template-generation").is_some() {
            if let Some(ds) = strip_random_suffix(pod_name) {
                return Workload::new(ds, "DaemonSet");
            }
        } else if let Some(sts) = strip_ordinal(pod_name) {
            return Workload::new(sts, "StatefulSet");
        }
    }
    if let Some(hash) = label("pod-template-hash").filter(|h| !h.is_empty()) {
        if let Some(deployment) = deployment_of(pod_name, hash) {
            return Workload::new(deployment, "Deployment");
        }
        if let Some(rs) = strip_random_suffix(pod_name) {
            return Workload::new(rs, "ReplicaSet");
        }
    }
    Workload::new(pod_name, "Pod")
}

/// The name a kind gives its pods, undone, without help from the labels.
fn name_for_kind<'a>(
    kind: &str,
    pod_name: &'a str,
    labels: &'a BTreeMap<String, String>,
) -> &'a str {
    let job = || {
        labels
            .get("batch.kubernetes.io/job-name")
            .or(labels.get("job-name"))
            .map(String::as_str)
    };
    let cut = match kind {
        "Deployment" => strip_random_suffix(pod_name).and_then(strip_segment),
        "ReplicaSet" | "DaemonSet" => strip_random_suffix(pod_name),
        "StatefulSet" => strip_ordinal(pod_name),
        "Job" => job().or_else(|| strip_random_suffix(pod_name)),
        "CronJob" => job()
            .or_else(|| strip_random_suffix(pod_name))
            .and_then(strip_segment),
        _ => None,
    };
    cut.unwrap_or(pod_name)
}

/// `D` of a pod named `D-H-xxxxx`, or of a 63-character name that is the first 58
/// characters of `D-H-` plus 5 random ones.
fn deployment_of<'a>(pod_name: &'a str, hash: &str) -> Option<&'a str> {
    let whole = strip_random_suffix(pod_name)
        .and_then(|rs| rs.strip_suffix(hash))
        .and_then(|s| s.strip_suffix('-'))
        .filter(|d| !d.is_empty());
    if whole.is_some() || pod_name.len() != GENERATED_PREFIX_MAX + RANDOM_SUFFIX_LEN {
        return whole;
    }
    // The generated prefix, cut: `D-`, `D-<start of H>` or `D-H`.
    let prefix = pod_name.get(..GENERATED_PREFIX_MAX)?;
    let (d, partial) = prefix.rsplit_once('-')?;
    (!d.is_empty() && hash.starts_with(partial)).then_some(d)
}

/// The name without its last `-xxxxx` (5 lowercase letters or digits).
fn strip_random_suffix(name: &str) -> Option<&str> {
    let (head, tail) = split_last(name)?;
    (tail.len() == RANDOM_SUFFIX_LEN
        && tail
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    .then_some(head)
}

/// The name without its last `-<ordinal>`.
fn strip_ordinal(name: &str) -> Option<&str> {
    let (head, tail) = split_last(name)?;
    let canonical = tail == "0" || !tail.starts_with('0');
    (tail.bytes().all(|b| b.is_ascii_digit()) && canonical).then_some(head)
}

/// `C` of a Job named `C-<scheduled minutes>` by a CronJob.
fn cronjob_of(job: &str) -> Option<&str> {
    let (head, tail) = split_last(job)?;
    (tail.len() >= CRONJOB_MIN_DIGITS && tail.bytes().all(|b| b.is_ascii_digit())).then_some(head)
}

/// The name without its last `-segment`, whatever it is.
fn strip_segment(name: &str) -> Option<&str> {
    split_last(name).map(|(head, _)| head)
}

/// `(head, tail)` around the last `-`, both non-empty.
fn split_last(name: &str) -> Option<(&str, &str)> {
    name.rsplit_once('-')
        .filter(|(head, tail)| !head.is_empty() && !tail.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::entries;

    /// Each pod name with the workload it should give, all under the same labels.
    fn check(labels: &[(&str, &str)], cases: &[(&str, &str, &str)]) {
        let labels = entries(labels);
        for &(pod, name, kind) in cases {
            let w = derive(pod, &labels);
            assert_eq!((w.name.as_str(), w.kind.as_str()), (name, kind), "{pod}");
        }
    }

    #[test]
    fn deployment_pods() {
        check(
            &[("app", "shop"), ("pod-template-hash", "7c9d8f6b5")],
            &[
                ("shop-web-7c9d8f6b5-x2x9k", "shop-web", "Deployment"),
                // A hash that does not match the name: the ReplicaSet the name spells.
                (
                    "shop-web-5f4d3c2b1-x2x9k",
                    "shop-web-5f4d3c2b1",
                    "ReplicaSet",
                ),
                // No Deployment name before the hash: still a ReplicaSet's name.
                ("7c9d8f6b5-x2x9k", "7c9d8f6b5", "ReplicaSet"),
                // Named by hand, no generated suffix at all.
                ("my-pod", "my-pod", "Pod"),
            ],
        );
    }

    #[test]
    fn deployment_pods_with_cut_names() {
        let hash = "6d4cf56db6";
        // The generated prefix `D-H-` is cut to 58 characters, then 5 are added.
        let pod = |d: &str| format!("{}abcde", &format!("{d}-{hash}-")[..GENERATED_PREFIX_MAX]);
        // 46 characters: `D-H-` is exactly 58 long, nothing is cut.
        let names: Vec<String> = [46, 47, 48, 50, 56, 57]
            .into_iter()
            .map(|len| format!("a-{}", "x".repeat(len - 2)))
            .collect();
        let pods: Vec<String> = names.iter().map(|d| pod(d)).collect();
        let cases: Vec<(&str, &str, &str)> = pods
            .iter()
            .zip(&names)
            .map(|(p, d)| (p.as_str(), d.as_str(), "Deployment"))
            .collect();
        assert!(pods.iter().all(|p| p.len() == 63));
        check(&[("pod-template-hash", hash)], &cases);
    }

    #[test]
    fn statefulset_pods() {
        check(
            &[
                ("controller-revision-hash", "web-6b8c9d7f5"),
                ("statefulset.kubernetes.io/pod-name", "web-0"),
            ],
            &[
                ("web-0", "web", "StatefulSet"),
                ("db-main-12", "db-main", "StatefulSet"),
                ("web-01", "web-01", "Pod"),
                ("web", "web", "Pod"),
            ],
        );
    }

    #[test]
    fn daemonset_pods() {
        check(
            &[
                ("controller-revision-hash", "5d8f7c9b6"),
                ("pod-template-generation", "3"),
            ],
            &[
                ("fluent-bit-x7k2p", "fluent-bit", "DaemonSet"),
                // An all-digit random suffix: a DaemonSet still, not StatefulSet ordinal.
                ("fluent-bit-24567", "fluent-bit", "DaemonSet"),
                ("fluent-bit", "fluent-bit", "Pod"),
            ],
        );
    }

    #[test]
    fn job_and_cronjob_pods() {
        let job = |label: &str, job: &str, pod: &str, name: &str, kind: &str| {
            check(
                &[(label, job), ("controller-uid", "1234")],
                &[(pod, name, kind)],
            );
        };
        job("job-name", "migrate", "migrate-x7k2p", "migrate", "Job");
        job(
            "batch.kubernetes.io/job-name",
            "backup-28437120",
            "backup-28437120-x7k2p",
            "backup",
            "CronJob",
        );
        job(
            "job-name",
            "nightly-report-28437120",
            "nightly-report-28437120-q8z4w",
            "nightly-report",
            "CronJob",
        );
        // A Job named by hand with a short number is not taken for a CronJob's.
        job("job-name", "backup-2", "backup-2-x7k2p", "backup-2", "Job");
        job("job-name", "28437120", "28437120-x7k2p", "28437120", "Job");
    }

    #[test]
    fn bare_pods() {
        check(
            &[],
            &[
                ("debug", "debug", "Pod"),
                (
                    "shop-web-7c9d8f6b5-x2x9k",
                    "shop-web-7c9d8f6b5-x2x9k",
                    "Pod",
                ),
            ],
        );
    }

    #[test]
    fn configuration_wins() {
        let l = entries(&[("pod-template-hash", "7c9d8f6b5")]);
        let pod = "shop-web-7c9d8f6b5-x2x9k";
        let w = |n: Option<&str>, k: Option<&str>| {
            let w = resolve(n, k, pod, &l);
            (w.name, w.kind)
        };
        let is = |n: &str, k: &str| (n.to_string(), k.to_string());
        assert_eq!(w(Some("shop"), Some("Rollout")), is("shop", "Rollout"));
        assert_eq!(w(None, None), is("shop-web", "Deployment"));
        // Name alone: the kind is known only when the derivation agrees.
        assert_eq!(w(Some("shop-web"), None), is("shop-web", "Deployment"));
        assert_eq!(w(Some("other"), None), is("other", ""));
        // Kind alone, spelled loosely.
        assert_eq!(w(None, Some("deployment")), is("shop-web", "Deployment"));
        assert_eq!(
            w(None, Some("ReplicaSet")),
            is("shop-web-7c9d8f6b5", "ReplicaSet")
        );
        assert_eq!(w(None, Some("Pod")), is(pod, "Pod"));
        assert_eq!(w(None, Some("StatefulSet")), is(pod, "StatefulSet"));
        assert_eq!(w(None, Some("Rollout")), is(pod, "Rollout"));
        // No pod name: nothing is known.
        assert_eq!(
            (
                resolve(None, None, "", &l).name,
                resolve(None, None, "", &l).kind
            ),
            is("", "")
        );
    }

    #[test]
    fn kind_alone_without_labels() {
        let none = BTreeMap::new();
        let w = |k: &str, pod: &str| resolve(None, Some(k), pod, &none).name;
        assert_eq!(w("Deployment", "shop-web-7c9d8f6b5-x2x9k"), "shop-web");
        assert_eq!(w("DaemonSet", "fluent-bit-x7k2p"), "fluent-bit");
        assert_eq!(w("StatefulSet", "web-3"), "web");
        assert_eq!(w("Job", "migrate-x7k2p"), "migrate");
        assert_eq!(w("CronJob", "backup-28437120-x7k2p"), "backup");
        assert_eq!(w("Deployment", "plain"), "plain");
    }
}
