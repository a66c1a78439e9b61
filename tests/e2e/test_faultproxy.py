"""The fault proxy in front of the real API server: it forwards faithfully and injects what it is told.

kubectl is the client here (its retry rules are client-go's, which kfctl's client has to match);
every assertion about the server's state is made directly, without the proxy.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import queue
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import ClusterUnavailable, LiveCluster
from tests.faultproxy import (
    FaultProxy,
    all_of,
    delay,
    methods,
    mutating,
    path_matches,
    reset,
    status,
)


@pytest.fixture
def proxy(cluster: LiveCluster) -> Iterator[FaultProxy]:
    if cluster.state_dir is None:
        raise ClusterUnavailable("the fault proxy needs the simulated cluster's PKI (scripts/local-cluster)")
    with FaultProxy(cluster.state_dir) as running:
        yield running


@pytest.fixture
def via(cluster: LiveCluster, proxy: FaultProxy, tmp_path: Path) -> Kubectl:
    return Kubectl(cluster, proxy.kubeconfig(tmp_path / "proxy.kubeconfig"), tmp_path / "kube-cache")


class Kubectl:
    """kubectl through the proxy, with a discovery cache of its own (the proxy's port is new each time)."""

    def __init__(self, cluster: LiveCluster, kubeconfig: Path, cache: Path) -> None:
        self.cluster, self.kubeconfig, self.cache = cluster, kubeconfig, cache

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.cluster.run_kubectl(f"--cache-dir={self.cache}", *args, kubeconfig=self.kubeconfig, input=input)

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode == 0, f"kubectl {' '.join(args)} via the proxy failed: {result.stderr}"
        return result.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        command = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache}", *args]
        env = {**os.environ, **self.cluster.env}
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def exists(cluster: LiveCluster, *args: str) -> bool:
    """Asked of the server directly, not through the proxy."""
    result = cluster.run_kubectl("get", *args, "-o", "name")
    if result.returncode == 0:
        return True
    assert "NotFound" in result.stderr, result.stderr
    return False


def configmap(name: str, namespace: str, data: dict[str, str]) -> str:
    return json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}
    )


