//! The image that ships: `scripts/image.sh` builds it from the release binary, and tools that
//! know nothing of podflow read it back: skopeo (the image config), skopeo + umoci (the
//! root filesystem, unpacked as a runtime would), getcap (the file capability), chroot (the
//! binary runs on nothing but the libraries the image carries). Needs root (umoci applies
//! file capabilities only as root) and `target/release/podflow` (`cargo build --release`;
//! scripts/test.sh builds it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, root};

/// The release binary the image is built from.
fn release_binary() -> PathBuf {
    let path = root().join("target/release/podflow");
    assert!(
        path.is_file(),
        "{} is missing: run cargo build --release --locked --bin podflow",
        path.display()
    );
    path
}

/// Runs `scripts/image.sh OUT` with a fixed SOURCE_DATE_EPOCH.
fn build_image(out: &Path) {
    let output = Command::new(root().join("scripts/image.sh"))
        .arg(out)
        .arg(release_binary())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("PODFLOW_IMAGE")
        .output()
        .unwrap();
    assert_success(&output);
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert_success(&output);
    String::from_utf8(output.stdout).unwrap()
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[test]
fn image_is_reproducible_non_root_and_carries_net_raw_as_a_permitted_file_capability() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
    build_image(&first);
    build_image(&second);
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "two builds of the same binary differ"
    );

    let archive = format!("oci-archive:{}", first.display());
    let config: serde_json::Value =
        serde_json::from_str(&run("skopeo", &["inspect", "--config", &archive])).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/podflow"])
    );
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.version"],
        version()
    );
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");

    // Unpacked as a runtime unpacks it.
    let layout = dir.path().join("layout");
    let bundle = dir.path().join("bundle");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &archive,
            &format!("oci:{}:podflow", layout.display()),
        ],
    );
    run(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:podflow", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    let binary = rootfs.join("usr/local/bin/podflow");
    // Permitted only: no effective bit ("+ep"), so exec never fails for lack of NET_RAW in
    // the bounding set.
    assert_eq!(
        run("getcap", &[binary.to_str().unwrap()]).trim(),
        format!("{} cap_net_raw=p", binary.display())
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("nonroot:"))
            .map(|l| l.split(':').nth(2).unwrap().to_string()),
        Some("65532".into())
    );
    assert!(rootfs.join("etc/podflow/podflow.toml").is_file());

    // Nothing but the image's own loader and libraries: the binary runs inside it, as root
    // and as the image's user.
    for user in ["0:0", "65532:65532"] {
        let out = run(
            "chroot",
            &[
                &format!("--userspec={user}"),
                rootfs.to_str().unwrap(),
                "/usr/local/bin/podflow",
                "--version",
            ],
        );
        assert_eq!(out.trim(), format!("podflow {}", version()));
    }
}
