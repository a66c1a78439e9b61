"""Webhook and certificate gating, for real: a webhook server of the test's own on loopback.

The platform is a small one of the test's own (KFCTL_CATALOG_DIR): a component `guard` holds a
ValidatingWebhookConfiguration that intercepts ConfigMaps of a namespace, and a component `app`,
depending on it, creates such ConfigMaps. No profile relaxation applies (profile `generic`).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import LiveCluster
from tests.e2e.test_apply import events_of, report_of

CATALOG = """apiVersion: kfctl.dev/v1alpha1
kind: Platform
metadata: {name: webhook-test}
spec:
  release: v0.0.1
  description: a guarded app, for webhook gating tests
  kubernetes: {min: "1.27", testedMax: "1.40"}
  sources:
    local: {dirName: src}
  defaultComponents: [guard, app]
  components:
    guard:
      description: a validating webhook served on loopback
      paths: [guard]
    app:
      description: ConfigMaps the webhook intercepts
      paths: [app]
      dependsOn: [guard]
"""


class WebhookServer:
    """An HTTPS admission webhook on 127.0.0.1 that allows everything and counts what it saw."""

    def __init__(self, directory: Path) -> None:
        self.cert = directory / "webhook.crt"
        key = directory / "webhook.key"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(self.cert),
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        self.key = key
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.reviews: list[dict[str, Any]] = []
        self.server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        reviews = self.reviews

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reviews.append(review["request"])
                body = json.dumps(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": review["request"]["uid"], "allowed": True},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()


@pytest.fixture
def platform(tmp_path: Path, cluster: LiveCluster) -> Iterator[dict[str, Any]]:
    server = WebhookServer(tmp_path)
    tag = os.urandom(3).hex()
    namespace = f"t-guarded-{tag}"
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "webhook-test.yaml").write_text(CATALOG)
    source = tmp_path / "manifests" / "src"
    for component in ("guard", "app"):
        (source / component).mkdir(parents=True)
    import base64

    ca_bundle = base64.b64encode(server.cert.read_bytes()).decode()
    (source / "guard" / "kustomization.yaml").write_text("resources: [webhook.yaml]\n")
    (source / "guard" / "webhook.yaml").write_text(f"""apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
  labels: {{guarded: "{tag}"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: guard-{tag}
  annotations:
    cert-manager.io/inject-ca-from: {namespace}/guard-cert
webhooks:
- name: guard.kfctl.test
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig:
    url: https://127.0.0.1:{server.port}/validate
  namespaceSelector:
    matchLabels: {{guarded: "{tag}"}}
  rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [configmaps]
""")
    (source / "app" / "kustomization.yaml").write_text("resources: [configmaps.yaml]\n")
    (source / "app" / "configmaps.yaml").write_text(
        "".join(
            f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings-{i}, namespace: {namespace}}}\n"
            f"data: {{index: '{i}'}}\n"
            for i in range(3)
        )
    )
    config = tmp_path / "kfctl.yaml"
    config.write_text(
        f"apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {{name: guarded-{tag}}}\n"
        "spec:\n  profile: generic\n  platform: webhook-test\n"
    )
    env = {**os.environ, "KFCTL_CATALOG_DIR": str(catalog), "KFCTL_MANIFESTS_DIR": str(tmp_path / "manifests")}
    yield {"server": server, "config": config, "env": env, "namespace": namespace, "tag": tag, "ca_bundle": ca_bundle}
    server.start() if server.server is None else None  # so the clean-up is not itself blocked
    subprocess.run(
        ["kfctl", "--kubeconfig", str(cluster.kubeconfig_path), "delete", "-f", str(config), "--purge", "--yes"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    cluster.run_kubectl("delete", "validatingwebhookconfiguration", f"guard-{tag}", "--ignore-not-found")
    server.stop()


def audit_time(event: dict[str, Any], field: str = "requestReceivedTimestamp") -> float:
    return datetime.fromisoformat(event[field].replace("Z", "+00:00")).timestamp()


def test_apply_waits_for_the_ca_bundle_and_for_the_webhook_to_answer(
    cluster: LiveCluster, platform: dict[str, Any]
) -> None:
    """Order, from recorded facts only (the audit log, and times the test takes when it acts): kfctl
    sends nothing of `app` before cainjector's part (the test's CA patch) is done, and every ConfigMap
    the API server refused was refused before the webhook's backend came up."""
    server: WebhookServer = platform["server"]
    tag = platform["tag"]
    acted: dict[str, float] = {}

    def refused_configmaps() -> list[dict[str, Any]]:
        return [
            e
            for e in cluster.audit.find(mark, verb="patch", resource="configmaps", namespace=platform["namespace"])
            if e["responseStatus"]["code"] >= 400
        ]

    def cert_manager_and_pod_arrive_late() -> None:
        # What cainjector would do: inject the CA bundle once the configuration exists. Then the backend
        # starts, only after the API server has refused a ConfigMap for want of it (no sleeps racing kfctl).
        exists = ("get", "validatingwebhookconfiguration", f"guard-{tag}")
        cluster.wait_until("kfctl to apply the webhook", lambda: cluster.run_kubectl(*exists).returncode == 0, 300)
        patch = json.dumps([{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": platform["ca_bundle"]}])
        cluster.kubectl("patch", "validatingwebhookconfiguration", f"guard-{tag}", "--type=json", "-p", patch)
        cluster.wait_until("a ConfigMap refused while the webhook is down", lambda: bool(refused_configmaps()), 300)
        server.start()
        acted["server_started"] = time.time()

    mark = cluster.audit.mark()
    helper = threading.Thread(target=cert_manager_and_pod_arrive_late)
    helper.start()
    result = subprocess.run(
        [
            "kfctl",
            "--kubeconfig",
            str(cluster.kubeconfig_path),
            "apply",
            "-f",
            str(platform["config"]),
            "-o",
            "json",
            "--timeout",
            "3m",
            # cert-manager is not part of this platform: the test plays its CA injection itself.
            "--ignore-preflight-errors=cert-manager",
        ],
        capture_output=True,
        text=True,
        env=platform["env"],
        timeout=400,
    )
    helper.join()
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    report = report_of(result)
    assert {c["name"]: c["status"] for c in report["components"]} == {"guard": "applied", "app": "applied"}
    waiting = [e for e in events_of(result) if e.get("event") == "waiting"]
    assert waiting and "failed calling webhook" in waiting[0]["reason"], "the wait is reported, with its cause"
    created = sorted(r["name"] for r in server.reviews if r["operation"] == "CREATE")
    assert created == ["settings-0", "settings-1", "settings-2"], "every ConfigMap went through the webhook"
    events = cluster.audit.events(mark, settle=1.0)
    ca_patch = [
        e
        for e in events
        if e.get("verb") == "patch"
        and (e.get("objectRef") or {}).get("name") == f"guard-{tag}"
        and str(e.get("userAgent", "")).startswith("kubectl")
    ]
    assert len(ca_patch) == 1, "the test injected the CA bundle once"
    configmaps = [
        e
        for e in events
        if (e.get("objectRef") or {}).get("resource") == "configmaps"
        and (e.get("objectRef") or {}).get("namespace") == platform["namespace"]
        and e.get("verb") == "patch"
    ]
    assert configmaps, "kfctl applied the ConfigMaps"
    first = min(audit_time(e) for e in configmaps)
    assert first > audit_time(ca_patch[0], "stageTimestamp"), "app waited for guard's CA bundle"
    refused = [e for e in configmaps if e["responseStatus"]["code"] >= 400]
    assert refused, "the API server refused them while the webhook did not answer"
    assert "server_started" in acted, "the test's helper ran to the end"
    assert all(audit_time(e) < acted["server_started"] for e in refused), "refusals stop once the webhook answers"
    guard_done = next(c for c in report["components"] if c["name"] == "guard")["finishedAt"]
    app_started = next(c for c in report["components"] if c["name"] == "app")["startedAt"]
    assert app_started >= guard_done
