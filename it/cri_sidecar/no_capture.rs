//! A sidecar without NET_RAW never harms its pod. The misconfiguration: the webhook's
//! `default` profile (UID 65532, drop ALL, add NET_RAW) with `webhook.sidecar.image`
//! pointing at a rebuild of podflow's image that copied the binary without its extended
//! attributes, so without the file capability through which a non-root process gets
//! NET_RAW. The sidecar keeps running, its startupProbe lets the application start after
//! the startup grace, the application answers, and the sidecar says what is wrong and how
//! to fix it: in `/readyz`, in `/metrics` and once in its log.

use std::time::Duration;

use crate::cri::images;
use crate::cri::node::Node;
use crate::pod::{deployment_review, Injected, APP_PORT, TELEMETRY_PORT};
use crate::process::{print_header, ProcStatus, Row, NET_RAW};

/// `telemetry.startup_grace_secs`' default.
const GRACE: Duration = Duration::from_secs(5);
/// The injected startupProbe's `periodSeconds`.
const PROBE_PERIOD: Duration = Duration::from_secs(1);
/// Room for a busy machine: the probe's HTTP round trip, creating and starting the
/// application's container.
const SLACK: Duration = Duration::from_secs(2);
/// What the sidecar names as the cause, and the two fixes it offers.
const CAUSE: &str = "carries no cap_net_raw file capability";
const FIXES: [&str; 2] = [
    "Use the podflow image, whose binary carries it",
    "or run the sidecar as UID 0 (webhook.sidecar.security_profile",
];

#[test]
fn a_sidecar_that_cannot_capture_never_harms_its_pod_root() {
    let copied = images::podflow_without_file_capability();
    let node = Node::start(3, &[&images::pause(), &images::busybox(), &copied]);
    let pod = Injected::start(&node, 1, &deployment_review(), |config| {
        config.webhook.sidecar.image = Some(copied.reference.clone());
    });
    let status = ProcStatus::read(pod.sidecar_pid());
    assert_eq!(
        (
            status.uid,
            status.effective,
            status.permitted,
            status.bounding
        ),
        (65532, 0, 0, NET_RAW),
        "granted to the container, not to its non-root process: {status:?}"
    );
    assert!(status.no_new_privs);

    // The startupProbe passed once the grace was over, not before, and not much later.
    let probe = &pod.run.probes[0];
    assert!(probe.succeeded && probe.attempts > 1, "{probe:?}");
    let held_back = pod.held_back();
    assert!(
        held_back >= GRACE && held_back <= GRACE + PROBE_PERIOD + SLACK,
        "the application was held back {held_back:?}: {probe:?}"
    );

    let answered = pod.first_answer();
    let (code, body) = pod.get(TELEMETRY_PORT, "/healthz").unwrap();
    assert_eq!(code, 200, "/healthz: {body}");
    let (code, body) = pod.get(TELEMETRY_PORT, "/readyz").unwrap();
    assert_eq!(code, 503, "/readyz: {body}");
    assert!(
        body.starts_with("not ready: capture is not running: cannot open a packet socket")
            && body.contains(CAUSE)
            && FIXES.iter().all(|fix| body.contains(fix)),
        "/readyz names the cause and the fix: {body}"
    );
    assert_eq!(pod.metric("podflow_capture_up"), 0.0);

    // Running well past the grace, the same process all along, serving its pod.
    let pid = pod.sidecar_pid();
    while pod.began.elapsed() < 3 * GRACE {
        assert_eq!(pod.sidecar_pid(), pid, "the sidecar was not restarted");
        std::thread::sleep(Duration::from_millis(500));
    }
    pod.request();
    assert_eq!(pod.get(APP_PORT, "/").unwrap().0, 200);

    // One error in the log names the cause and the fix, though capture was retried.
    let log = pod.log_lines();
    let errors: Vec<&String> = log.iter().filter(|l| l.contains(CAUSE)).collect();
    assert_eq!(errors.len(), 1, "the cause logged once: {log:#?}");
    assert!(
        errors[0].contains("ERROR") && FIXES.iter().all(|fix| errors[0].contains(fix)),
        "{}",
        errors[0]
    );
    assert!(
        !log.iter().any(|l| l.contains("capture started")),
        "{log:#?}"
    );

    pod.stop();
    print_header();
    Row {
        case: "default, image without the file capability".into(),
        status,
        captures: false,
        held_back,
        answered: answered - pod.began,
        first_record: None,
        matched: None,
    }
    .print();
    println!(
        "its startupProbe succeeded at attempt {} after {:.2} s",
        probe.attempts,
        probe.elapsed.as_secs_f64()
    );
    drop(pod);
    let left = node.shut_down();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
