#!/usr/bin/env python3
"""Writes a single-layer OCI image as an image-layout archive, without a container daemon.

The archive is what `ctr images import` and `skopeo copy oci-archive:...` read. The same
inputs give the same bytes: entries are sorted, owned by 0:0, dated --created, and the gzip
stream carries no name or time.

  oci-image.py --out OUT.tar --ref REGISTRY/REPO:TAG [options] ENTRY...

An ENTRY puts one thing into the root filesystem:
  SRC=DEST          the file SRC at DEST, with SRC's permission bits
  dir:DEST          an empty directory
  link:DEST=TARGET  a symbolic link
  text:DEST=TEXT    a file holding TEXT (mode 0644)
Parent directories are added as 0755. `--file-cap DEST=net_raw` gives the file at DEST that
capability as a file capability (permitted bit only: exec never fails where the runtime's
bounding set lacks it; the program raises it into its effective set itself).
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile

# Capability numbers (linux/capability.h) this script knows by name.
CAPABILITIES = {"net_raw": 13, "net_admin": 12, "sys_admin": 21, "sys_ptrace": 19}
VFS_CAP_REVISION_2 = 0x02000000

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def file_capability(names):
    """The security.capability xattr value (struct vfs_cap_data, revision 2) granting
    `names` as permitted, with the effective bit clear."""
    permitted = 0
    for name in names:
        if name not in CAPABILITIES:
            sys.exit(f"oci-image.py: unknown capability {name!r} (known: {', '.join(CAPABILITIES)})")
        permitted |= 1 << CAPABILITIES[name]
    return struct.pack("<IIIII", VFS_CAP_REVISION_2, permitted & 0xFFFFFFFF, 0, permitted >> 32, 0)


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def parse_entries(specs):
    """Maps each destination path (no leading slash) to what goes there."""
    entries = {}
    for spec in specs:
        if spec.startswith("dir:"):
            dest, what = spec[4:], ("dir",)
        elif spec.startswith("link:"):
            dest, _, target = spec[5:].partition("=")
            what = ("link", target)
        elif spec.startswith("text:"):
            dest, _, text = spec[5:].partition("=")
            what = ("text", text.encode())
        else:
            src, sep, dest = spec.partition("=")
            if not sep:
                sys.exit(f"oci-image.py: entry {spec!r} is not SRC=DEST, dir:, link: or text:")
            if not os.path.isfile(src):
                sys.exit(f"oci-image.py: {src}: no such file")
            what = ("file", src)
        dest = dest.strip("/")
        if not dest:
            sys.exit(f"oci-image.py: entry {spec!r} has no destination")
        entries[dest] = what
    # Every parent directory, so that the layer unpacks the same on every runtime.
    for dest in list(entries):
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]), ("dir",))
    return entries


def layer_tar(entries, caps, mtime):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dest in sorted(entries):
            what = entries[dest]
            info = tarfile.TarInfo(dest)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            data = None
            if what[0] == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif what[0] == "link":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, what[1], 0o777
            elif what[0] == "text":
                data, info.mode = what[1], 0o644
            else:
                with open(what[1], "rb") as f:
                    data = f.read()
                info.mode = os.stat(what[1]).st_mode & 0o7777
            if dest in caps:
                # Go's archive/tar (containerd, skopeo) reads SCHILY.xattr.* records as
                # raw bytes; every byte of this value is below 0x80, so it is also UTF-8.
                info.pax_headers = {"SCHILY.xattr.security.capability": caps[dest].decode("ascii")}
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return out.getvalue()


def gzip_bytes(data):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return out.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="the archive to write")
    p.add_argument("--ref", required=True, help="image name, e.g. ghcr.io/podflow/podflow:0.1.0")
    p.add_argument("--user", default="", help="USER, e.g. 65532:65532")
    p.add_argument("--entrypoint", default="[]", help="ENTRYPOINT as a JSON list")
    p.add_argument("--cmd", default="[]", help="CMD as a JSON list")
    p.add_argument("--env", action="append", default=[], help="K=V, repeatable")
    p.add_argument("--expose", action="append", default=[], help="PORT/PROTO, repeatable")
    p.add_argument("--label", action="append", default=[], help="K=V, repeatable")
    p.add_argument("--file-cap", action="append", default=[], help="DEST=CAP[,CAP], repeatable")
    p.add_argument("--created", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", "0")),
                   help="creation time, seconds since 1970 (default SOURCE_DATE_EPOCH, else 0)")
    p.add_argument("entries", nargs="+", metavar="ENTRY")
    args = p.parse_args()

    entries = parse_entries(args.entries)
    caps = {}
    for spec in args.file_cap:
        dest, _, names = spec.partition("=")
        dest = dest.strip("/")
        if entries.get(dest, ("",))[0] != "file":
            sys.exit(f"oci-image.py: --file-cap {spec!r}: {dest} is not a file entry")
        caps[dest] = file_capability(n.strip().lower().removeprefix("cap_") for n in names.split(","))

    layer = layer_tar(entries, caps, args.created)
    layer_gz = gzip_bytes(layer)
    created = datetime.datetime.fromtimestamp(args.created, datetime.timezone.utc)
    created = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": json.loads(args.entrypoint) or None,
            "Cmd": json.loads(args.cmd) or None,
            "Env": args.env or None,
            "ExposedPorts": {port: {} for port in args.expose} or None,
            "Labels": dict(kv.split("=", 1) for kv in args.label) or None,
            "User": args.user or None,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        "history": [{"created": created, "created_by": "oci-image.py"}],
    }
    config["config"] = {k: v for k, v in config["config"].items() if v is not None}
    config_bytes = canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": digest(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": digest(layer_gz), "size": len(layer_gz)}],
    }
    manifest_bytes = canonical_json(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [{
            "mediaType": MEDIA_MANIFEST,
            "digest": digest(manifest_bytes),
            "size": len(manifest_bytes),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": args.ref, "org.opencontainers.image.ref.name": args.ref},
        }],
    }
    files = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical_json(index),
    }
    for blob in (layer_gz, config_bytes, manifest_bytes):
        files["blobs/sha256/" + digest(blob).split(":", 1)[1]] = blob

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["blobs", "blobs/sha256"] + sorted(files):
            info = tarfile.TarInfo(name)
            info.mtime = args.created
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if name in files:
                info.mode, info.size = 0o644, len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
    os.replace(tmp, args.out)
    print(f"{args.out}: {args.ref} {digest(manifest_bytes)} ({len(layer_gz)} bytes compressed)")


if __name__ == "__main__":
    main()