def test_kubectl_works_through_the_proxy_without_rules(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    nodes = via("get", "nodes", "-o", "name").split()
    assert nodes and all(n.startswith("node/") for n in nodes)

    via("create", "configmap", "plain", "-n", namespace, "--from-literal=greeting=hello")
    read = json.loads(via("get", "configmap", "plain", "-n", namespace, "-o", "json"))
    assert read["data"] == {"greeting": "hello"}
    direct = cluster.get_json("configmap", "plain", "-n", namespace)
    assert direct["metadata"]["uid"] == read["metadata"]["uid"]

    stats = proxy.stats()
    assert stats.requests >= 3
    assert stats.forwarded == stats.requests
    assert stats.faults_total == 0
    assert stats.errors == 0
    assert stats.upstream[201] == 1, "one create"
    assert sum(stats.upstream.values()) == stats.forwarded


def test_429_with_retry_after_on_every_third_request_is_retried(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    rule = proxy.add_rule(status(429, retry_after=1), every=3)
    started = time.monotonic()
    via("get", "nodes")
    via("create", "configmap", "throttled", "-n", namespace, "--from-literal=a=b")
    elapsed = time.monotonic() - started

    assert exists(cluster, "configmap", "throttled", "-n", namespace)
    stats = proxy.stats()
    assert rule.fired >= 1
    assert rule.fired == rule.matched // 3
    assert stats.statuses == {429: rule.fired}
    assert stats.faults == {"status": rule.fired}
    assert stats.requests == stats.forwarded + rule.fired
    # client-go waited out each Retry-After before trying again.
    assert elapsed >= rule.fired * 1.0


def test_500_on_every_post_fails_the_create_and_nothing_is_created(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    rule = proxy.add_rule(status(500), when=methods("POST"))
    result = via.run("create", "configmap", "refused", "-n", namespace, "--from-literal=a=b")

    assert result.returncode != 0
    assert "InternalError" in result.stderr or "500" in result.stderr, result.stderr
    # From a manifest, kubectl names the reason it read from the Status body.
    manifest = configmap("refused-too", namespace, {"a": "b"})
    result = via.run("create", "-f", "-", input=manifest)
    assert result.returncode != 0
    assert "Error from server (InternalError)" in result.stderr, result.stderr

    assert not exists(cluster, "configmap", "refused", "-n", namespace)
    assert not exists(cluster, "configmap", "refused-too", "-n", namespace)
    stats = proxy.stats()
    assert rule.fired == 2, "a 500 without Retry-After is not retried"
    assert stats.statuses == {500: 2}
    assert stats.requests == stats.forwarded + 2
    assert all(code < 300 for code in stats.upstream), stats.upstream


def test_reset_once_then_the_read_succeeds(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    cluster.kubectl("create", "configmap", "target", "-n", namespace, "--from-literal=a=b")
    rule = proxy.add_rule(
        reset(), when=all_of(methods("GET"), path_matches(f"/namespaces/{namespace}/configmaps/target$")), times=1
    )

    first = via.run("get", "configmap", "target", "-n", namespace, "-o", "json")
    # client-go retries a GET whose connection was reset; if it ever stops doing so, a second call must work.
    output = first.stdout if first.returncode == 0 else via("get", "configmap", "target", "-n", namespace, "-o", "json")

    assert json.loads(output)["data"] == {"a": "b"}
    stats = proxy.stats()
    assert rule.fired == 1
    assert rule.matched == 2
    assert stats.faults == {"reset": 1}
    assert stats.requests == stats.forwarded + 1


def test_reset_is_an_abrupt_close_without_a_response(cluster: LiveCluster, proxy: FaultProxy) -> None:
    proxy.add_rule(reset(), times=1)
    context = ssl.create_default_context(cafile=str(proxy.ca))
    context.load_cert_chain(proxy.client_cert, proxy.client_key)
    connection = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=10)
    try:
        connection.request("GET", "/readyz")
        with pytest.raises(ConnectionResetError):
            connection.getresponse().read()
    finally:
        connection.close()
    assert proxy.stats().faults == {"reset": 1}

    again = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=10)
    try:
        again.request("GET", "/readyz")
        response = again.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
    finally:
        again.close()


def test_delay_slows_the_request_it_matches(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    cluster.kubectl("create", "configmap", "slow", "-n", namespace)
    seconds = 1.5
    rule = proxy.add_rule(delay(seconds), when=path_matches(f"/namespaces/{namespace}/configmaps/slow$"), times=1)

    started = time.monotonic()
    via("get", "configmap", "slow", "-n", namespace)
    elapsed = time.monotonic() - started

    assert elapsed >= seconds
    stats = proxy.stats()
    assert rule.fired == 1
    assert stats.faults == {"delay": 1}
    assert stats.forwarded == stats.requests, "a delayed request is still forwarded"


def test_rules_change_while_running_and_probability_is_seeded(cluster: LiveCluster, proxy: FaultProxy) -> None:
    context = ssl.create_default_context(cafile=str(proxy.ca))
    connection = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=10)

    def readyz() -> int:
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        response.read()
        return response.status

    try:
        rule = proxy.add_rule(status(503, retry_after=2), probability=0.5)
        codes = [readyz() for _ in range(40)]
        assert 0 < rule.fired < 40
        assert codes.count(503) == rule.fired
        assert codes.count(200) == 40 - rule.fired
        proxy.remove_rule(rule)
        assert [readyz() for _ in range(5)] == [200] * 5, "keep-alive survives injected statuses"
    finally:
        connection.close()
    stats = proxy.stats()
    assert stats.statuses == {503: rule.fired}
    assert stats.requests == 45
    assert stats.upstream == {200: 45 - rule.fired}


def test_mutating_rule_leaves_reads_alone(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    cluster.kubectl("create", "configmap", "kept", "-n", namespace)
    rule = proxy.add_rule(status(503), when=mutating)
    assert "configmap/kept" in via("get", "configmaps", "-n", namespace, "-o", "name").split()
    result = via.run("delete", "configmap", "kept", "-n", namespace)
    assert result.returncode != 0 and "ServiceUnavailable" in result.stderr, result.stderr
    assert rule.fired == 1
    assert rule.matched == 1, "reads do not match"
    assert exists(cluster, "configmap", "kept", "-n", namespace)


def test_large_server_side_apply_passes_through(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    # The largest ConfigMap the server keeps (data is capped at 1 MiB): applied whole, read back equal.
    data = {f"part{i}": os.urandom(125_000).hex() for i in range(4)}  # 1,000,000 bytes
    via("apply", "--server-side", "--field-manager=faultproxy-test", "-f", "-", input=configmap("big", namespace, data))
    stored = cluster.get_json("configmap", "big", "-n", namespace)["data"]
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    assert hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest() == digest

    # ~1.5 MB of data: the whole body reaches the server, which measures it and answers with its own 422.
    data = {f"part{i}": os.urandom(187_500).hex() for i in range(4)}  # 1,500,000 bytes
    result = via.run("apply", "--server-side", "-f", "-", input=configmap("bigger", namespace, data))
    assert result.returncode != 0
    assert "Too long" in result.stderr and "1048576" in result.stderr, result.stderr
    assert not exists(cluster, "configmap", "bigger", "-n", namespace)

    stats = proxy.stats()
    assert stats.faults_total == 0
    assert stats.errors == 0
    assert stats.upstream[422] == 1


def test_large_crd_server_side_apply_passes_through(cluster: LiveCluster, proxy: FaultProxy, via: Kubectl) -> None:
    group = f"fp{os.urandom(3).hex()}.example.com"
    properties = {f"field{i}": {"type": "string", "description": f"{i} " + "d" * 1000} for i in range(1450)}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"bigs.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "bigs", "singular": "big", "kind": "Big"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": properties}},
                        }
                    },
                }
            ],
        },
    }
    manifest = json.dumps(crd)
    assert len(manifest) > 1_500_000
    try:
        via("apply", "--server-side", "--field-manager=faultproxy-test", "-f", "-", input=manifest)
        stored = cluster.get_json("crd", f"bigs.{group}")
        schema = stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        assert schema == properties
    finally:
        cluster.run_kubectl("delete", "crd", f"bigs.{group}", "--ignore-not-found", "--wait=false")
    assert proxy.stats().errors == 0


