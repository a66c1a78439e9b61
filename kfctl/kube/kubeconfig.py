"""Where to connect and how to authenticate, from a kubeconfig.

The kubernetes library resolves every kubeconfig (exec plugins, auth providers, merged KUBECONFIG lists),
but importing it costs ~0.45 s on each run, as much as a no-op re-apply's whole engine. A kubeconfig
that names only a server, a CA, a client certificate and key or a bearer token (kind, kubeadm, the
simulated cluster, most CI clusters) is read here; any other field, a missing entry or a list of files
goes to the library, which also words the errors.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfctl.plain_yaml import load_plain_yaml

# What this reader understands; a field outside these sends the kubeconfig to the kubernetes library.
_CLUSTER_FIELDS = frozenset(
    {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify"}
)
_USER_FIELDS = frozenset({"client-certificate", "client-certificate-data", "client-key", "client-key-data", "token"})
_CONTEXT_FIELDS = frozenset({"cluster", "user", "namespace"})


@dataclass
class Connection:
    """A resolved kubeconfig context: the server, TLS trust and client certificate, the bearer header."""

    host: str
    verify: ssl.SSLContext | bool
    headers: dict[str, str] = field(default_factory=dict)
    context_name: str = ""
    user_name: str = ""


def kubeconfig_path(kubeconfig: str | None) -> str | None:
    """The file to read: --kubeconfig, else $KUBECONFIG, else None (the library's default)."""
    return kubeconfig or os.environ.get("KUBECONFIG") or None


def read_simple(kubeconfig: str | None, context: str | None) -> Connection | None:
    """The connection of a plain kubeconfig; None when the kubernetes library must resolve it."""
    path = kubeconfig_path(kubeconfig) or str(Path.home() / ".kube" / "config")
    if os.pathsep in path:  # a list of files to merge
        return None
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
        document = load_plain_yaml(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # the library says what is wrong
    if not isinstance(document, dict):
        return None
    name = context or document.get("current-context")
    chosen = _entry(document, "contexts", name, "context", _CONTEXT_FIELDS)
    if chosen is None:
        return None
    cluster = _entry(document, "clusters", chosen.get("cluster"), "cluster", _CLUSTER_FIELDS)
    user_name = chosen.get("user")
    user = _entry(document, "users", user_name, "user", _USER_FIELDS) if user_name else {}
    if cluster is None or user is None or not isinstance(cluster.get("server"), str):
        return None
    if cluster.get("insecure-skip-tls-verify") is True and set(user) - {"token"}:
        return None  # a client certificate without verifying the server: unusual, the library decides
    try:
        return _connection(cluster, user, Path(path).parent, str(name), str(user_name or ""))
    except (OSError, ssl.SSLError, ValueError, binascii.Error):
        return None  # the library reads it again and words the error


def _entry(
    document: dict[str, Any], section: str, name: Any, key: str, allowed: frozenset[str]
) -> dict[str, Any] | None:
    """The named entry's body when it exists, is unique and uses only fields this reader understands."""
    if not isinstance(name, str) or not name:
        return None
    matches = [e for e in document.get(section) or [] if isinstance(e, dict) and e.get("name") == name]
    if len(matches) != 1:
        return None
    body = matches[0].get(key) or {}
    if not isinstance(body, dict) or not set(body) <= allowed:
        return None
    return body


def _connection(cluster: dict[str, Any], user: dict[str, Any], base: Path, context: str, user_name: str) -> Connection:
    host = str(cluster["server"]).rstrip("/")
    headers: dict[str, str] = {}
    token = user.get("token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    verify: ssl.SSLContext | bool
    if cluster.get("insecure-skip-tls-verify") is True:
        verify = False
    else:
        tls = ssl.create_default_context(
            cafile=_file(cluster.get("certificate-authority"), base),
            cadata=_data(cluster.get("certificate-authority-data")),
        )
        certificate = _file_or_data(user, "client-certificate", base)
        key = _file_or_data(user, "client-key", base)
        if certificate or key:
            _load_client_certificate(tls, certificate, key)
        verify = tls
    return Connection(host, verify, headers, context, user_name)


def _file(value: Any, base: Path) -> str | None:
    """A path of the kubeconfig, relative to the kubeconfig's own directory, as kubectl reads it."""
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else base / path)


def _data(value: Any) -> str | None:
    return base64.b64decode(str(value), validate=True).decode("ascii") if value else None


def _file_or_data(user: dict[str, Any], name: str, base: Path) -> bytes | None:
    if user.get(f"{name}-data"):
        return base64.b64decode(str(user[f"{name}-data"]), validate=True)
    path = _file(user.get(name), base)
    return Path(path).read_bytes() if path else None


def _load_client_certificate(tls: ssl.SSLContext, certificate: bytes | None, key: bytes | None) -> None:
    """ssl reads a certificate chain only from files: a private temporary directory, removed at once."""
    if certificate is None or key is None:
        raise ValueError("a client certificate needs its key")
    with tempfile.TemporaryDirectory(prefix="kfctl-tls-") as directory:
        certificate_path, key_path = Path(directory) / "client.crt", Path(directory) / "client.key"
        for path, content in ((certificate_path, certificate), (key_path, key)):
            path.touch(mode=0o600)
            path.write_bytes(content)
        tls.load_cert_chain(str(certificate_path), str(key_path))
