use super::*;

/// An exporter whose readiness the test sets.
#[derive(Debug, Default)]
struct Exporter(AtomicBool);

impl Sending for Exporter {
    fn can_send(&self) -> bool {
        self.0.load(Relaxed)
    }
}

fn health(capture: bool, export: bool) -> Readiness {
    let stats = Arc::new(Exporter::default());
    stats.0.store(export, Relaxed);
    let h = Health::capture(stats);
    h.running.store(capture, Relaxed);
    h.readiness()
}

#[test]
fn ready_only_when_both_sides_are() {
    assert!(health(true, true).is_ready());
    assert!(!health(false, true).is_ready());
    assert!(!health(true, false).is_ready());
    assert!(!health(false, false).is_ready());
}

#[test]
fn body_names_what_is_not_ready() {
    assert_eq!(health(true, true).to_string(), "ready");
    assert_eq!(
        health(false, true).to_string(),
        "not ready: capture is not running"
    );
    assert_eq!(
        health(true, false).to_string(),
        "not ready: the exporter cannot send to the collector"
    );
    assert_eq!(
        health(false, false).to_string(),
        "not ready: capture is not running; the exporter cannot send to the collector"
    );
}

#[test]
fn a_server_without_exporter_is_ready_while_it_runs() {
    let h = Health::server("the HTTPS listener");
    assert_eq!(
        h.readiness().to_string(),
        "not ready: the HTTPS listener is not running"
    );
    h.running.store(true, Relaxed);
    assert!(h.readiness().is_ready());
}

/// A capture whose state the test sets, as a supervisor would.
/// Not looked at yet: `None`; up on some interfaces: `Ok`; down: `Err` with the cause.
#[derive(Debug, Default)]
struct Capture(std::sync::Mutex<Option<Result<usize, &'static str>>>);

impl Capture {
    fn set_up(&self, interfaces: usize) {
        *self.0.lock().unwrap() = Some(Ok(interfaces));
    }

    fn set_down(&self, cause: &'static str) {
        *self.0.lock().unwrap() = Some(Err(cause));
    }

    fn now(&self) -> Option<Result<usize, &'static str>> {
        *self.0.lock().unwrap()
    }
}

impl Work for Capture {
    fn running(&self) -> bool {
        matches!(self.now(), Some(Ok(_)))
    }

    fn problem(&self) -> Option<Arc<str>> {
        self.now()?.err().map(Arc::from)
    }

    fn interfaces(&self) -> usize {
        self.now().and_then(Result::ok).unwrap_or(0)
    }
}

fn supervised(grace: Duration) -> (Health, Arc<Capture>) {
    let export = Arc::new(Exporter(AtomicBool::new(true)));
    let state = Arc::new(Capture::default());
    (
        Health::capture(export).supervised(state.clone(), Instant::now(), grace),
        state,
    )
}

#[test]
fn a_supervised_capture_says_why_it_is_not_running() {
    let (h, state) = supervised(Duration::from_secs(5));
    state.set_down("cannot open a packet socket: EPERM: add NET_RAW");
    // The flag a poller would set is not what counts.
    h.running.store(true, Relaxed);
    assert_eq!(
        h.readiness().to_string(),
        "not ready: capture is not running: cannot open a packet socket: EPERM: add NET_RAW"
    );
    state.set_up(2);
    assert_eq!(h.readiness().to_string(), "ready");
    assert_eq!(h.captured_interfaces(), 2);
}

#[test]
fn startup_phases() {
    let s = Duration::from_secs;
    assert_eq!(startup_phase(true, s(0), Some(s(5))), StartupPhase::Started);
    assert_eq!(
        startup_phase(false, s(4), Some(s(5))),
        StartupPhase::Starting
    );
    assert_eq!(
        startup_phase(false, s(5), Some(s(5))),
        StartupPhase::GraceOver
    );
    assert_eq!(startup_phase(false, s(3600), None), StartupPhase::Starting);
    assert_eq!(startup_phase(true, s(3600), None), StartupPhase::Started);
    // A zero grace: started at once.
    assert_eq!(
        startup_phase(false, s(0), Some(s(0))),
        StartupPhase::GraceOver
    );
}

#[test]
fn startup_answers_once_capture_ran_or_the_grace_is_over() {
    let (h, state) = supervised(Duration::from_secs(3600));
    state.set_down("no interface is up but loopback");
    let a = h.startup();
    assert!(!a.is_started());
    assert_eq!(
        a.to_string(),
        "starting: capture is not running yet: no interface is up but loopback"
    );
    state.set_up(1);
    assert_eq!(h.startup().to_string(), "started");
    // Once started, it stays started whatever capture does next.
    state.set_down("gone");
    assert!(h.startup().is_started());

    let (h, state) = supervised(Duration::ZERO);
    state.set_down("cannot open a packet socket: no NET_RAW");
    let a = h.startup();
    assert!(a.is_started());
    assert_eq!(
        a.to_string(),
        "started after the startup grace, but capture is not running: cannot open a packet socket: no NET_RAW"
    );
}

#[test]
fn servers_start_when_their_work_runs() {
    let h = Health::server("the HTTPS listener");
    assert_eq!(
        h.startup().to_string(),
        "starting: the HTTPS listener is not running yet"
    );
    h.running.store(true, Relaxed);
    assert!(h.startup().is_started());
}

/// A dependency whose state the test sets.
#[derive(Debug)]
struct View(std::sync::Mutex<DependencyState>);

impl Dependency for View {
    fn state(&self) -> DependencyState {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn a_starting_dependency_holds_readiness_back_and_a_degraded_one_is_named() {
    let exporter = Arc::new(Exporter::default());
    exporter.0.store(true, Relaxed);
    let view = Arc::new(View(std::sync::Mutex::new(DependencyState::Starting(
        "the cluster view is not synced yet: pods not listed".into(),
    ))));
    let h = Health::serving("the IPFIX receiver", exporter).relying_on(view.clone());
    h.running.store(true, Relaxed);
    let r = h.readiness();
    assert!(!r.is_ready());
    assert_eq!(
        r.to_string(),
        "not ready: the cluster view is not synced yet: pods not listed"
    );
    *view.0.lock().unwrap() = DependencyState::Degraded("the pods watch is failing".into());
    let r = h.readiness();
    assert!(r.is_ready());
    assert_eq!(r.to_string(), "ready, but the pods watch is failing");
    h.running.store(false, Relaxed);
    assert_eq!(
        h.readiness().to_string(),
        "not ready: the IPFIX receiver is not running; the pods watch is failing"
    );
    *view.0.lock().unwrap() = DependencyState::Fine;
    h.running.store(true, Relaxed);
    assert_eq!(h.readiness().to_string(), "ready");
}
