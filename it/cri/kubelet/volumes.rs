//! Pod volumes as the kubelet lays them out under its pod directory, and the container
//! mounts made of them.
//!
//! Supported: downwardAPI, configMap, secret and projected volumes (written by the atomic
//! writer: a timestamped payload directory, a `..data` symlink to it, one symlink per
//! top-level file), emptyDir, and hostPath through a path map the test gives (a path not in
//! the map is refused, so a test never mounts the machine's own directories). The kubelet
//! backs downwardAPI, secret and projected volumes with a tmpfs; here they are plain
//! directories under the node's, which changes nothing a container can observe but the
//! filesystem type.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume};
use podflow::node::cri::{Mount, MountPropagation};

use super::fieldpath::{field_value, resource_value, PodAddresses};
use super::{NodeInfo, Objects, TranslateError};

/// One file of an atomically written volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// What setting a volume up means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setup {
    /// A payload written by the atomic writer into the directory.
    Payload(BTreeMap<String, File>),
    /// An empty directory (mode 0777).
    EmptyDir,
    /// A directory that exists (or is created with DirectoryOrCreate) outside the pod.
    HostPath { create: bool },
}

/// A volume of the pod: where it lives on the node and how it is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodVolume {
    pub path: PathBuf,
    pub setup: Setup,
}

/// The kubelet's directory of a pod: `<pods>/<uid>`.
pub fn pod_dir(pod: &Pod, node: &NodeInfo) -> PathBuf {
    node.pods_dir
        .join(pod.metadata.uid.as_deref().unwrap_or_default())
}

const DEFAULT_MODE: i32 = 0o644;

/// The pod's volumes, by name.
pub fn plan(
    pod: &Pod,
    node: &NodeInfo,
    addresses: &PodAddresses,
    objects: &Objects,
) -> Result<BTreeMap<String, PodVolume>, TranslateError> {
    let mut volumes = BTreeMap::new();
    let spec = pod.spec.as_ref();
    for volume in spec.and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let dir = |plugin: &str| {
            pod_dir(pod, node)
                .join("volumes")
                .join(format!("kubernetes.io~{plugin}"))
                .join(&volume.name)
        };
        let planned = volume_plan(pod, volume, node, addresses, objects, dir)?;
        volumes.insert(volume.name.clone(), planned);
    }
    Ok(volumes)
}

