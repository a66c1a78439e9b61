"""kfctl reads a plain kubeconfig itself (the kubernetes library costs ~0.45 s to import) and reads it as the
library does; anything else (exec plugins, merged files, a missing entry) still goes to the library."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kfctl.errors import ConfigError
from kfctl.kube.client import ClusterTarget, KubeClient, _through_kubernetes_library
from kfctl.kube.kubeconfig import Connection, read_simple

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a client certificate it signed, made with openssl."""
    directory = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=test-ca")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
            "-subj", "/CN=alice/O=team")  # fmt: skip
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.crt", "-days", "2")  # fmt: skip
    return directory


def write(
    path: Path, cluster: dict[str, Any], user: dict[str, Any], server: str = "https://127.0.0.1:6443/", **extra: Any
) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
                "users": [{"name": "alice", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "alice"}}],
                "current-context": "ctx",
                **extra,
            }
        )
    )
    return path


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def same_as_library(connection: Connection | None, path: Path) -> None:
    assert connection is not None, "read by kfctl, not handed to the library"
    library = _through_kubernetes_library(ClusterTarget(str(path)))
    assert (connection.host, connection.headers) == (library.host, library.headers)
    assert (connection.context_name, connection.user_name) == (library.context_name, library.user_name)
    assert not isinstance(library.verify, bool) and not isinstance(connection.verify, bool)
    assert connection.verify.get_ca_certs() == library.verify.get_ca_certs()
    assert connection.verify.verify_mode == library.verify.verify_mode


def test_files_relative_to_the_kubeconfig_read_as_the_library_reads_them(pki: Path) -> None:
    path = write(
        pki / "relative.kubeconfig",
        {"certificate-authority": "ca.crt"},
        {"client-certificate": "client.crt", "client-key": "client.key"},
    )
    connection = read_simple(str(path), None)
    assert connection is not None and connection.host == "https://127.0.0.1:6443"
    assert (connection.context_name, connection.user_name) == ("ctx", "alice")
    absolute = write(
        pki / "absolute.kubeconfig",
        {"certificate-authority": str(pki / "ca.crt")},
        {"client-certificate": str(pki / "client.crt"), "client-key": str(pki / "client.key")},
    )
    same_as_library(read_simple(str(absolute), None), absolute)
    assert not isinstance(connection.verify, bool)
    assert [c["subject"] for c in connection.verify.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_inline_data_and_a_token_read_as_the_library_reads_them(pki: Path, tmp_path: Path) -> None:
    inline = write(
        tmp_path / "inline.kubeconfig",
        {"certificate-authority-data": b64(pki / "ca.crt")},
        {"client-certificate-data": b64(pki / "client.crt"), "client-key-data": b64(pki / "client.key")},
    )
    same_as_library(read_simple(str(inline), None), inline)
    token = write(tmp_path / "token.kubeconfig", {"certificate-authority": str(pki / "ca.crt")}, {"token": "abc"})
    connection = read_simple(str(token), None)
    same_as_library(connection, token)
    assert connection is not None and connection.headers == {"Authorization": "Bearer abc"}
    leftovers = list(Path(tempfile.gettempdir()).glob("kfctl-tls-*"))
    assert leftovers == [], "the client key's temporary copy is removed"


@pytest.mark.parametrize(
    ("user", "extra"),
    [
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "get-token"}}, {}),
        ({"auth-provider": {"name": "oidc"}}, {}),
        ({"token": "abc", "as": "admin"}, {}),
        ({"token": "abc"}, {"current-context": "absent"}),
    ],
    ids=["exec plugin", "auth provider", "impersonation", "missing context"],
)
def test_what_kfctl_does_not_read_goes_to_the_library(tmp_path: Path, user: dict[str, Any], extra: Any) -> None:
    path = write(tmp_path / "config", {"insecure-skip-tls-verify": True}, user, **extra)
    assert read_simple(str(path), None) is None


def test_a_list_of_files_goes_to_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "a", {"insecure-skip-tls-verify": True}, {"token": "abc"})
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{tmp_path / 'b'}")
    assert read_simple(None, None) is None


def test_a_named_context_that_is_absent_is_the_library_s_error(tmp_path: Path) -> None:
    path = write(tmp_path / "config", {"insecure-skip-tls-verify": True}, {"token": "abc"})
    with pytest.raises(ConfigError, match=r"cannot load kubeconfig .*absent"):
        KubeClient(ClusterTarget(str(path), "absent"))


def test_a_plain_kubeconfig_does_not_import_the_kubernetes_library(tmp_path: Path) -> None:
    path = write(tmp_path / "config", {"insecure-skip-tls-verify": True}, {"token": "s3cr3t"}, "https://127.0.0.1:1")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kfctl", "--kubeconfig", str(path), "version", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cannot reach the API server at https://127.0.0.1:1" in json.loads(result.stdout)["server"]["error"]
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "kfctl.kube.client" in modules
    assert sorted(m for m in modules if m == "kubernetes" or m.startswith("kubernetes.")) == []
    assert "s3cr3t" not in result.stdout
