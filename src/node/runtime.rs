//! The container runtime's own records of the node's pods, read through its CRI
//! (`runtime.v1`, what the kubelet itself uses): each ready pod sandbox, the pod it belongs
//! to (name, namespace, UID) and the network namespace the runtime made for it. Node mode
//! captures a namespace only when the runtime says which pod owns it; an address a
//! namespace claims proves nothing, since any process that owns a namespace chooses them.
//!
//! The CRI answers over gRPC; the calls run on a small single-threaded tokio runtime of the
//! node thread, each under a deadline, so a runtime that hangs cannot stop the thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::node::cri::runtime_service_client::RuntimeServiceClient;
use crate::node::cri::{
    ListPodSandboxRequest, NamespaceMode, PodSandboxFilter, PodSandboxState, PodSandboxStateValue,
    PodSandboxStatusRequest, PodSandboxStatusResponse,
};
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::telemetry::logging::{causes, error_chain};

/// Longest one CRI call may take; a healthy runtime answers in milliseconds.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A pod sandbox as the runtime records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    /// The runtime's sandbox id.
    pub id: String,
    /// The pod's UID, name and namespace (the kubelet's metadata of the sandbox).
    pub uid: String,
    pub name: String,
    pub namespace: String,
    /// The network namespace file the runtime made for the pod, as the runtime sees it
    /// (a path of the node's mount namespace).
    pub netns: PathBuf,
    /// The sandbox's first process on the node, where the runtime says.
    pub pid: Option<u32>,
}

/// Why the runtime's records could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("node.runtime_endpoint {0:?} is not unix:///PATH (or an absolute path)")]
    Endpoint(String),
    #[error("cannot start the CRI client: {0}")]
    Client(std::io::Error),
    #[error(
        "cannot connect to the container runtime at {path}: {}",
        error_chain(causes(error))
    )]
    Connect {
        path: PathBuf,
        error: tonic::transport::Error,
    },
    #[error("the container runtime at {path} answered CRI {call} with an error: {} ({:?})", .status.message(), .status.code())]
    Call {
        path: PathBuf,
        call: &'static str,
        status: tonic::Status,
    },
}

/// The socket path of a CRI endpoint: `unix:///run/containerd/containerd.sock`, or the
/// absolute path itself. Pure.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, RuntimeError> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(RuntimeError::Endpoint(endpoint.to_owned()))
    }
}

/// The network namespace path and process of a sandbox from its verbose status info (the
/// JSON under `info`, where containerd and CRI-O put the sandbox's OCI runtime spec). Pure.
pub fn netns_of(info: &HashMap<String, String>) -> Option<(PathBuf, Option<u32>)> {
    let info: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    let pid = info["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    let from_spec = || {
        info["runtimeSpec"]["linux"]["namespaces"]
            .as_array()?
            .iter()
            .find(|ns| ns["type"] == "network")?["path"]
            .as_str()
            .map(str::to_owned)
    };
    let path = info["netNamespacePath"]
        .as_str()
        .map(str::to_owned)
        .or_else(from_spec)
        .filter(|p| !p.is_empty())?;
    Some((PathBuf::from(path), pid))
}

/// The sandbox of a `PodSandboxStatus` answer: `None` for a sandbox on the node's network
/// (hostNetwork: its namespace is the node's) or one without a namespace path. Pure.
pub fn sandbox_of(answer: &PodSandboxStatusResponse) -> Option<Sandbox> {
    let status = answer.status.as_ref()?;
    let host_network = status
        .linux
        .as_ref()
        .and_then(|l| l.namespaces.as_ref())
        .and_then(|n| n.options.as_ref())
        .is_some_and(|o| o.network == NamespaceMode::Node as i32);
    if host_network {
        return None;
    }
    let meta = status.metadata.as_ref()?;
    let (netns, pid) = netns_of(&answer.info)?;
    Some(Sandbox {
        id: status.id.clone(),
        uid: meta.uid.clone(),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        netns,
        pid,
    })
}

/// A CRI client of the node thread. Connects when first asked and again after a failure.
pub struct Runtime {
    path: PathBuf,
    tokio: tokio::runtime::Runtime,
    client: Option<RuntimeServiceClient<Channel>>,
    /// Sandboxes already described, by id: a sandbox's namespace never changes, so only
    /// new ones cost a PodSandboxStatus. `None` for host-network sandboxes.
    known: HashMap<String, Option<Sandbox>>,
}

