"""One pooled HTTP client per run, authenticated from a kubeconfig.

A plain kubeconfig (server, CA, client certificate or token) is read by kfctl.kube.kubeconfig; every
other one by `kubernetes.config` (exec plugins, OIDC, merged files), so no credential scheme is
reimplemented; httpx carries the requests.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from kfctl.errors import ClusterUnreachableError, ConfigError, OperationError
from kfctl.http import httpx
from kfctl.kube.kubeconfig import Connection, kubeconfig_path, read_simple

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class ClusterTarget:
    """Which cluster to talk to: a kubeconfig path (None: $KUBECONFIG or ~/.kube/config) and a context."""

    kubeconfig: str | None = None
    context: str | None = None


class KubeClient:
    """A thin, pooled client for the Kubernetes REST API."""

    def __init__(self, target: ClusterTarget) -> None:
        connection = read_simple(target.kubeconfig, target.context) or _through_kubernetes_library(target)
        self.host: str = connection.host
        self.context_name, self.user_name = connection.context_name, connection.user_name
        headers = {"User-Agent": "kfctl", **connection.headers}
        verify = connection.verify
        self._http = httpx.Client(
            base_url=self.host,
            verify=verify,
            headers=headers,
            timeout=DEFAULT_TIMEOUT,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    @property
    def identity(self) -> str:
        """Who kfctl is on this cluster, for messages: names only, never credentials."""
        return f"user {self.user_name or '?'} in context {self.context_name or '?'}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; connection failures become ClusterUnreachableError (no credentials echoed)."""
        try:
            return self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise ClusterUnreachableError(
                f"cannot reach the API server at {self.host}: {_first_line(error)}",
                hint="check that the cluster is running and --kubeconfig/--context point at it",
            ) from error
        except httpx.TransportError as error:
            raise ClusterUnreachableError(
                f"connection to the API server at {self.host} failed: {_first_line(error)}"
            ) from error

    def get_json(self, path: str) -> dict[str, Any]:
        response = self.request("GET", path)
        if response.status_code >= 400:
            raise OperationError(f"GET {path} failed: HTTP {response.status_code} {response.text[:300]}")
        result: dict[str, Any] = response.json()
        return result

    def server_version(self) -> dict[str, Any]:
        return self.get_json("/version")


def _through_kubernetes_library(target: ClusterTarget) -> Connection:
    """Any kubeconfig (exec plugins, auth providers, merged files), resolved by the kubernetes library."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig_path(target.kubeconfig),
            context=target.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError) as error:
        where = kubeconfig_path(target.kubeconfig) or "~/.kube/config"
        raise ConfigError(
            f"cannot load kubeconfig {where}: {_first_line(error)}",
            hint="pass --kubeconfig PATH or set KUBECONFIG",
        ) from error
    context_name, user_name = _context_and_user(kubeconfig_path(target.kubeconfig), target.context)
    verify: ssl.SSLContext | bool = True
    if not configuration.verify_ssl:
        verify = False
    else:
        verify = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            verify.load_cert_chain(configuration.cert_file, configuration.key_file)
    headers = {}
    token = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
    if token:
        headers["Authorization"] = token if " " in token else f"Bearer {token}"
    return Connection(configuration.host, verify, headers, context_name, user_name)


def _context_and_user(kubeconfig: str | None, context: str | None) -> tuple[str, str]:
    """The context's name and its user's name (not its credentials), for error messages."""
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, TypeError):
        return context or "", ""
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else active
    chosen = chosen or {}
    return str(chosen.get("name") or ""), str((chosen.get("context") or {}).get("user") or "")


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
