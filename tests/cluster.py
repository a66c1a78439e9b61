"""The test-side handle on a real cluster: the simulated one of scripts/local-cluster, or any
cluster named by KFCTL_TEST_KUBECONFIG (a kind cluster on a laptop, say).

Names follow pytest-kind's fixture where they fit (`kubeconfig_path`, `kubectl()`), so tests read
the same against either.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOCAL_CLUSTER = REPO / "scripts" / "local-cluster"


class ClusterUnavailable(RuntimeError):
    """No cluster can be had: e2e tests fail (never skip) with this message."""


@dataclass
class AuditLog:
    """Reads the API server's audit log (JSON lines, Metadata level)."""

    path: Path | None

    def mark(self) -> int:
        """A position to read events from: events after this call."""
        if self.path is None:
            raise ClusterUnavailable("no audit log: set KFCTL_TEST_AUDIT_LOG for an external cluster")
        return self.path.stat().st_size if self.path.exists() else 0

    def events(self, since: int = 0, *, settle: float = 0.5) -> list[dict[str, Any]]:
        """Events written since `since`. Waits `settle` seconds so in-flight requests are logged."""
        if self.path is None:
            raise ClusterUnavailable("no audit log: set KFCTL_TEST_AUDIT_LOG for an external cluster")
        time.sleep(settle)
        with self.path.open("rb") as log:
            log.seek(since)
            data = log.read()
        events = []
        for line in data.splitlines():
            if line.strip():
                events.append(json.loads(line))
        return events

    def find(self, since: int = 0, **match: Any) -> list[dict[str, Any]]:
        """Events whose fields equal `match`; keys: verb, user, resource, namespace, name, code."""
        found = []
        for event in self.events(since):
            ref = event.get("objectRef") or {}
            flat = {
                "verb": event.get("verb"),
                "user": (event.get("user") or {}).get("username"),
                "resource": ref.get("resource"),
                "namespace": ref.get("namespace"),
                "name": ref.get("name"),
                "code": (event.get("responseStatus") or {}).get("code"),
            }
            if all(flat.get(key) == value for key, value in match.items()):
                found.append(event)
        return found


@dataclass
class LiveCluster:
    name: str
    kubeconfig_path: Path
    user_kubeconfig_path: Path | None
    audit: AuditLog
    state_dir: Path | None = None
    netns: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.state_dir is not None

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> str:
        """Run kubectl against the cluster and return stdout; raises with stderr when check fails."""
        result = self.run_kubectl(*args, kubeconfig=kubeconfig, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def run_kubectl(
        self, *args: str, kubeconfig: Path | None = None, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        command = ["kubectl", f"--kubeconfig={kubeconfig or self.kubeconfig_path}", *args]
        return subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, env={**os.environ, **self.env}
        )

    def get_json(self, *args: str, kubeconfig: Path | None = None) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json", kubeconfig=kubeconfig))
        return result

    def wait_until(self, what: str, probe: Callable[[], bool], timeout: float = 60, interval: float = 0.25) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def local_cluster(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Drive scripts/local-cluster for this cluster (stop/start components, add-ons)."""
        if not self.is_local:
            raise ClusterUnavailable("this test needs the simulated cluster of scripts/local-cluster")
        result = subprocess.run(
            [str(LOCAL_CLUSTER), *args], capture_output=True, text=True, timeout=300, env={**os.environ, **self.env}
        )
        if check and result.returncode != 0:
            raise AssertionError(f"local-cluster {' '.join(args)} failed: {result.stderr}")
        return result


def discover() -> LiveCluster:
    """The cluster the e2e tests run against, or ClusterUnavailable saying how to get one."""
    external = os.environ.get("KFCTL_TEST_KUBECONFIG")
    if external:
        user = os.environ.get("KFCTL_TEST_USER_KUBECONFIG")
        audit = os.environ.get("KFCTL_TEST_AUDIT_LOG")
        cluster = LiveCluster(
            name="external",
            kubeconfig_path=Path(external),
            user_kubeconfig_path=Path(user) if user else None,
            audit=AuditLog(Path(audit) if audit else None),
        )
    else:
        state = os.environ.get("KFCTL_CLUSTER_DIR")
        if not state or not Path(state, "admin.kubeconfig").exists():
            raise ClusterUnavailable(
                "no cluster: run the tests with `scripts/test` (it starts the simulated cluster), "
                "inside `scripts/local-cluster exec -- pytest`, or set KFCTL_TEST_KUBECONFIG"
            )
        state_dir = Path(state)
        cluster = LiveCluster(
            name=os.environ.get("KFCTL_CLUSTER_NETNS", "kfctl"),
            kubeconfig_path=state_dir / "admin.kubeconfig",
            user_kubeconfig_path=state_dir / "alice.kubeconfig",
            audit=AuditLog(state_dir / "audit.log"),
            state_dir=state_dir,
            netns=os.environ.get("KFCTL_CLUSTER_NETNS"),
            env={"KFCTL_CLUSTER_DIR": str(state_dir)},
        )
    probe = cluster.run_kubectl("get", "--raw", "/readyz", timeout=20)
    if probe.returncode != 0 or probe.stdout.strip() != "ok":
        raise ClusterUnavailable(f"the cluster at {cluster.kubeconfig_path} is not ready: {probe.stderr.strip()[:300]}")
    return cluster


def unique_namespace(cluster: LiveCluster, test_name: str) -> Iterator[str]:
    """A fresh namespace for one test, deleted (without waiting) after it."""
    base = "".join(c if c.isalnum() else "-" for c in test_name.lower()).strip("-")[:40].strip("-")
    name = f"t-{base}-{os.urandom(3).hex()}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.run_kubectl("delete", "namespace", name, "--wait=false")
