"""The bad-input corpus: every case gives one line naming what and where, exit code 2, no traceback.

Config cases live in tests/fixtures/bad-input/*.yaml, each ending in `# expect: <text>`; the
cases that need a particular environment (kustomize, archives) are set up here.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfctl.errors import ExitCode

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "bad-input"


def kfctl(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_input_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"one line expected, got: {result.stderr}"
    assert lines[0].startswith("error: ")
    assert expected in lines[0], lines[0]
    assert result.stdout == "", "nothing on stdout when the input is bad"


def corpus_cases() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


@pytest.fixture(autouse=True)
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda p: p.stem)
def test_config_corpus(case: Path, tmp_path: Path) -> None:
    expected = case.read_text().rstrip().rsplit("# expect: ", 1)[1]
    config = tmp_path / "kfctl.yaml"  # the messages name kfctl.yaml, as users see it
    config.write_text(case.read_text())
    result = kfctl("build", "-f", "kfctl.yaml", cwd=tmp_path)
    assert_one_line_input_error(result, expected)


def test_corpus_is_large_enough() -> None:
    assert len(corpus_cases()) >= 25


GOOD = (
    "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: ok}\n"
    "spec:\n  profile: generic\n  platform: kubeflow-1.10\n  components: [cert-manager]\n"
)


def good_config(directory: Path, extra: str = "") -> Path:
    path = directory / "kfctl.yaml"
    path.write_text(GOOD + extra)
    return path


def test_missing_config_file(tmp_path: Path) -> None:
    assert_one_line_input_error(kfctl("build", "-f", str(tmp_path / "nope.yaml")), "nope.yaml: no such app config")


def test_kustomize_not_found(tmp_path: Path) -> None:
    result = kfctl("build", "-f", str(good_config(tmp_path)), "--kustomize-bin", "/no/such/kustomize")
    assert_one_line_input_error(result, "--kustomize-bin /no/such/kustomize: not found")


def test_kustomize_too_old(tmp_path: Path) -> None:
    old = tmp_path / "kustomize"
    old.write_text("#!/bin/sh\necho '{Version:kustomize/v4.5.7 GitCommit:abc BuildDate:2022-08-02}'\n")
    old.chmod(0o755)
    result = kfctl("build", "-f", str(good_config(tmp_path)), "--kustomize-bin", str(old))
    assert_one_line_input_error(result, "kustomize v4.5.7 is too old; kfctl needs v5.0.0 or newer")


def test_no_kustomize_on_path(tmp_path: Path) -> None:
    result = kfctl("build", "-f", str(good_config(tmp_path)), env={"PATH": str(tmp_path)})
    assert_one_line_input_error(result, "kustomize not found")


def test_broken_kustomization_in_the_source(tmp_path: Path, upstream: Path) -> None:
    """A source tree whose kustomization does not build: kustomize's error, and the directory."""
    source = tmp_path / "manifests"
    (source / "common" / "cert-manager" / "base").mkdir(parents=True)
    (source / "common" / "cert-manager" / "kubeflow-issuer" / "base").mkdir(parents=True)
    (source / "common" / "cert-manager" / "base" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    (source / "common" / "cert-manager" / "kubeflow-issuer" / "base" / "kustomization.yaml").write_text(
        "resources: []\n"
    )
    result = kfctl(
        "build", "-f", str(good_config(tmp_path, "  source: ./manifests\n")), env={"KFCTL_MANIFESTS_DIR": ""}
    )
    assert_one_line_input_error(result, "missing.yaml")


def test_manifests_dir_without_the_release(tmp_path: Path) -> None:
    result = kfctl("build", "-f", str(good_config(tmp_path)), "--manifests-dir", str(tmp_path / "empty"))
    assert_one_line_input_error(result, "kubeflow-manifests-v1.10.2")


def test_output_path_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    result = kfctl("build", "-f", str(good_config(tmp_path)), "-o", str(tmp_path / "out"))
    assert_one_line_input_error(result, "exists and is not a directory")


class ArchiveServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests = 0
        files = self.files
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def archive_server() -> Iterator[ArchiveServer]:
    server = ArchiveServer()
    yield server
    server.server.shutdown()


def tiny_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"resources: []\n"
        info = tarfile.TarInfo("manifests-1.10.2/common/cert-manager/base/kustomization.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_unreachable_archive(tmp_path: Path) -> None:
    extra = "  source: {url: 'http://127.0.0.1:9/manifests.tar.gz'}\n"
    result = kfctl(
        "build",
        "-f",
        str(good_config(tmp_path, extra)),
        env={"KFCTL_MANIFESTS_DIR": "", "KFCTL_CACHE_DIR": str(tmp_path)},
    )
    assert_one_line_input_error(result, "http://127.0.0.1:9/manifests.tar.gz: download failed")


def test_tampered_archive(tmp_path: Path, archive_server: ArchiveServer) -> None:
    archive_server.files["/m.tar.gz"] = tiny_archive()
    pinned = hashlib.sha256(b"the archive as it was released").hexdigest()
    extra = f"  source: {{url: '{archive_server.url('/m.tar.gz')}', sha256: {pinned}}}\n"
    result = kfctl(
        "build",
        "-f",
        str(good_config(tmp_path, extra)),
        env={"KFCTL_MANIFESTS_DIR": "", "KFCTL_CACHE_DIR": str(tmp_path)},
    )
    assert_one_line_input_error(result, "sha256 mismatch")
    assert archive_server.requests == 1


def test_a_profile_that_picks_an_overlay_the_release_lacks(tmp_path: Path) -> None:
    (tmp_path / "edge.yaml").write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: ClusterProfile\nmetadata: {name: edge}\n"
        "spec:\n  description: a site profile\n  components:\n    istio: {overlay: edge-mesh}\n"
    )
    (tmp_path / "kfctl.yaml").write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: bad}\n"
        "spec:\n  profile: edge.yaml\n  platform: kubeflow-1.10\n  components: [istio]\n"
    )
    result = kfctl("build", "-f", "kfctl.yaml", cwd=tmp_path)
    assert_one_line_input_error(result, "has no overlay 'edge-mesh' (set by profile edge)")
