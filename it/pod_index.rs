//! The `kube` pod source against a Kubernetes API served from inside the test: plain HTTP
//! on 127.0.0.1 speaking the API server's wire format. `GET /api/v1/pods` answers a
//! PodList with its resourceVersion; `GET /api/v1/pods?watch=true&resourceVersion=...`
//! streams newline-delimited watch events the test sends one by one; an `ERROR` event
//! carrying a Status with code 410 (Expired) makes the watcher list again, and the second
//! list differs from the first. After each step the index must converge to what the API
//! said.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use futures::channel::mpsc::{unbounded, UnboundedSender};
use podflow::metadata::{watch_with, IdentityRules, Owner, SharedIndex, TrimmedPod};
use serde_json::{json, Value};

type Sink = UnboundedSender<Result<Bytes, Infallible>>;

/// What the fake API server answers, and what it was asked.
#[derive(Default)]
struct ApiState {
    /// The PodList served to the next list request.
    list: Mutex<Value>,
    lists_served: AtomicUsize,
    /// List requests left to answer with garbage, as a broken proxy in front of the API would.
    garbage_lists: AtomicUsize,
    /// Each watch request: its query string and the stream to write its events to.
    watches: Mutex<Vec<(String, Sink)>>,
}

async fn pods(req: HttpRequest, state: web::Data<Arc<ApiState>>) -> HttpResponse {
    let query = req.query_string().to_string();
    if query.split('&').any(|p| p == "watch=true") {
        let (tx, rx) = unbounded();
        state.watches.lock().unwrap().push((query, tx));
        return HttpResponse::Ok()
            .content_type("application/json")
            .streaming(rx);
    }
    state.lists_served.fetch_add(1, Ordering::SeqCst);
    let garbage = state
        .garbage_lists
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if garbage {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body("<html>502 Bad Gateway</html>");
    }
    let list = state.list.lock().unwrap().clone();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(list.to_string())
}

/// Starts the API server; returns its URL.
fn serve(state: Arc<ApiState>) -> String {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/api/v1/pods", web::get().to(pods))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_rt::spawn(server.run());
    format!("http://{addr}")
}

/// A pod as the API server writes it, managedFields and all.
fn pod(name: &str, ip: &str, node: &str, rv: u32, owner: (&str, &str)) -> Value {
    let (kind, owner_name) = owner;
    let api_version = if kind == "Job" { "batch/v1" } else { "apps/v1" };
    let mut labels = json!({"app": name.split('-').next().unwrap()});
    if kind == "ReplicaSet" {
        labels["pod-template-hash"] = json!(owner_name.rsplit('-').next().unwrap());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": format!("{owner_name}-"),
            "namespace": "shop",
            "uid": format!("uid-{name}"),
            "resourceVersion": rv.to_string(),
            "creationTimestamp": format!("2026-01-01T10:{:02}:00Z", rv % 60),
            "labels": labels,
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T09:00:00Z"},
            "ownerReferences": [{
                "apiVersion": api_version, "kind": kind, "name": owner_name,
                "uid": format!("uid-{owner_name}"), "controller": true,
                "blockOwnerDeletion": true
            }],
            "managedFields": [{
                "manager": "kube-controller-manager", "operation": "Update",
                "apiVersion": "v1", "time": "2026-01-01T10:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}}}}
            }, {
                "manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                "time": "2026-01-01T10:00:01Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:podIPs": {}}}, "subresource": "status"
            }]
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Always",
            "serviceAccountName": "default",
            "containers": [{
                "name": "app", "image": "registry.example/shop:1.0",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {}, "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"
            }]
        },
        "status": {
            "phase": "Running",
            "hostIP": if node == "node-1" { "192.168.1.10" } else { "192.168.1.11" },
            "hostIPs": [{"ip": if node == "node-1" { "192.168.1.10" } else { "192.168.1.11" }}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": "2026-01-01T10:00:00Z",
            "qosClass": "BestEffort",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T10:00:05Z"}],
            "containerStatuses": [{
                "name": "app", "ready": true, "restartCount": 0, "image": "registry.example/shop:1.0",
                "imageID": "", "started": true, "state": {"running": {"startedAt": "2026-01-01T10:00:04Z"}}
            }]
        }
    })
}

fn pod_list(rv: u32, items: Vec<Value>) -> Value {
    json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items
    })
}

