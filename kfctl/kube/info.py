"""Client and server versions for `kfctl version`."""

from __future__ import annotations

from typing import Any

from kfctl import __version__
from kfctl.errors import KfctlError


def collect_versions(kubeconfig: str | None, context: str | None, *, client_only: bool) -> dict[str, Any]:
    """The client version always; the server's when reachable, else the reason it is not (never fatal)."""
    versions: dict[str, Any] = {"client": {"version": __version__}}
    if client_only:
        return versions
    from kfctl.kube.client import ClusterTarget, KubeClient  # the HTTP client: not for `version --client`

    try:
        with KubeClient(ClusterTarget(kubeconfig, context)) as client:
            info = client.server_version()
        versions["server"] = {key: info.get(key) for key in ("gitVersion", "major", "minor", "platform")}
    except KfctlError as error:
        versions["server"] = {"error": error.one_line()}
    return versions
