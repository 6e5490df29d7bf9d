//! A blocking CRI client: `runtime.v1` over containerd's unix socket, the calls a kubelet
//! makes to run, inspect and remove pods. Each call blocks on the client's own tokio
//! runtime, so tests stay plain `#[test]` functions.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use podflow::node::cri::image_service_client::ImageServiceClient;
use podflow::node::cri::runtime_service_client::RuntimeServiceClient;
use podflow::node::cri::{
    Container, ContainerConfig, ContainerStatusRequest, ContainerStatusResponse,
    CreateContainerRequest, Image, ImageSpec, ImageStatusRequest, ListContainersRequest,
    ListPodSandboxRequest, PodSandbox, PodSandboxConfig, PodSandboxStatusRequest,
    PodSandboxStatusResponse, RemoveContainerRequest, RemovePodSandboxRequest,
    RunPodSandboxRequest, StartContainerRequest, StatusRequest, StatusResponse,
    StopContainerRequest, StopPodSandboxRequest, VersionRequest, VersionResponse,
};
use tonic::transport::Channel;

/// What went wrong talking to the runtime.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The socket could not be reached.
    #[error("connecting to the CRI socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: tonic::transport::Error,
    },
    /// A call was answered with an error.
    #[error("CRI {call}: {} ({:?})", .status.message(), .status.code())]
    Call {
        call: &'static str,
        status: tonic::Status,
    },
}

pub type Result<T> = std::result::Result<T, CriError>;

/// A connection to one runtime's CRI socket.
pub struct Cri {
    runtime: tokio::runtime::Runtime,
    service: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

/// Longest a single call may take; containerd answers within a second when it is healthy.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Cri {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Cri> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let channel = runtime
            .block_on(podflow::node::unix_channel(path, CALL_TIMEOUT))
            .map_err(|source| CriError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Cri {
            runtime,
            service: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }

    fn call<T>(
        &self,
        call: &'static str,
        future: impl Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T> {
        self.runtime
            .block_on(future)
            .map(tonic::Response::into_inner)
            .map_err(|status| CriError::Call { call, status })
    }

    pub fn version(&self) -> Result<VersionResponse> {
        let mut c = self.service.clone();
        self.call("Version", async move {
            c.version(VersionRequest {
                version: "v1".into(),
            })
            .await
        })
    }

    pub fn status(&self) -> Result<StatusResponse> {
        let mut c = self.service.clone();
        self.call("Status", async move {
            c.status(StatusRequest { verbose: false }).await
        })
    }

    /// Whether the runtime reports its network (the CNI configuration) ready.
    pub fn network_ready(&self) -> Result<bool> {
        let status = self.status()?;
        Ok(status.status.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.r#type == "NetworkReady" && c.status)
        }))
    }

    /// Runs a sandbox; returns its id.
    pub fn run_pod_sandbox(&self, config: PodSandboxConfig) -> Result<String> {
        let mut c = self.service.clone();
        self.call("RunPodSandbox", async move {
            c.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await
        })
        .map(|r| r.pod_sandbox_id)
    }

    pub fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatusResponse> {
        let mut c = self.service.clone();
        let id = id.to_string();
        self.call("PodSandboxStatus", async move {
            c.pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: id,
                verbose: false,
            })
            .await
        })
    }

    pub fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut c = self.service.clone();
        let id = id.to_string();
        self.call("StopPodSandbox", async move {
            c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: id })
                .await
        })
        .map(drop)
    }

    pub fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut c = self.service.clone();
        let id = id.to_string();
        self.call("RemovePodSandbox", async move {
            c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
                .await
        })
        .map(drop)
    }

    /// Creates a container in a sandbox; returns its id.
    pub fn create_container(
        &self,
        sandbox_id: &str,
        config: ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String> {
        let mut c = self.service.clone();
        let request = CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_string(),
            config: Some(config),
            sandbox_config: Some(sandbox_config.clone()),
        };
        self.call("CreateContainer", async move {
            c.create_container(request).await
        })
        .map(|r| r.container_id)
    }

    pub fn start_container(&self, id: &str) -> Result<()> {
        let mut c = self.service.clone();
        let id = id.to_string();
        self.call("StartContainer", async move {
            c.start_container(StartContainerRequest { container_id: id })
                .await
        })
        .map(drop)
    }

    /// The container's status; `verbose` adds the runtime's `info` (containerd: its PID).
    pub fn container_status(&self, id: &str, verbose: bool) -> Result<ContainerStatusResponse> {
        let mut c = self.service.clone();
        let id = id.to_string();
        self.call("ContainerStatus", async move {
            c.container_status(ContainerStatusRequest {
                container_id: id,
                verbose,
            })
            .await
        })
    }

    /// Stops a container: its stop signal, then SIGKILL after `timeout_secs`.
    pub fn stop_container(&self, id: &str, timeout_secs: i64) -> Result<()> {
        let mut c = self.service.clone();
        let id = id.to_string();
        self.call("StopContainer", async move {
            c.stop_container(StopContainerRequest {
                container_id: id,
                timeout: timeout_secs,
            })
            .await
        })
        .map(drop)
    }

    pub fn remove_container(&self, id: &str) -> Result<()> {
        let mut c = self.service.clone();
        let id = id.to_string();
        self.call("RemoveContainer", async move {
            c.remove_container(RemoveContainerRequest { container_id: id })
                .await
        })
        .map(drop)
    }

    pub fn list_containers(&self) -> Result<Vec<Container>> {
        let mut c = self.service.clone();
        self.call("ListContainers", async move {
            c.list_containers(ListContainersRequest { filter: None })
                .await
        })
        .map(|r| r.containers)
    }

    pub fn list_pod_sandboxes(&self) -> Result<Vec<PodSandbox>> {
        let mut c = self.service.clone();
        self.call("ListPodSandbox", async move {
            c.list_pod_sandbox(ListPodSandboxRequest { filter: None })
                .await
        })
        .map(|r| r.items)
    }

    /// Runs `cmd` in a running container and waits for it (at most `timeout_secs`): its exit
    /// code and output, as the kubelet's exec probes and `kubectl exec` get them.
    pub fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[&str],
        timeout_secs: i64,
    ) -> Result<podflow::node::cri::ExecSyncResponse> {
        let mut c = self.service.clone();
        let request = podflow::node::cri::ExecSyncRequest {
            container_id: container_id.to_string(),
            cmd: cmd.iter().map(|a| a.to_string()).collect(),
            timeout: timeout_secs,
        };
        self.call("ExecSync", async move { c.exec_sync(request).await })
    }

    /// The image the runtime holds under `reference`, if any (the kubelet reads the image's
    /// user from it for the runAsNonRoot check).
    pub fn image_status(&self, reference: &str) -> Result<Option<Image>> {
        let mut c = self.images.clone();
        let image = ImageSpec {
            image: reference.to_string(),
            ..Default::default()
        };
        self.call("ImageStatus", async move {
            c.image_status(ImageStatusRequest {
                image: Some(image),
                verbose: false,
            })
            .await
        })
        .map(|r| r.image)
    }
}
