//! The metadata actor against a directory laid out and updated the way the kubelet does
//! it for a Downward-API volume.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::*;

/// A Downward-API volume: `..<timestamp>/` holds the files, `..data` points at it, and
/// `labels -> ..data/labels`, `annotations -> ..data/annotations`.
struct Volume {
    dir: tempfile::TempDir,
    generation: u32,
}

impl Volume {
    fn new(labels: &str, annotations: &str) -> Volume {
        let mut v = Volume {
            dir: tempfile::tempdir().unwrap(),
            generation: 0,
        };
        let data = v.write_generation(labels, annotations);
        symlink(&data, v.dir.path().join("..data")).unwrap();
        for name in ["labels", "annotations"] {
            symlink(format!("..data/{name}"), v.path(name)).unwrap();
        }
        v
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the files into a new timestamped directory; returns its name.
    fn write_generation(&mut self, labels: &str, annotations: &str) -> String {
        self.generation += 1;
        let name = format!("..2024_01_01_00_00_00.{:09}", self.generation);
        let dir = self.path(&name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("labels"), labels).unwrap();
        fs::write(dir.join("annotations"), annotations).unwrap();
        name
    }

    /// What the kubelet does on a change: new directory, `..data_tmp` symlink to it,
    /// renamed over `..data` in one step, old directory removed.
    fn update(&mut self, labels: &str, annotations: &str) {
        let old = fs::read_link(self.path("..data")).unwrap();
        let data = self.write_generation(labels, annotations);
        symlink(&data, self.path("..data_tmp")).unwrap();
        fs::rename(self.path("..data_tmp"), self.path("..data")).unwrap();
        fs::remove_dir_all(self.dir.path().join(old)).unwrap();
    }
}

/// Stands for the exporter: forwards every identity it receives.
struct Sink(UnboundedSender<Arc<PodIdentity>>);

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<IdentityChanged> for Sink {
    type Result = ();

    fn handle(&mut self, msg: IdentityChanged, _: &mut Self::Context) {
        let _ = self.0.send(msg.0);
    }
}

async fn next(rx: &mut UnboundedReceiver<Arc<PodIdentity>>) -> Arc<PodIdentity> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an identity within 5 seconds")
        .expect("the sink is alive")
}

fn config(volume: &Volume) -> Config {
    Config {
        pod_name: Some("shop-web-7c9d8f6b5-x2x9k".into()),
        pod_namespace: Some("shop".into()),
        labels_file: volume.path("labels"),
        annotations_file: volume.path("annotations"),
        annotations_allow: vec!["team/*".into()],
        ..Config::default()
    }
}

const POLL: Duration = Duration::from_millis(50);

#[actix::test]
async fn kubelet_updates_reach_the_sink() {
    let hash = "pod-template-hash=\"7c9d8f6b5\"";
    let mut volume = Volume::new(&format!("app=\"shop\"\n{hash}"), "team/owner=\"a\"");
    let (tx, mut rx) = unbounded_channel();
    let sink = Sink(tx).start().recipient();
    let metadata = Metadata::load(&config(&volume));
    let initial = metadata.identity();
    assert_eq!(initial.workload_name, "shop-web");
    assert_eq!(initial.workload_kind, "Deployment");
    let stats = metadata.stats();
    let addr = metadata.poll_every(POLL).send_to(sink).start();

    let first = next(&mut rx).await;
    assert_eq!(first, initial, "the identity is sent once at start");
    assert_eq!(
        first.labels_json,
        r#"{"app":"shop","pod-template-hash":"7c9d8f6b5"}"#
    );
    assert_eq!(first.annotations_json, r#"{"team/owner":"a"}"#);

    volume.update(
        &format!("app=\"shop\"\n{hash}\ntier=\"web \\\"edge\\\"\""),
        "team/owner=\"a\"",
    );
    let second = next(&mut rx).await;
    assert_eq!(
        second.labels_json,
        r#"{"app":"shop","pod-template-hash":"7c9d8f6b5","tier":"web \"edge\""}"#
    );
    assert_eq!(stats.identity_changes.load(Relaxed), 2);

    // A change the identity does not show (an annotation outside the allow-list) sends
    // nothing; neither does a file that does not parse, reported once however long it
    // stays.
    volume.update(
        &format!("app=\"shop\"\n{hash}\ntier=\"web \\\"edge\\\"\""),
        "team/owner=\"a\"\nother=\"x\"",
    );
    volume.update("app=shop", "team/owner=\"a\"");
    tokio::time::sleep(POLL * 8).await;
    assert!(rx.try_recv().is_err(), "nothing sent for no visible change");
    assert_eq!(stats.reload_errors.load(Relaxed), 1);
    assert_eq!(addr.send(CurrentIdentity).await.unwrap(), second);

    volume.update(&format!("app=\"cart\"\n{hash}"), "team/owner=\"b\"");
    let third = next(&mut rx).await;
    assert_eq!(
        third.labels_json,
        r#"{"app":"cart","pod-template-hash":"7c9d8f6b5"}"#
    );
    assert_eq!(third.annotations_json, r#"{"team/owner":"b"}"#);
    assert_eq!(stats.reload_errors.load(Relaxed), 1);
    assert_eq!(stats.identity_changes.load(Relaxed), 3);
}

#[actix::test]
async fn missing_files_mean_none_until_they_appear() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        labels_file: dir.path().join("labels"),
        annotations_file: dir.path().join("annotations"),
        max_metadata_bytes: 16,
        ..Config::default()
    };
    let (tx, mut rx) = unbounded_channel();
    let metadata = Metadata::load(&cfg).poll_every(POLL);
    let stats = metadata.stats();
    metadata.send_to(Sink(tx).start().recipient()).start();
    let first = next(&mut rx).await;
    assert_eq!(
        (first.labels_json.as_str(), first.annotations_json.as_str()),
        ("{}", "{}")
    );

    fs::write(&cfg.labels_file, "a=\"1\"\nb=\"a long value\"").unwrap();
    let second = next(&mut rx).await;
    assert_eq!(second.labels_json, r#"{"a":"1"}"#);
    assert_eq!(stats.labels_cut.load(Relaxed), 1);
}

#[test]
fn a_bad_file_at_start_is_counted_and_metering_goes_on() {
    let volume = Volume::new("app=\"shop\"\nbroken", "team/owner=\"a\"\n");
    let metadata = Metadata::load(&config(&volume));
    assert_eq!(metadata.stats().reload_errors.load(Relaxed), 1);
    let identity = metadata.identity();
    assert_eq!(identity.labels_json, "{}");
    assert_eq!(identity.annotations_json, r#"{"team/owner":"a"}"#);
}