/// One source of a payload volume's files.
enum Source<'a> {
    Downward(&'a [DownwardAPIVolumeFile]),
    /// The keys of a ConfigMap or Secret.
    Keys {
        objects: &'a BTreeMap<String, BTreeMap<String, String>>,
        name: &'a str,
        items: Option<&'a [KeyToPath]>,
        optional: Option<bool>,
    },
    Token(&'a str),
}

fn volume_plan(
    pod: &Pod,
    volume: &Volume,
    node: &NodeInfo,
    addresses: &PodAddresses,
    objects: &Objects,
    dir: impl Fn(&str) -> PathBuf,
) -> Result<PodVolume, TranslateError> {
    let config_map = |name, items, optional| Source::Keys {
        objects: &objects.config_maps,
        name,
        items,
        optional,
    };
    let secret = |name, items, optional| Source::Keys {
        objects: &objects.secrets,
        name,
        items,
        optional,
    };
    let payload = if let Some(d) = &volume.downward_api {
        let items = d.items.as_deref().unwrap_or_default();
        Some((
            "downward-api",
            d.default_mode,
            vec![Source::Downward(items)],
        ))
    } else if let Some(c) = &volume.config_map {
        let source = config_map(c.name.as_str(), c.items.as_deref(), c.optional);
        Some(("configmap", c.default_mode, vec![source]))
    } else if let Some(s) = &volume.secret {
        let name = s.secret_name.as_deref().unwrap_or_default();
        Some((
            "secret",
            s.default_mode,
            vec![secret(name, s.items.as_deref(), s.optional)],
        ))
    } else if let Some(p) = &volume.projected {
        let mut sources = Vec::new();
        for source in p.sources.iter().flatten() {
            if let Some(d) = &source.downward_api {
                sources.push(Source::Downward(d.items.as_deref().unwrap_or_default()));
            }
            if let Some(c) = &source.config_map {
                sources.push(config_map(c.name.as_str(), c.items.as_deref(), c.optional));
            }
            if let Some(s) = &source.secret {
                sources.push(secret(s.name.as_str(), s.items.as_deref(), s.optional));
            }
            if let Some(t) = &source.service_account_token {
                sources.push(Source::Token(&t.path));
            }
        }
        Some(("projected", p.default_mode, sources))
    } else {
        None
    };
    if let Some((plugin, mode, sources)) = payload {
        let mode = mode.unwrap_or(DEFAULT_MODE);
        let mut files = BTreeMap::new();
        for source in sources {
            match source {
                Source::Downward(items) => {
                    downward_files(pod, items, mode, node, addresses, &mut files)?
                }
                Source::Keys {
                    objects,
                    name,
                    items,
                    optional,
                } => key_files(objects, name, items, optional, mode, &mut files)?,
                Source::Token(path) => {
                    let token = objects
                        .service_account_token
                        .clone()
                        .ok_or_else(|| TranslateError::Missing("a service account token".into()))?;
                    let file = File {
                        data: token.into_bytes(),
                        mode: mode as u32,
                    };
                    files.insert(path.to_string(), file);
                }
            }
        }
        return Ok(PodVolume {
            path: dir(plugin),
            setup: Setup::Payload(files),
        });
    }
    if volume.empty_dir.is_some() {
        return Ok(PodVolume {
            path: dir("empty-dir"),
            setup: Setup::EmptyDir,
        });
    }
    if let Some(h) = &volume.host_path {
        let path = node
            .host_paths
            .get(&h.path)
            .ok_or_else(|| TranslateError::HostPath(h.path.clone()))?;
        return Ok(PodVolume {
            path: path.clone(),
            setup: Setup::HostPath {
                create: h.type_.as_deref() == Some("DirectoryOrCreate"),
            },
        });
    }
    Err(TranslateError::Unsupported(format!(
        "volume {}: only downwardAPI, configMap, secret, projected, emptyDir and hostPath",
        volume.name
    )))
}

fn downward_files(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
    node: &NodeInfo,
    addresses: &PodAddresses,
    files: &mut BTreeMap<String, File>,
) -> Result<(), TranslateError> {
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            field_value(pod, &f.field_path, node, addresses)?
        } else if let Some(r) = &item.resource_field_ref {
            let spec = pod.spec.as_ref();
            let name = r.container_name.as_deref().unwrap_or_default();
            let container = spec
                .into_iter()
                .flat_map(|s| {
                    s.containers
                        .iter()
                        .chain(s.init_containers.iter().flatten())
                })
                .find(|c| c.name == name)
                .ok_or_else(|| TranslateError::Missing(format!("container {name}")))?;
            resource_value(container, r, node)?
        } else {
            continue;
        };
        check_path(&item.path)?;
        files.insert(
            item.path.clone(),
            File {
                data: value.into_bytes(),
                mode: item.mode.unwrap_or(default_mode) as u32,
            },
        );
    }
    Ok(())
}

fn key_files(
    objects: &BTreeMap<String, BTreeMap<String, String>>,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    default_mode: i32,
    files: &mut BTreeMap<String, File>,
) -> Result<(), TranslateError> {
    let Some(data) = objects.get(name) else {
        return if optional == Some(true) {
            Ok(())
        } else {
            Err(TranslateError::Missing(name.to_string()))
        };
    };
    let file = |value: &String, mode: Option<i32>| File {
        data: value.as_bytes().to_vec(),
        mode: mode.unwrap_or(default_mode) as u32,
    };
    match items {
        None => {
            for (key, value) in data {
                files.insert(key.clone(), file(value, None));
            }
        }
        Some(items) => {
            for item in items {
                let value = data
                    .get(&item.key)
                    .ok_or_else(|| TranslateError::Missing(format!("{name}/{}", item.key)))?;
                check_path(&item.path)?;
                files.insert(item.path.clone(), file(value, item.mode));
            }
        }
    }
    Ok(())
}

/// Payload paths are relative, without `..`, and do not start with `..`.
fn check_path(path: &str) -> Result<(), TranslateError> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && !path.starts_with("..")
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(TranslateError::Unsupported(format!(
            "payload path {path:?}"
        )))
    }
}

/// Where the atomic writer links the current payload.
pub const DATA_DIR: &str = "..data";