/// One watch event line as the API server streams it.
fn event(kind: &str, object: Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

const WEB_RS: (&str, &str) = ("ReplicaSet", "web-7c9d8f6b5");
const DB: (&str, &str) = ("StatefulSet", "db");

/// Polls until `check` holds of the index, or fails after a while with what it saw.
async fn until(
    index: &SharedIndex,
    what: &str,
    check: impl Fn(&podflow::metadata::PodIndex) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if check(&index.read().unwrap()) {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what}: index has {:?}", index.read().unwrap().names());
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for watch request number `n` (from 1) and returns its query and stream.
async fn watch_request(state: &ApiState, n: usize) -> (String, Sink) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(w) = state.watches.lock().unwrap().get(n - 1) {
            return w.clone();
        }
        assert!(Instant::now() < deadline, "no watch request number {n}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn names(index: &podflow::metadata::PodIndex) -> Vec<String> {
    index.names()
}

#[actix_rt::test]
async fn index_follows_list_watch_and_relist_after_410() {
    let state = Arc::new(ApiState::default());
    *state.list.lock().unwrap() = pod_list(
        1000,
        vec![
            pod("web-7c9d8f6b5-x2x9k", "10.244.1.5", "node-1", 990, WEB_RS),
            pod("db-0", "10.244.2.7", "node-2", 995, DB),
        ],
    );
    let url = serve(state.clone());
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let index = watch_with(client, IdentityRules::default());

    // The first list.
    until(&index, "first list", |i| {
        names(i) == ["shop/db-0", "shop/web-7c9d8f6b5-x2x9k"]
    })
    .await;
    {
        let i = index.read().unwrap();
        let web = i.by_ip(&ip("10.244.1.5")).unwrap();
        // Everything but what the index needs is gone; labels and annotations live on
        // only as exported, in the identities.
        assert_eq!(
            web.identity.labels_json,
            r#"{"app":"web","pod-template-hash":"7c9d8f6b5"}"#
        );
        assert_eq!(
            web.identity.annotations_json,
            r#"{"kubectl.kubernetes.io/restartedAt":"2026-01-01T09:00:00Z"}"#
        );
        assert_eq!(
            web.pod,
            TrimmedPod {
                name: "web-7c9d8f6b5-x2x9k".into(),
                namespace: "shop".into(),
                uid: "uid-web-7c9d8f6b5-x2x9k".into(),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                owners: vec![Owner {
                    kind: "ReplicaSet".into(),
                    name: "web-7c9d8f6b5".into(),
                    controller: true
                }],
                ips: vec![ip("10.244.1.5")],
                host_ip: Some(ip("192.168.1.10")),
                node_name: "node-1".into(),
                host_network: false,
                finished: false,
                created_secs: web.pod.created_secs,
            }
        );
        assert_eq!(
            (
                web.identity.workload_name.as_str(),
                web.identity.workload_kind.as_str()
            ),
            ("web", "Deployment")
        );
        let db = i.peer(&ip("10.244.2.7")).unwrap();
        assert_eq!(
            (
                db.workload_name.as_str(),
                db.workload_kind.as_str(),
                db.node_name.as_str()
            ),
            ("db", "StatefulSet", "node-2")
        );
        assert_eq!(i.on_node("node-1").len(), 1);
    }
    assert_eq!(state.lists_served.load(Ordering::SeqCst), 1);

    // The watch resumes from the list's resourceVersion and follows its events.
    let (query, watch) = watch_request(&state, 1).await;
    assert!(query.contains("resourceVersion=1000"), "{query}");
    let send = |sink: &Sink, b: Bytes| sink.unbounded_send(Ok(b)).unwrap();
    send(
        &watch,
        event(
            "ADDED",
            pod("web-7c9d8f6b5-p4q7z", "10.244.1.6", "node-1", 1001, WEB_RS),
        ),
    );
    let mut relabelled = pod("db-0", "10.244.2.7", "node-2", 1002, DB);
    relabelled["metadata"]["labels"]["tier"] = json!("data");
    send(&watch, event("MODIFIED", relabelled));
    send(
        &watch,
        event(
            "DELETED",
            pod("web-7c9d8f6b5-x2x9k", "10.244.1.5", "node-1", 1003, WEB_RS),
        ),
    );
    send(
        &watch,
        event(
            "BOOKMARK",
            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "1004"}}),
        ),
    );
    // A Job's pod gets the address the deleted pod gave back.
    send(
        &watch,
        event(
            "ADDED",
            pod(
                "migrate-x7k2p",
                "10.244.1.5",
                "node-1",
                1005,
                ("Job", "migrate"),
            ),
        ),
    );
    until(&index, "watch events", |i| {
        names(i)
            == [
                "shop/db-0",
                "shop/migrate-x7k2p",
                "shop/web-7c9d8f6b5-p4q7z",
            ]
            && i.peer(&ip("10.244.2.7"))
                .is_some_and(|p| p.labels_json.contains("tier"))
    })
    .await;
    {
        let i = index.read().unwrap();
        let reused = i.peer(&ip("10.244.1.5")).unwrap();
        assert_eq!(
            (
                reused.pod_name.as_str(),
                reused.workload_name.as_str(),
                reused.workload_kind.as_str()
            ),
            ("migrate-x7k2p", "migrate", "Job")
        );
        assert_eq!(i.peer(&ip("10.244.1.6")).unwrap().workload_name, "web");
        assert_eq!(i.on_node("node-1").len(), 2);
    }

    // The API server has compacted past the watch: 410 Gone, and a different list.
    *state.list.lock().unwrap() = pod_list(
        2000,
        vec![
            pod("web-7c9d8f6b5-p4q7z", "10.244.1.6", "node-1", 1001, WEB_RS),
            pod(
                "cache-0",
                "10.244.3.9",
                "node-3",
                1500,
                ("StatefulSet", "cache"),
            ),
        ],
    );
    send(
        &watch,
        event(
            "ERROR",
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": "too old resource version: 1004 (1800)",
                "reason": "Expired", "code": 410
            }),
        ),
    );
    until(&index, "relist after 410", |i| {
        names(i) == ["shop/cache-0", "shop/web-7c9d8f6b5-p4q7z"]
    })
    .await;
    assert_eq!(state.lists_served.load(Ordering::SeqCst), 2);
    {
        let i = index.read().unwrap();
        assert!(i.peer(&ip("10.244.1.5")).is_none(), "the Job's pod is gone");
        assert!(i.peer(&ip("10.244.2.7")).is_none(), "db-0 is gone");
        assert_eq!(i.peer(&ip("10.244.3.9")).unwrap().workload_name, "cache");
    }

    // The new watch starts from the new list.
    let (query, watch) = watch_request(&state, 2).await;
    assert!(query.contains("resourceVersion=2000"), "{query}");
    send(
        &watch,
        event("ADDED", pod("db-1", "10.244.2.8", "node-2", 2001, DB)),
    );
    until(&index, "watch after relist", |i| {
        i.peer(&ip("10.244.2.8")).is_some()
    })
    .await;
    assert_eq!(index.read().unwrap().len(), 3);
}