impl Runtime {
    /// A client of `endpoint`; nothing is connected yet.
    pub fn new(endpoint: &str) -> Result<Runtime, RuntimeError> {
        let path = socket_path(endpoint)?;
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RuntimeError::Client)?;
        Ok(Runtime {
            path,
            tokio,
            client: None,
            known: HashMap::new(),
        })
    }

    /// The socket it talks to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every ready pod sandbox with a network namespace of its own.
    pub fn sandboxes(&mut self) -> Result<Vec<Sandbox>, RuntimeError> {
        let result = self.list();
        if result.is_err() {
            self.client = None;
        }
        result
    }

    fn list(&mut self) -> Result<Vec<Sandbox>, RuntimeError> {
        let client = match &mut self.client {
            Some(c) => c,
            None => {
                let c = self.connect()?;
                self.client.insert(c)
            }
        };
        let path = &self.path;
        let call = |call, status| RuntimeError::Call {
            path: path.clone(),
            call,
            status,
        };
        let ready = ListPodSandboxRequest {
            filter: Some(PodSandboxFilter {
                state: Some(PodSandboxStateValue {
                    state: PodSandboxState::SandboxReady as i32,
                }),
                ..PodSandboxFilter::default()
            }),
        };
        let listed = self
            .tokio
            .block_on(client.list_pod_sandbox(ready))
            .map_err(|s| call("ListPodSandbox", s))?
            .into_inner()
            .items;
        self.known
            .retain(|id, _| listed.iter().any(|s| &s.id == id));
        let mut out = Vec::with_capacity(listed.len());
        for item in listed {
            if let Some(known) = self.known.get(&item.id) {
                out.extend(known.clone());
                continue;
            }
            let request = PodSandboxStatusRequest {
                pod_sandbox_id: item.id.clone(),
                verbose: true,
            };
            let answer = match self.tokio.block_on(client.pod_sandbox_status(request)) {
                Ok(a) => a.into_inner(),
                // Removed between the list and now.
                Err(s) if s.code() == tonic::Code::NotFound => continue,
                Err(s) => return Err(call("PodSandboxStatus", s)),
            };
            let sandbox = sandbox_of(&answer);
            out.extend(sandbox.clone());
            self.known.insert(item.id, sandbox);
        }
        Ok(out)
    }

    fn connect(&self) -> Result<RuntimeServiceClient<Channel>, RuntimeError> {
        let channel = self
            .tokio
            .block_on(unix_channel(&self.path, CALL_TIMEOUT))
            .map_err(|error| RuntimeError::Connect {
                path: self.path.clone(),
                error,
            })?;
        Ok(RuntimeServiceClient::new(channel))
    }
}

/// A gRPC channel to the unix socket at `path`, each call under `timeout`: what a CRI client
/// talks through.
pub async fn unix_channel(
    path: &Path,
    timeout: Duration,
) -> Result<Channel, tonic::transport::Error> {
    let socket = path.to_path_buf();
    // tonic wants a URI; every connection goes to the socket instead.
    Endpoint::from_static("http://cri.invalid")
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::cri::{
        LinuxPodSandboxStatus, Namespace, NamespaceOption, PodSandboxMetadata, PodSandboxStatus,
    };

    /// The `info` of a containerd 1.6 verbose PodSandboxStatus, trimmed to what is read.
    const CONTAINERD_INFO: &str = r#"{"pid":4242,"processStatus":"running",
        "runtimeSpec":{"linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},
        {"type":"uts"},{"type":"network","path":"/var/run/netns/cni-1b2c"}]}}}"#;

    fn answer(info: &str, network: NamespaceMode) -> PodSandboxStatusResponse {
        PodSandboxStatusResponse {
            status: Some(PodSandboxStatus {
                id: "sb1".into(),
                metadata: Some(PodSandboxMetadata {
                    name: "web-0".into(),
                    uid: "uid-1".into(),
                    namespace: "shop".into(),
                    attempt: 0,
                }),
                linux: Some(LinuxPodSandboxStatus {
                    namespaces: Some(Namespace {
                        options: Some(NamespaceOption {
                            network: network as i32,
                            ..NamespaceOption::default()
                        }),
                    }),
                }),
                ..PodSandboxStatus::default()
            }),
            info: HashMap::from([("info".to_owned(), info.to_owned())]),
            ..PodSandboxStatusResponse::default()
        }
    }

    #[test]
    fn a_sandbox_is_its_pod_and_the_network_namespace_of_its_spec() {
        let sb = sandbox_of(&answer(CONTAINERD_INFO, NamespaceMode::Pod)).unwrap();
        assert_eq!(
            (sb.uid.as_str(), sb.name.as_str(), sb.namespace.as_str()),
            ("uid-1", "web-0", "shop")
        );
        assert_eq!(
            (sb.netns, sb.pid),
            (PathBuf::from("/var/run/netns/cni-1b2c"), Some(4242))
        );
        // hostNetwork: the node's namespace, never a pod's.
        assert_eq!(
            sandbox_of(&answer(CONTAINERD_INFO, NamespaceMode::Node)),
            None
        );
        // No verbose info, or no network namespace path in it.
        assert_eq!(sandbox_of(&answer("not json", NamespaceMode::Pod)), None);
        let no_path = r#"{"runtimeSpec":{"linux":{"namespaces":[{"type":"network"}]}}}"#;
        assert_eq!(sandbox_of(&answer(no_path, NamespaceMode::Pod)), None);
        let top = r#"{"netNamespacePath":"/run/netns/x"}"#;
        let sb = sandbox_of(&answer(top, NamespaceMode::Pod)).unwrap();
        assert_eq!((sb.netns, sb.pid), (PathBuf::from("/run/netns/x"), None));
    }

    #[test]
    fn endpoints_are_unix_sockets() {
        let p = socket_path("unix:///run/containerd/containerd.sock").unwrap();
        assert_eq!(p, PathBuf::from("/run/containerd/containerd.sock"));
        assert_eq!(
            socket_path("/run/crio/crio.sock").unwrap(),
            PathBuf::from("/run/crio/crio.sock")
        );
        for bad in ["tcp://10.0.0.1:1", "unix://relative.sock", ""] {
            assert!(socket_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_runtime_that_is_not_there_says_where_it_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("none.sock");
        let mut rt = Runtime::new(&format!("unix://{}", sock.display())).unwrap();
        let e = rt.sandboxes().unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "cannot connect to the container runtime at {}",
                sock.display()
            )),
            "{e}"
        );
    }
}
