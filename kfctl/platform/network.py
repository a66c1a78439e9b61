"""Is the network reachable? One TCP connect per host, concurrently, before kustomize is asked to fetch.

Why a TCP connect: it is the cheapest thing that answers for the path kustomize would take (DNS, route,
firewall, proxy) without sending a request or a byte of payload; on an air-gapped machine it fails at
once ("network is unreachable", or no DNS), so refusing costs nothing. Through an HTTP(S) proxy (the
variables git and kustomize honour) the proxy is what gets probed.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit
from urllib.request import getproxies_environment

from kfctl.errors import InputError

OFFLINE_ENV = "KFCTL_OFFLINE"
PROBE_TIMEOUT = 3.0  # seconds for all probes together; a slower network is treated as unreachable

Endpoint = tuple[str, int]


def offline_mode() -> bool | None:
    """$KFCTL_OFFLINE: True (1/true/yes) assume no network, False (0/false/no) assume one; None: probe."""
    value = os.environ.get(OFFLINE_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InputError(
        f"{OFFLINE_ENV}={value!r} is not a switch",
        hint="set it to 1 (no network: refuse remote entries no mirror covers), 0 (skip the probe) or leave it unset",
    )


def unreachable(endpoints: Iterable[Endpoint], timeout: float = PROBE_TIMEOUT) -> dict[Endpoint, str]:
    """The endpoints a TCP connection cannot reach within `timeout`, each with why."""
    results: dict[Endpoint, str | None] = {}
    threads = []
    for endpoint in dict.fromkeys(endpoints):
        # Daemon threads: a resolver stuck past the deadline must not hold the process at exit.
        thread = threading.Thread(target=_probe, args=(endpoint, timeout, results), daemon=True)
        thread.start()
        threads.append((endpoint, thread))
    deadline = timeout + 0.5
    for _endpoint, thread in threads:
        thread.join(deadline)
    return {
        endpoint: results.get(endpoint) or f"no answer within {timeout:g}s"
        for endpoint, _thread in threads
        if results.get(endpoint, "") is not None
    }


def _probe(endpoint: Endpoint, timeout: float, results: dict[Endpoint, str | None]) -> None:
    host, port = _via_proxy(endpoint)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            results[endpoint] = None
    except OSError as e:
        via = f" (through proxy {host}:{port})" if (host, port) != endpoint else ""
        results[endpoint] = f"{e.strerror or str(e) or type(e).__name__}{via}"


def _via_proxy(endpoint: Endpoint) -> Endpoint:
    host, port = endpoint
    proxies = getproxies_environment()
    if port not in (80, 443) or _bypassed(host, proxies.get("no", "")):
        return endpoint
    proxy = proxies.get("https" if port == 443 else "http") or proxies.get("all")
    if not proxy:
        return endpoint
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        return parts.hostname or host, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a malformed port in the variable: probe directly
        return endpoint


def _bypassed(host: str, no_proxy: str) -> bool:
    """`no_proxy` as curl and git read it: `*`, or host names and domain suffixes, comma-separated."""
    for pattern in (p.strip().lower().lstrip(".") for p in no_proxy.split(",")):
        if pattern == "*" or (pattern and (host == pattern or host.endswith("." + pattern))):
            return True
    return False
