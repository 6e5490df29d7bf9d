//! Images from local tarballs (no registry is reachable): a pause image and an application
//! image made of busybox-static with `scripts/oci-image.py`, and podflow's own image from
//! `scripts/image.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// An OCI image-layout archive and the name it carries.
#[derive(Clone, Debug)]
pub struct Image {
    pub archive: PathBuf,
    pub reference: String,
}

/// The sandbox image: a static binary that waits for a signal.
pub const PAUSE: &str = "localhost/podflow-test/pause:1";
/// The application image: busybox with a shell and `/www/index.html`; by default it serves
/// `/www` over HTTP on port 8080 and exits 0 on SIGTERM.
pub const BUSYBOX: &str = "localhost/podflow-test/busybox:1";
/// What the application image serves at `/` when nothing replaces `/www`.
pub const BUSYBOX_INDEX: &str = "busybox httpd\n";

const BUSYBOX_BIN: &str = "/bin/busybox";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where built archives are kept (under the target directory), so each test process builds
/// an image once.
fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let dir = target.join("cri-images");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds `name` once per process with `build(path)`; the archive appears under its final
/// name only when complete.
fn cached(cell: &OnceLock<PathBuf>, name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    cell.get_or_init(|| {
        let path = cache_dir().join(name);
        let partial = path.with_extension(format!("{}.partial", std::process::id()));
        build(&partial);
        std::fs::rename(&partial, &path).unwrap();
        path
    })
    .clone()
}

/// A busybox image named `reference`, built once per process into `file` with
/// oci-image.py's `args`.
fn busybox_image(cell: &OnceLock<PathBuf>, file: &str, reference: &str, args: &[&str]) -> Image {
    let archive = cached(cell, file, |out| {
        assert!(
            Path::new(BUSYBOX_BIN).exists(),
            "{BUSYBOX_BIN} is missing: install busybox-static"
        );
        let status = Command::new("python3")
            .arg(repo().join("scripts/oci-image.py"))
            .arg("--out")
            .arg(out)
            .args(["--ref", reference])
            .args(args)
            .arg(format!("{BUSYBOX_BIN}={BUSYBOX_BIN}"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("python3 runs scripts/oci-image.py");
        assert!(status.success(), "oci-image.py {reference}: {status}");
    });
    Image {
        archive,
        reference: reference.into(),
    }
}

/// The pause image.
pub fn pause() -> Image {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    let entrypoint = r#"["/bin/busybox","sleep","2147483647"]"#;
    busybox_image(&ARCHIVE, "pause.tar", PAUSE, &["--entrypoint", entrypoint])
}

/// The application image. Its entrypoint is a shell that runs `httpd` in the foreground
/// and leaves on SIGTERM (httpd as PID 1 would ignore it).
pub fn busybox() -> Image {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    let index = format!("text:/www/index.html={BUSYBOX_INDEX}");
    let entrypoint = r#"["/bin/sh","-c","trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]"#;
    let args = [
        "--entrypoint",
        entrypoint,
        "--env",
        "PATH=/bin",
        "link:/bin/sh=busybox",
        "link:/bin/httpd=busybox",
        "dir:/tmp",
        &index,
    ];
    busybox_image(&ARCHIVE, "busybox.tar", BUSYBOX, &args)
}

/// podflow's image as it ships, from `scripts/image.sh` and the release binary.
pub fn podflow() -> Image {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    let archive = cached(&ARCHIVE, "podflow.tar", |out| {
        let binary = cache_dir().join("../release/podflow");
        assert!(
            binary.exists(),
            "{} is missing: cargo build --release --locked (scripts/test.sh does)",
            binary.display()
        );
        let result = Command::new(repo().join("scripts/image.sh"))
            .arg(out)
            .arg(&binary)
            .env_remove("PODFLOW_IMAGE")
            .output()
            .expect("scripts/image.sh runs");
        assert!(
            result.status.success(),
            "scripts/image.sh: {}",
            String::from_utf8_lossy(&result.stderr)
        );
    });
    Image {
        archive,
        reference: format!("ghcr.io/podflow/podflow:{}", env!("CARGO_PKG_VERSION")),
    }
}

/// The name of [`podflow_without_file_capability`]'s image.
pub const PODFLOW_WITHOUT_FILE_CAPABILITY: &str = "localhost/podflow-test/podflow-copied:1";

/// podflow's image with the file capability taken off its binary, as a build that copies
/// the binary without its extended attributes makes it: a non-root podflow in it cannot
/// get NET_RAW.
pub fn podflow_without_file_capability() -> Image {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    let shipped = podflow();
    let archive = cached(&ARCHIVE, "podflow-copied.tar", |out| {
        let result = Command::new("python3")
            .arg(repo().join("it/py/without_file_caps.py"))
            .arg(&shipped.archive)
            .arg(out)
            .arg(PODFLOW_WITHOUT_FILE_CAPABILITY)
            .output()
            .expect("python3 runs it/py/without_file_caps.py");
        assert!(
            result.status.success(),
            "without_file_caps.py: {}",
            String::from_utf8_lossy(&result.stderr)
        );
    });
    Image {
        archive,
        reference: PODFLOW_WITHOUT_FILE_CAPABILITY.into(),
    }
}