/// The name of a payload directory written at `time` (UTC) with random `suffix`, as Go's
/// MkdirTemp names it from the kubelet's pattern `..2006_01_02_15_04_05.`.
pub fn payload_dir_name(time: std::time::SystemTime, suffix: u32) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "..{y:04}_{m:02}_{d:02}_{:02}_{:02}_{:02}.{suffix}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Writes `files` into `dir` as the kubelet's atomic writer does: a new payload directory
/// (0755), the files in it with their modes, `..data` swapped to it through a renamed
/// `..data_tmp` symlink, a `name -> ..data/name` symlink per top-level entry, and the
/// previous payload removed. Returns the payload directory's name.
pub fn write_atomic(dir: &Path, files: &BTreeMap<String, File>) -> io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let old = std::fs::read_link(dir.join(DATA_DIR)).ok();
    let name = loop {
        let name = payload_dir_name(std::time::SystemTime::now(), random_u32());
        match std::fs::create_dir(dir.join(&name)) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            other => break other.map(|()| name)?,
        }
    };
    let payload = dir.join(&name);
    std::fs::set_permissions(&payload, std::fs::Permissions::from_mode(0o755))?;
    for (path, file) in files {
        let full = payload.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, &file.data)?;
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(file.mode))?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&name, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA_DIR))?;
    let top: std::collections::BTreeSet<&str> =
        files.keys().filter_map(|p| p.split('/').next()).collect();
    for entry in &top {
        let link = dir.join(entry);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_DIR).join(entry), &link)?;
        }
    }
    if let Some(old) = old {
        // Entries the new payload no longer has go with the old payload.
        if let Ok(entries) = std::fs::read_dir(dir.join(&old)) {
            for e in entries.flatten() {
                let n = e.file_name();
                if !top.contains(n.to_string_lossy().as_ref()) {
                    let _ = std::fs::remove_file(dir.join(&n));
                }
            }
        }
        std::fs::remove_dir_all(dir.join(old))?;
    }
    Ok(name)
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// Sets a planned volume up on the node.
pub fn set_up(volume: &PodVolume) -> io::Result<()> {
    match &volume.setup {
        Setup::Payload(files) => {
            std::fs::create_dir_all(&volume.path)?;
            std::fs::set_permissions(&volume.path, std::fs::Permissions::from_mode(0o777))?;
            write_atomic(&volume.path, files).map(drop)
        }
        Setup::EmptyDir => {
            std::fs::create_dir_all(&volume.path)?;
            std::fs::set_permissions(&volume.path, std::fs::Permissions::from_mode(0o777))
        }
        Setup::HostPath { create: true } => std::fs::create_dir_all(&volume.path),
        Setup::HostPath { create: false } => std::fs::metadata(&volume.path).map(drop),
    }
}

/// The CRI mounts of `container`'s volumeMounts.
pub fn mounts(
    container: &Container,
    volumes: &BTreeMap<String, PodVolume>,
    privileged: bool,
) -> Result<Vec<Mount>, TranslateError> {
    let mut mounts = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let volume = volumes
            .get(&m.name)
            .ok_or_else(|| TranslateError::Missing(format!("volume {}", m.name)))?;
        let mut host_path = volume.path.clone();
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            check_path(sub)?;
            host_path = host_path.join(sub);
        }
        if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(TranslateError::Unsupported("subPathExpr".into()));
        }
        let propagation = match m.mount_propagation.as_deref() {
            None | Some("None") => MountPropagation::PropagationPrivate,
            Some("HostToContainer") => MountPropagation::PropagationHostToContainer,
            Some("Bidirectional") if privileged => MountPropagation::PropagationBidirectional,
            Some("Bidirectional") => {
                return Err(TranslateError::Unsupported(format!(
                    "container {}: Bidirectional mount propagation is available only to privileged containers",
                    container.name
                )))
            }
            Some(other) => {
                return Err(TranslateError::Unsupported(format!("mountPropagation {other}")))
            }
        };
        mounts.push(Mount {
            container_path: m.mount_path.clone(),
            host_path: host_path.display().to_string(),
            readonly: m.read_only.unwrap_or(false),
            propagation: propagation as i32,
            ..Default::default()
        });
    }
    Ok(mounts)
}

/// The pod's /etc/hosts as the kubelet writes it: for a pod network, localhost entries and
/// one line per pod address; for host network, the node's own file under a header.
pub fn etc_hosts(pod_ips: &[String], hostname: &str, host_network: Option<&str>) -> String {
    if let Some(node_hosts) = host_network {
        return format!("# Kubernetes-managed hosts file (host network).\n{node_hosts}");
    }
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    for ip in pod_ips {
        out.push_str(&format!("{ip}\t{hostname}\n"));
    }
    out
}
