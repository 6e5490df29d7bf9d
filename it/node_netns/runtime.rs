//! A container runtime's CRI for the node-mode tests without containerd: a gRPC server on
//! a unix socket that answers ListPodSandbox and PodSandboxStatus (verbose) as containerd
//! does, from the sandboxes the test registers, and refuses every other call.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use podflow::node::cri::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use podflow::node::cri::*;
use tonic::codegen::tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

/// One pod sandbox as the fake runtime reports it.
#[derive(Clone, Debug)]
pub struct FakeSandbox {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// The network namespace path in the runtime's own view.
    pub netns: PathBuf,
}

type Sandboxes = Arc<Mutex<HashMap<String, FakeSandbox>>>;

/// The runtime: serving on `socket` from its own thread until dropped.
pub struct FakeRuntime {
    pub socket: PathBuf,
    sandboxes: Sandboxes,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeRuntime {
    pub fn start(socket: &Path) -> FakeRuntime {
        let sandboxes = Sandboxes::default();
        let service = Service(sandboxes.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(async { tokio::net::UnixListener::bind(socket) })
            .unwrap();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                tonic::transport::Server::builder()
                    .add_service(RuntimeServiceServer::new(service))
                    .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            })
        });
        FakeRuntime {
            socket: socket.to_path_buf(),
            sandboxes,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `unix://` and the socket's path.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn add(&self, sandbox: FakeSandbox) {
        let mut all = self.sandboxes.lock().unwrap();
        all.insert(sandbox.id.clone(), sandbox);
    }

    pub fn remove(&self, id: &str) {
        self.sandboxes.lock().unwrap().remove(id);
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

struct Service(Sandboxes);

/// containerd's verbose info: the sandbox's OCI spec, with its network namespace.
fn info(sandbox: &FakeSandbox) -> HashMap<String, String> {
    let info = serde_json::json!({
        "pid": 0,
        "runtimeSpec": {"linux": {"namespaces": [
            {"type": "pid"},
            {"type": "network", "path": sandbox.netns},
        ]}},
    });
    HashMap::from([("info".to_string(), info.to_string())])
}

fn metadata(s: &FakeSandbox) -> Option<PodSandboxMetadata> {
    Some(PodSandboxMetadata {
        name: s.name.clone(),
        uid: s.uid.clone(),
        namespace: s.namespace.clone(),
        attempt: 0,
    })
}

/// Every call the fake does not answer, written as `async_trait` writes an `async fn` (the
/// attribute does not see into a macro).
macro_rules! refused {
    ($($name:ident($req:ty) -> $resp:ty;)*) => {
        $(
            fn $name<'life0, 'async_trait>(
                &'life0 self,
                _: Request<$req>,
            ) -> Pin<Box<dyn Future<Output = Result<Response<$resp>, Status>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async { Err(Status::unimplemented(stringify!($name))) })
            }
        )*
    };
}

#[tonic::codegen::async_trait]
impl RuntimeService for Service {
    async fn list_pod_sandbox(
        &self,
        _: Request<ListPodSandboxRequest>,
    ) -> Result<Response<ListPodSandboxResponse>, Status> {
        let items = self
            .0
            .lock()
            .unwrap()
            .values()
            .map(|s| PodSandbox {
                id: s.id.clone(),
                metadata: metadata(s),
                state: PodSandboxState::SandboxReady as i32,
                ..PodSandbox::default()
            })
            .collect();
        Ok(Response::new(ListPodSandboxResponse { items }))
    }

    async fn pod_sandbox_status(
        &self,
        request: Request<PodSandboxStatusRequest>,
    ) -> Result<Response<PodSandboxStatusResponse>, Status> {
        let id = request.into_inner().pod_sandbox_id;
        let all = self.0.lock().unwrap();
        let s = all.get(&id).ok_or_else(|| Status::not_found(id.clone()))?;
        Ok(Response::new(PodSandboxStatusResponse {
            status: Some(PodSandboxStatus {
                id: s.id.clone(),
                metadata: metadata(s),
                state: PodSandboxState::SandboxReady as i32,
                ..PodSandboxStatus::default()
            }),
            info: info(s),
            ..PodSandboxStatusResponse::default()
        }))
    }

    refused! {
        version(VersionRequest) -> VersionResponse;
        run_pod_sandbox(RunPodSandboxRequest) -> RunPodSandboxResponse;
        stop_pod_sandbox(StopPodSandboxRequest) -> StopPodSandboxResponse;
        remove_pod_sandbox(RemovePodSandboxRequest) -> RemovePodSandboxResponse;
        create_container(CreateContainerRequest) -> CreateContainerResponse;
        start_container(StartContainerRequest) -> StartContainerResponse;
        stop_container(StopContainerRequest) -> StopContainerResponse;
        remove_container(RemoveContainerRequest) -> RemoveContainerResponse;
        list_containers(ListContainersRequest) -> ListContainersResponse;
        container_status(ContainerStatusRequest) -> ContainerStatusResponse;
        exec_sync(ExecSyncRequest) -> ExecSyncResponse;
        status(StatusRequest) -> StatusResponse;
    }
}