#[actix_rt::test]
async fn garbage_from_the_api_is_retried() {
    let state = Arc::new(ApiState::default());
    state.garbage_lists.store(2, Ordering::SeqCst);
    *state.list.lock().unwrap() = pod_list(10, vec![pod("db-0", "10.244.2.7", "node-2", 5, DB)]);
    let url = serve(state.clone());
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let index = watch_with(client, IdentityRules::default());
    until(&index, "list after two bad answers", |i| {
        names(i) == ["shop/db-0"]
    })
    .await;
    assert_eq!(state.lists_served.load(Ordering::SeqCst), 3);
}

/// Beside the mediator (`k8s.own_node_only`), a node pod asks the API server for its own
/// node's pods alone: its list and watch carry the field selector.
#[actix_rt::test]
async fn own_node_only_asks_for_this_node_s_pods() {
    let state = Arc::new(ApiState::default());
    *state.list.lock().unwrap() = pod_list(
        1000,
        vec![pod(
            "web-7c9d8f6b5-x2x9k",
            "10.244.1.5",
            "node-1",
            990,
            WEB_RS,
        )],
    );
    let url = serve(state.clone());
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let rules = IdentityRules {
        node_name: Some("node-1".into()),
        own_node_only: true,
        ..IdentityRules::default()
    };
    let index = watch_with(client, rules);
    until(&index, "first list", |i| i.len() == 1).await;
    let (query, _) = watch_request(&state, 1).await;
    assert!(
        query
            .split('&')
            .any(|p| p == "fieldSelector=spec.nodeName%3Dnode-1"),
        "{query}"
    );
}