def test_watch_streams_through_and_stop_closes_it(
    cluster: LiveCluster, proxy: FaultProxy, via: Kubectl, namespace: str
) -> None:
    cluster.kubectl("create", "configmap", "listed", "-n", namespace)
    watch = via.popen("get", "configmaps", "-n", namespace, "--watch", "-o", "name", "--request-timeout=0")
    lines: queue.Queue[str] = queue.Queue()
    assert watch.stdout is not None
    stdout = watch.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        created = False
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while "configmap/streamed" not in seen:
            if not created and seen:
                # The watch is open (its initial list arrived): an event now travels the stream.
                cluster.kubectl("create", "configmap", "streamed", "-n", namespace)
                created = True
            try:
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"no watch event through the proxy; saw {seen}")
        assert watch.poll() is None, "the watch is still open"

        proxy.stop()
        assert watch.wait(timeout=30) is not None, "stopping the proxy ends the stream"
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert proxy.stats().upstream[200] >= 1


def test_refuses_an_upstream_off_loopback(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "far", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority": "x"}}],
        "contexts": [{"name": "far", "context": {"cluster": "far", "user": "u"}}],
        "current-context": "far",
        "users": [{"name": "u", "user": {}}],
    }
    (tmp_path / "admin.kubeconfig").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not on loopback"):
        FaultProxy(tmp_path)
