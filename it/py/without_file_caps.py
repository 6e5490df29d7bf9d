#!/usr/bin/env python3
"""Copies an OCI image-layout archive under another name, with every file capability
(the PAX record SCHILY.xattr.security.capability) taken out of its layers: the image a
build gets when it copies the binary without its extended attributes.

  without_file_caps.py IN.tar OUT.tar REF

Prints how many file capabilities it removed; fails when there were none, since then the
copy would prove nothing.
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile

XATTR = "SCHILY.xattr.security.capability"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_name(d):
    return "blobs/sha256/" + d.split(":", 1)[1]


def strip(layer):
    """The layer tar without file capabilities, and how many it had."""
    removed = 0
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(layer)) as src, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            if member.pax_headers.pop(XATTR, None) is not None:
                removed += 1
            data = src.extractfile(member) if member.isfile() else None
            dst.addfile(member, data)
    return out.getvalue(), removed


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, out, ref = sys.argv[1:]
    with tarfile.open(src) as t:
        files = {m.name: t.extractfile(m).read() for m in t if m.isfile()}
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    manifest = json.loads(files[blob_name(entry["digest"])])
    config = json.loads(files[blob_name(manifest["config"]["digest"])])

    blobs, diff_ids, removed = [], [], 0
    for layer in manifest["layers"]:
        plain, n = strip(gzip.decompress(files[blob_name(layer["digest"])]))
        removed += n
        packed = gzip.compress(plain, mtime=0)
        diff_ids.append(digest(plain))
        layer.update(digest=digest(packed), size=len(packed))
        blobs.append(packed)
    if removed == 0:
        sys.exit(f"without_file_caps.py: {src} has no file capability")
    config["rootfs"]["diff_ids"] = diff_ids
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest["config"].update(digest=digest(config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    entry.update(digest=digest(manifest_bytes), size=len(manifest_bytes))
    names = entry.setdefault("annotations", {})
    names["io.containerd.image.name"] = ref
    names["org.opencontainers.image.ref.name"] = ref
    blobs += [config_bytes, manifest_bytes]

    written = {"oci-layout": files["oci-layout"], "index.json": json.dumps(index).encode()}
    for blob in blobs:
        written[blob_name(digest(blob))] = blob
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["blobs", "blobs/sha256"] + sorted(written):
            info = tarfile.TarInfo(name)
            if name in written:
                info.mode, info.size = 0o644, len(written[name])
                tar.addfile(info, io.BytesIO(written[name]))
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
    print(f"{out}: {ref}, {removed} file capabilities removed")


if __name__ == "__main__":
    main()
