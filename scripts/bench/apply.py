#!/usr/bin/env python3
"""Apply benchmark: kfctl's apply engine against kubectl and against a raw server-side-apply loop,
each from an empty simulated cluster, measured in one run.

    python3 scripts/bench/apply.py [--parts a,b,c,d,r] [--a-releases kubeflow-1.10,kubeflow-26.03]
                                   [--readme-sleep 20] [--objects 2000] [--big 10000] [--keep]

(a) Full Kubeflow 1.10 and the newest release (profile simulated, default components, remote resources
    from the mirror) until everything is applied and every Deployment is Available: `kfctl apply` (render
    cache emptied first) / the Kubeflow README retry loop / a hand-ordered kubectl script, all sending the
    same objects (kfctl's own plan, dumped as ALL.yaml).
    Targets: kfctl / hand-ordered <= 0.6 and kfctl / README loop <= 0.6 on each release; CPU of the kfctl
    process tree (kfctl and its kustomize runs) for 1.10 <= 8 s.
(b) A synthetic platform (>= 2,000 objects, >= 10 components in a dependency tree), kfctl --no-wait
    against a tight parallel server-side-apply loop with no ordering (same concurrency).
    Target: kfctl apply phase / raw <= 1.5.
(c) No-op re-apply of (a) and (b). Target: no-op / first apply <= 0.08.
(d) The synthetic platform at 10,000 objects: time and peak RSS of kfctl.
    Targets: time / 2,000-object time <= 5, peak RSS <= 300 MB.
(r) Every release kfctl knows with remote resources mirrored (1.10, 1.11, 26.03 by default): one full
    `kfctl apply` each on an empty cluster, time and requests side by side (no target: a comparison).

Everything that talks to the cluster runs in its network namespace (`scripts/local-cluster exec`);
the benchmark's own cluster is `bench` (never the default one), recreated empty before each
measured install and taken down at the end unless --keep. Needs root, like scripts/local-cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOCAL_CLUSTER = REPO / "scripts" / "local-cluster"
CACHE = Path(os.environ.get("KFCTL_CACHE_DIR") or Path.home() / ".cache" / "kfctl")
CLUSTER_NAME = "bench"
CLUSTER_ENV = {"KFCTL_CLUSTER_NAME": CLUSTER_NAME, "KFCTL_CLUSTER_DIR": str(CACHE / "clusters" / CLUSTER_NAME)}
KUSTOMIZE = CACHE / "bin" / "current" / "kustomize"  # the kustomize `local-cluster exec` puts on PATH
DEFINITION_KINDS = ("Namespace", "CustomResourceDefinition")  # what the hand-ordered script applies first
KUBEFLOW_CONFIG = """apiVersion: kfctl.dev/v1alpha1
kind: AppConfig
metadata: {name: kubeflow}
spec:
  profile: simulated
  platform: kubeflow-1.10
"""
SYNTHETIC_PLATFORM = "synthetic"
# Where kfctl is imported from: a snapshot of the tree taken at the start (main), so every run of
# one benchmark measures the same code while others edit the working tree.
KFCTL_ROOT = REPO
SYNTHETIC_NAMESPACES = ("synth-a", "synth-b", "synth-c", "synth-d")


def ratio(part: float, whole: float) -> float:
    """part / whole; NaN when a run failed and left nothing to divide by."""
    return part / whole if whole else float("nan")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# running things in the bench cluster


@dataclass
class Run:
    """One measured process: wall time from start to exit, its output, and its peak memory."""

    command: list[str]
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    maxrss_mb: float  # wait4: the process and the children it waited for (kustomize), the largest
    hwm_mb: float  # VmHWM of the process itself, sampled while it ran
    load: float  # 1-minute load average when it started (other work on the machine)
    ended: float  # epoch seconds when it exited
    cpu: float  # CPU seconds (user + system) of the process and its children: on 2 CPUs, taken from the server

    def tail(self, lines: int = 15) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join("    " + line[:300] for line in text[-lines:])


def snapshot_tree(workdir: Path) -> Path:
    """Copy the package, with the data it carries (kfctl/data: catalogs, profiles, kustomize components)."""
    root = workdir / "kfctl-snapshot"
    shutil.copytree(REPO / "kfctl", root / "kfctl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Byte-compiled as `pip install` leaves a package: with PYTHONDONTWRITEBYTECODE set (as on CI machines)
    # every measured run would otherwise compile kfctl from source again (~0.2 s each).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "kfctl")], check=True)
    return root


def tree_state() -> str:
    """The commit and how many files differ from it, to say which code was measured."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    changed = git("status", "--porcelain", "--", "kfctl").splitlines()
    return f"{git('rev-parse', '--short', 'HEAD') or '?'}" + (f" + {len(changed)} changed files" if changed else "")


def cluster_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KFCTL_CATALOG_DIR", "KFCTL_MANIFESTS_DIR")}
    env.update(CLUSTER_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(KFCTL_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def local_cluster(*args: str) -> subprocess.CompletedProcess[str]:
    """scripts/local-cluster for the bench cluster, never the default one."""
    return subprocess.run(
        [sys.executable, str(LOCAL_CLUSTER), *args], env=cluster_env(), capture_output=True, text=True, check=False
    )


def fresh_cluster(settle: float) -> None:
    started = time.perf_counter()
    result = local_cluster("up", "--fresh")
    if result.returncode != 0:
        raise SystemExit(f"bench: `local-cluster up --fresh` failed:\n{result.stderr[-3000:]}")
    time.sleep(settle)  # the control plane's own start-up work (bootstrap RBAC, controllers' first sync)
    log(f"fresh empty cluster {CLUSTER_NAME} in {time.perf_counter() - started:.1f}s")


def run_in_cluster(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run COMMAND in the bench cluster's network namespace; time it until it exits.

    `local-cluster exec` execs `ip netns exec`, which execs COMMAND: the pid we start is the
    command's own, so its VmHWM and its wait4 usage are the command's.
    """
    full = [sys.executable, str(LOCAL_CLUSTER), "exec", "--", *command]
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(full, env=env or cluster_env(), cwd=cwd, stdout=out, stderr=err)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            status = Path(f"/proc/{process.pid}/status")
            while not done.wait(0.05):
                try:
                    for line in status.read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
                except (OSError, ValueError):
                    pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            full,
            seconds,
            process.returncode,
            out.read(),
            err.read(),
            usage.ru_maxrss / 1024,
            peak[0] / 1024,
            load,
            time.time(),
            usage.ru_utime + usage.ru_stime,
        )


# ---------------------------------------------------------------------------------------------
# kfctl runs and their reports


@dataclass
class KfctlRun:
    label: str
    run: Run
    report: dict[str, Any]
    events: list[dict[str, Any]]
    # component -> when its last Deployment became Available, by the cluster's own conditions, in
    # seconds since the apply engine started (1 s resolution: conditions carry whole seconds)
    available: dict[str, float] = field(default_factory=dict)

    @property
    def wall(self) -> float:
        return self.run.seconds

    @property
    def executor(self) -> float:
        """kfctl's own apply phase: from connecting to the last record written (no render, no start-up)."""
        return float(self.report.get("seconds", 0.0))

    @property
    def ok(self) -> bool:
        return self.run.returncode == 0 and self.report.get("status") in ("deployed", "unchanged")

    @property
    def preflight(self) -> float | None:
        """Seconds kfctl spent on its preflight checks, when it ran them (the `preflight` event)."""
        event = next((e for e in self.events if e.get("event") == "preflight"), None)
        return float(event.get("seconds", 0.0)) if event else None

    @property
    def note(self) -> str:
        """FAILED when it did not succeed, its preflight time, and the machine's load when it started."""
        preflight = "" if self.preflight is None else f" [preflight {self.preflight:.2f}s]"
        return ("" if self.ok else " FAILED") + preflight + f" [load {self.run.load:.1f}]"

    @property
    def objects(self) -> int:
        return sum(c.get("applied", 0) + c.get("unchanged", 0) for c in self.report.get("components", []))


def json_document(text: str) -> dict[str, Any]:
    """The one JSON document a command printed on stdout ({} when it printed none)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def json_events(stderr: str) -> list[dict[str, Any]]:
    """`kfctl -o json` writes its progress events to stderr, one JSON object per line."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith('{"apiVersion"')]


def kfctl_apply(
    label: str,
    config: Path,
    manifests: Path,
    *,
    wait: bool,
    concurrency: int,
    extra_env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    cold: bool = False,
) -> KfctlRun:
    """`cold`: the render cache emptied first (`kfctl cache clean`), so the run renders everything with
    kustomize, as a first install on a new machine does; otherwise earlier renders of the same inputs
    (the in-process plan dump, a previous run) are served from it."""
    if cold:
        subprocess.run(
            [sys.executable, "-m", "kfctl", "cache", "clean"],
            env=cluster_env(extra_env),
            capture_output=True,
            check=True,
        )
    command = [
        sys.executable, "-m", "kfctl", "apply",
        "-f", str(config),
        "--manifests-dir", str(manifests),
        "--concurrency", str(concurrency),
        "--timeout", "30m",
        "-o", "json",
    ]  # fmt: skip
    if KUSTOMIZE.exists():
        command += ["--kustomize-bin", str(KUSTOMIZE)]
    if not wait:
        command.append("--no-wait")
    command += extra_args
    log(f"{label}: kfctl apply{'' if wait else ' --no-wait'}")
    run = run_in_cluster(command, env=cluster_env(extra_env), cwd=config.parent)
    report = json_document(run.stdout)
    events = json_events(run.stderr)
    result = KfctlRun(label, run, report, events)
    state = report.get("status", "no report")
    render = next((e for e in events if e.get("event") == "render"), {})
    cache = render.get("cache") or {}
    log(
        f"{label}: {state} in {run.seconds:.1f}s (render {render.get('seconds', '?')}s, "
        f"{cache.get('hits', 0)} components from the render cache; apply phase {result.executor:.1f}s, "
        f"CPU {run.cpu:.1f}s, exit {run.returncode})"
    )
    if not result.ok:
        log(f"{label}: kfctl did not succeed:\n{run.tail()}")
        failed = [c for c in report.get("components", []) if c.get("status") not in ("applied", "unchanged")]
        for component in failed[:5]:
            log(f"  {component['name']}: {component['status']}: {component.get('message', '')[:300]}")
    return result


# ---------------------------------------------------------------------------------------------
# what kfctl sends, as files kubectl and the raw loop send


@dataclass
class PlanDump:
    objects: list[dict[str, Any]]
    render_seconds: float  # kustomize, in parallel, as kfctl runs it
    plan_seconds: float  # parse + plan (labels, relaxations, digests)
    components: int
    waves: list[list[str]]
    relaxed: int
    depends_on: dict[str, list[str]]  # component -> the components it depends on


def dump_plan(config: Path, manifests: Path, catalog_dir: Path | None = None) -> PlanDump:
    """kfctl's own plan of CONFIG: the objects exactly as kfctl applies them (ApplySet labels,
    the simulated profile's webhook relaxation), in plan order."""
    previous = os.environ.get("KFCTL_CATALOG_DIR")
    if catalog_dir is not None:
        os.environ["KFCTL_CATALOG_DIR"] = str(catalog_dir)
    else:
        os.environ.pop("KFCTL_CATALOG_DIR", None)
    try:
        sys.path.insert(0, str(KFCTL_ROOT))
        from kfctl.deploy.plan import make_plan
        from kfctl.deploy.record import applyset_id
        from kfctl.render.service import RenderOptions, build

        result = build(RenderOptions(config, manifests, str(KUSTOMIZE) if KUSTOMIZE.exists() else None))
        started = time.perf_counter()
        plan = make_plan(result, applyset_id(result.app.config.name))
        manifests_out = [o.manifest for o in plan.objects]
        plan_seconds = time.perf_counter() - started
        return PlanDump(
            manifests_out,
            result.seconds,
            plan_seconds,
            len(plan.components),
            plan.waves,
            len(plan.relaxed_objects),
            {c.name: list(c.depends_on) for c in plan.components},
        )
    finally:
        if previous is None:
            os.environ.pop("KFCTL_CATALOG_DIR", None)
        else:
            os.environ["KFCTL_CATALOG_DIR"] = previous


def write_yaml(path: Path, objects: list[dict[str, Any]]) -> None:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with path.open("w") as handle:
        yaml.dump_all(objects, handle, Dumper=dumper, sort_keys=False, default_flow_style=False, width=1 << 20)


# ---------------------------------------------------------------------------------------------
# (a) the kubectl methods


README_LOOP = """\
set -u
t0=$(date +%s.%N)
attempt=1
while ! kubectl apply --server-side --force-conflicts -f {all} >>{log} 2>&1; do
  echo "@@ attempt $attempt failed $(date +%s.%N)"
  attempt=$((attempt + 1))
  sleep {sleep}
done
echo "@@ applied $attempt $(date +%s.%N)"
kubectl wait --for=condition=Available deployment --all -A --timeout={timeout}s >>{log} 2>&1 || exit 4
echo "@@ available $(date +%s.%N) $t0"
"""

HAND_ORDERED = """\
set -u
t0=$(date +%s.%N)
kubectl apply --server-side --force-conflicts -f {defs} >>{log} 2>&1 || exit 1
echo "@@ definitions $(date +%s.%N)"
kubectl wait --for=condition=Established crd --all --timeout={timeout}s >>{log} 2>&1 || exit 4
echo "@@ established $(date +%s.%N)"
attempt=1
while ! kubectl apply --server-side --force-conflicts -f {rest} >>{log} 2>&1; do
  echo "@@ attempt $attempt failed $(date +%s.%N)"
  attempt=$((attempt + 1))
  sleep {sleep}
done
echo "@@ applied $attempt $(date +%s.%N)"
kubectl wait --for=condition=Available deployment --all -A --timeout={timeout}s >>{log} 2>&1 || exit 4
echo "@@ available $(date +%s.%N) $t0"
"""


@dataclass
class ScriptRun:
    label: str
    run: Run
    marks: list[tuple[str, float]]  # (step, seconds since the script started)
    attempts: int
    first_error: str
    applied_lines: int  # "serverside-applied" lines kubectl printed, over all attempts

    @property
    def ok(self) -> bool:
        return self.run.returncode == 0


def kubectl_script(label: str, template: str, workdir: Path, timeout: int, **files: Any) -> ScriptRun:
    log_path = workdir / f"{label}.log"
    log_path.unlink(missing_ok=True)
    script = workdir / f"{label}.sh"
    quoted = {k: shlex.quote(str(v)) for k, v in files.items()}
    script.write_text(template.format(log=shlex.quote(str(log_path)), timeout=timeout, **quoted))
    log(f"{label}: kubectl")
    run = run_in_cluster(["bash", str(script)])
    marks: list[tuple[str, float]] = []
    t0 = None
    lines = [line.split() for line in run.stdout.splitlines() if line.startswith("@@ ")]
    for parts in lines:
        if parts[1] == "available":
            t0 = float(parts[3])
    if t0 is None:  # failed before the end: take the first mark as a rough origin
        t0 = float(lines[0][-1]) - 1 if lines else 0.0
    attempts = 1
    for parts in lines:
        if parts[1] == "attempt":
            marks.append((f"apply attempt {parts[2]} failed", float(parts[4]) - t0))
        elif parts[1] == "applied":
            attempts = int(parts[2])
            marks.append(("applied", float(parts[3]) - t0))
        else:
            marks.append((parts[1], float(parts[2]) - t0))
    text = log_path.read_text() if log_path.exists() else ""
    errors = [line for line in text.splitlines() if line.lower().startswith(("error", "resource mapping not found"))]
    applied_lines = sum(1 for line in text.splitlines() if line.endswith(" serverside-applied"))
    result = ScriptRun(label, run, marks, attempts, errors[0][:240] if errors else "", applied_lines)
    log(f"{label}: exit {run.returncode} in {run.seconds:.1f}s, {attempts} apply attempt(s)")
    if not result.ok:
        log(f"{label}: failed:\n" + "\n".join("    " + line for line in text.splitlines()[-15:]))
    return result


# ---------------------------------------------------------------------------------------------
# (b) the synthetic platform and the raw server-side-apply loop


@dataclass
class Synthetic:
    objects: int
    components: list[str]
    catalog_dir: Path
    manifests_dir: Path
    config: Path


def synthetic_platform(root: Path, total: int, components: int) -> Synthetic:
    """A platform catalog of COMPONENTS components (a binary dependency tree rooted at synth-base,
    which holds the namespaces) with TOTAL objects: ConfigMaps, ServiceAccounts, Roles, RoleBindings,
    Services and Deployments (1 replica), each component in two of four namespaces."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    names = ["synth-base"] + [f"synth-{i:02d}" for i in range(1, components)]
    parent = {i: (i - 1) // 2 for i in range(1, components)}
    source = root / "manifests" / "synthetic-manifests"
    catalog_dir = root / "catalog"
    catalog_dir.mkdir(parents=True, exist_ok=True)
    catalog_components: dict[str, Any] = {}
    share, extra = divmod(total, components)
    for index, name in enumerate(names):
        count = share + (1 if index < extra else 0)
        spaces = (SYNTHETIC_NAMESPACES[index % 4], SYNTHETIC_NAMESPACES[(index + 1) % 4])
        objects: list[dict[str, Any]] = []
        if index == 0:
            objects += [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in SYNTHETIC_NAMESPACES
            ]
        objects += _component_objects(name, count - len(objects), spaces)
        directory = source / "components" / name
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "resources.yaml").open("w") as handle:
            yaml.dump_all(objects, handle, Dumper=dumper, sort_keys=False)
        (directory / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "labels:\n- pairs: {app.kubernetes.io/part-of: synthetic}\nresources: [resources.yaml]\n"
        )
        entry: dict[str, Any] = {
            "description": f"synthetic component {name} ({count} objects)",
            "paths": [f"components/{name}"],
            "namespaces": list(SYNTHETIC_NAMESPACES if index == 0 else spaces),
        }
        if index:
            entry["dependsOn"] = [names[parent[index]]]
        catalog_components[name] = entry
    catalog = {
        "apiVersion": "kfctl.dev/v1alpha1",
        "kind": "Platform",
        "metadata": {"name": SYNTHETIC_PLATFORM},
        "spec": {
            "release": "v0.0.0",
            "description": f"synthetic platform: {total} objects in {components} components",
            "kubernetes": {"min": "1.29", "testedMax": "1.36"},
            "sources": {"synthetic": {"dirName": "synthetic-manifests"}},
            "defaultComponents": names,
            "components": catalog_components,
        },
    }
    (catalog_dir / "synthetic.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    config = root / "app" / "kfctl.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: synthetic}\n"
        f"spec:\n  profile: simulated\n  platform: {SYNTHETIC_PLATFORM}\n"
    )
    return Synthetic(total, names, catalog_dir, root / "manifests", config)


def _component_objects(component: str, count: int, spaces: tuple[str, str]) -> list[dict[str, Any]]:
    deployments = max(2, round(count * 0.02))
    rest = count - 2 * deployments
    accounts = roles = bindings = rest // 6
    configmaps = rest - accounts - roles - bindings
    filler = "".join(f"  key{k:02d}: value-{k:02d}-{component}\n" for k in range(16))

    def ns(j: int) -> str:
        return spaces[j % 2]

    def meta(name: str, j: int) -> dict[str, Any]:
        return {"name": name, "namespace": ns(j), "labels": {"synthetic/component": component}}

    objects: list[dict[str, Any]] = []
    for j in range(accounts):
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(f"{component}-sa-{j:04d}", j)})
    for j in range(roles):
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta(f"{component}-role-{j:04d}", j),
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
            }
        )
    for j in range(bindings):
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta(f"{component}-rb-{j:04d}", j),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": f"{component}-role-{j:04d}",
                },
                "subjects": [{"kind": "ServiceAccount", "name": f"{component}-sa-{j:04d}", "namespace": ns(j)}],
            }
        )
    for j in range(configmaps):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta(f"{component}-cm-{j:04d}", j),
                "data": {"config.yaml": f"component: {component}\nindex: {j}\nsettings:\n{filler}"},
            }
        )
    for j in range(deployments):
        app = f"{component}-app-{j:03d}"
        labels = {"app": app}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta(app, j),
                "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            }
        )
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta(app, j),
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": f"registry.example/synthetic/{component}:1.0",
                                    "ports": [{"containerPort": 8080}],
                                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                                }
                            ]
                        },
                    },
                },
            }
        )
    return objects


def raw_apply(objects_file: Path, concurrency: int, wait_deployments: bool, timeout: float) -> dict[str, Any]:
    """The raw limit: every object PATCHed (server-side apply) by a thread pool, in file order with
    no staging, over one pooled client with the admin certificate. Failures (an object whose
    namespace is not there yet) are sent again after the pass. Runs inside the namespace."""
    import httpx

    objects: list[dict[str, Any]] = json.loads(objects_file.read_text())
    kubeconfig = json.loads(Path(os.environ["KUBECONFIG"]).read_text())  # local-cluster writes JSON
    cluster = kubeconfig["clusters"][0]["cluster"]
    user = kubeconfig["users"][0]["user"]
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    context.load_cert_chain(user["client-certificate"], user["client-key"])
    client = httpx.Client(
        base_url=cluster["server"],
        verify=context,
        timeout=httpx.Timeout(60.0, connect=5.0),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
    )
    resources: dict[tuple[str, str], tuple[str, bool]] = {}
    for group_version in sorted({o["apiVersion"] for o in objects}):
        listing = client.get("/api/v1" if group_version == "v1" else f"/apis/{group_version}").json()
        for item in listing["resources"]:
            if "/" not in item["name"]:
                resources[(group_version, item["kind"])] = (item["name"], item["namespaced"])

    def path(obj: dict[str, Any]) -> str:
        plural, namespaced = resources[(obj["apiVersion"], obj["kind"])]
        base = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
        metadata = obj["metadata"]
        if namespaced:
            base += f"/namespaces/{metadata.get('namespace') or 'default'}"
        return f"{base}/{plural}/{metadata['name']}"

    def one(obj: dict[str, Any]) -> tuple[int, str]:
        response = client.patch(
            path(obj),
            params={"fieldManager": "bench-raw", "force": "true"},
            content=json.dumps(obj).encode(),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return response.status_code, response.text[:200] if response.status_code >= 400 else ""

    started = time.perf_counter()
    pending, passes, resent, requests, last_error = objects, 0, 0, 0, ""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while pending and passes < 20:
            passes += 1
            outcomes = list(pool.map(one, pending))
            requests += len(pending)
            failed = [(o, outcome) for o, outcome in zip(pending, outcomes, strict=True) if outcome[0] >= 400]
            if failed:
                last_error = failed[0][1][1]
                resent += len(failed)
                time.sleep(0.1)
            pending = [o for o, _ in failed]
    applied = time.perf_counter() - started
    result: dict[str, Any] = {
        "objects": len(objects),
        "applySeconds": applied,
        "passes": passes,
        "resent": resent,
        "requests": requests,
        "failed": len(pending),
        "lastError": last_error,
    }
    if wait_deployments:
        wanted = {
            (o["metadata"].get("namespace") or "default", o["metadata"]["name"])
            for o in objects
            if o["kind"] == "Deployment"
        }
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = client.get("/apis/apps/v1/deployments").json()["items"]
            available = {
                (d["metadata"]["namespace"], d["metadata"]["name"])
                for d in items
                if any(
                    c.get("type") == "Available" and c.get("status") == "True"
                    for c in (d.get("status") or {}).get("conditions") or []
                )
            }
            if wanted <= available:
                break
            time.sleep(0.2)
        result["availableSeconds"] = time.perf_counter() - started
        result["deploymentsAvailable"] = wanted <= available
    client.close()
    return result


@dataclass
class RawRun:
    run: Run
    result: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.run.returncode == 0 and self.result.get("failed") == 0

    @property
    def apply_seconds(self) -> float:
        return float(self.result.get("applySeconds", float("nan")))


def raw_in_cluster(objects: list[dict[str, Any]], workdir: Path, concurrency: int, label: str) -> RawRun:
    objects_file = workdir / f"{label}.json"
    objects_file.write_text(json.dumps(objects))
    log(f"{label}: raw parallel server-side apply, concurrency {concurrency}")
    run = run_in_cluster(
        [sys.executable, str(Path(__file__).resolve()), "_raw", str(objects_file), "--concurrency", str(concurrency),
         "--wait-deployments"]
    )  # fmt: skip
    result = json_document(run.stdout)
    raw = RawRun(run, result)
    log(
        f"{label}: {result.get('objects', '?')} objects in {raw.apply_seconds:.1f}s "
        f"({result.get('resent', '?')} re-sent), Deployments Available at {result.get('availableSeconds', 0):.1f}s"
    )
    if not raw.ok:
        log(f"{label}: raw apply failed: {result.get('lastError', '')}\n{run.tail()}")
    return raw


# ---------------------------------------------------------------------------------------------
# where the time goes


def record_available(run: KfctlRun) -> None:
    """When the cluster says each component's Deployments became Available, to tell the cluster's
    time from kfctl's time to notice. Read right after the run, before anything else changes."""
    from datetime import datetime

    listed = run_in_cluster(["kubectl", "get", "deployments", "-A", "-l", "kfctl.dev/component", "-o", "json"])
    if listed.returncode != 0:
        return
    engine_start = run.run.ended - run.executor  # the engine ends just before the process exits
    for item in json.loads(listed.stdout).get("items", []):
        component = (item["metadata"].get("labels") or {}).get("kfctl.dev/component", "")
        for condition in (item.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Available" and condition.get("status") == "True":
                at = datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00")).timestamp()
                run.available[component] = max(run.available.get(component, -1e9), at - engine_start)


def timeline(run: KfctlRun, depends_on: dict[str, list[str]] | None = None) -> list[str]:
    """Per wave: span, the component on the critical path and its apply / wait / other time, the
    idle gap before the wave; before and after the waves: start-up, render, plan, records."""
    components = run.report.get("components") or []
    if not components:
        return [f"  (no report for {run.label})"]
    pre = run.wall - run.executor  # start-up, config, render, parse, plan, connect (and exit)
    lines = [
        f"  {run.label}: wall {run.wall:.2f}s = {pre:.2f}s before the apply engine (python start-up, render, "
        f"parse, plan, connect{'' if run.preflight is None else f', preflight {run.preflight:.2f}s'}) "
        f"+ {run.executor:.2f}s apply engine"
    ]
    waves: dict[int, list[dict[str, Any]]] = {}
    for component in components:
        waves.setdefault(int(component["wave"]), []).append(component)
    previous_end = 0.0
    first_start = min(float(c["startedAt"]) for c in components)
    lines.append(f"    engine set-up (discovery, inventory read, pending record): {first_start:.2f}s")
    lines.append(
        "    wave  start    end   span  comps  objs  apply max/sum    wait max/sum   idle-before  critical path"
    )
    if run.available:
        lines.append("          (per wave: when the cluster marked its last Deployment Available, from the conditions)")
    for wave in sorted(waves):
        items = waves[wave]
        start = min(float(c["startedAt"]) for c in items)
        end = max(float(c["finishedAt"]) for c in items)
        critical = max(items, key=lambda c: float(c["finishedAt"]))
        span_c = float(critical["finishedAt"]) - float(critical["startedAt"])
        other = span_c - float(critical["applySeconds"]) - float(critical["waitSeconds"])
        objects = sum(c.get("applied", 0) + c.get("unchanged", 0) for c in items)
        lines.append(
            f"    {wave:>4} {start:6.2f} {end:6.2f} {end - start:6.2f} {len(items):>6} {objects:>5} "
            f"{max(float(c['applySeconds']) for c in items):6.2f}/{sum(float(c['applySeconds']) for c in items):6.2f}  "
            f"{max(float(c['waitSeconds']) for c in items):6.2f}/{sum(float(c['waitSeconds']) for c in items):6.2f}  "
            f"{max(0.0, start - previous_end):10.2f}   {critical['name']}: "
            f"apply {float(critical['applySeconds']):.2f}s, wait {float(critical['waitSeconds']):.2f}s, "
            f"other {other:.2f}s"
        )
        ready = [run.available[c["name"]] for c in items if c["name"] in run.available]
        if ready:
            at = max(ready)  # the condition's time is truncated to the second: the truth is in [at, at + 1)
            lines.append(
                f"          last Deployment Available at {at:.1f}..{at + 1:.1f}s; the wave ended "
                f"{max(0.0, end - at - 1):.1f}..{max(0.0, end - at):.1f}s later"
            )
        previous_end = end
    after = max(0.0, run.executor - previous_end)
    lines.append(f"    after the last wave (prune, final record): {after:.2f}s")
    if depends_on:
        lines += _dependency_schedule(components, depends_on, first_start, after, run.executor)
    return lines


def _dependency_schedule(
    components: list[dict[str, Any]], depends_on: dict[str, list[str]], set_up: float, after: float, actual: float
) -> list[str]:
    """What the engine would take if each component started as soon as its own dependencies were
    done, rather than when the whole previous wave was: the same per-component times replayed."""
    duration = {c["name"]: float(c["finishedAt"]) - float(c["startedAt"]) for c in components}
    started = {c["name"]: float(c["startedAt"]) for c in components}
    start: dict[str, float] = {}
    finish: dict[str, float] = {}
    for component in sorted(components, key=lambda c: (int(c["wave"]), c["name"])):
        name = component["name"]
        start[name] = max((finish[d] for d in depends_on.get(name, []) if d in finish), default=set_up)
        finish[name] = start[name] + duration[name]
    estimate = max(finish.values(), default=set_up) + after
    earlier = sorted(((started[n] - start[n], n) for n in start), reverse=True)[:4]
    moved = ", ".join(f"{n} {started[n]:.1f}s -> {start[n]:.1f}s" for gain, n in earlier if gain > 0.05)
    return [
        f"    wave barriers: if each component started when its own dependencies were done (same per-component "
        f"times replayed, contention ignored), the engine would take ~{estimate:.2f}s instead of {actual:.2f}s"
        + (f"; starts that would move: {moved}" if moved else "")
    ]


def phases(run: KfctlRun, config: Path, manifests: Path, extra_env: dict[str, str] | None = None) -> list[str]:
    """A no-op run has no waves: split its time into start-up, render, plan and the engine, from one
    more no-op apply run in-process, phase by phase (`_phases`), in the same cluster."""
    lines = [
        f"  {run.label}: wall {run.wall:.2f}s = {run.wall - run.executor:.2f}s before the apply engine + "
        f"{run.executor:.2f}s apply engine; {run.report.get('requests', '?')} requests, "
        f"{run.report.get('writes', '?')} writes"
    ]
    command = [sys.executable, str(Path(__file__).resolve()), "_phases", str(config), str(manifests)]
    if run.preflight is None:  # the measured run did not run preflight checks: neither does the breakdown
        command.append("--skip-preflight")
    measured = run_in_cluster(command, env=cluster_env(extra_env), cwd=config.parent)
    steps = json_document(measured.stdout)
    if measured.returncode != 0 or not steps:
        return [*lines, f"  (phase breakdown failed:\n{measured.tail()})"]
    startup = measured.seconds - sum(float(v) for v in steps["seconds"].values())
    lines.append(
        f"  the same no-op, phase by phase in one process (status {steps['status']}, {steps['writes']} writes), "
        f"wall {measured.seconds:.2f}s:"
    )
    lines.append(f"    {'python start-up (interpreter, local-cluster exec)':<58} {startup:6.2f}s")
    for name, seconds in steps["seconds"].items():
        lines.append(f"    {name:<58} {float(seconds):6.2f}s")
    return lines


def phases_main() -> None:
    """`_phases CONFIG MANIFESTS`: what `kfctl apply` does, timed step by step (inside the namespace)."""
    config, manifests = Path(sys.argv[2]), Path(sys.argv[3])
    seconds: dict[str, float] = {}
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds[name] = now - mark
        mark = now

    from kfctl.deploy.apply import ApplyOptions, Executor
    from kfctl.deploy.events import quiet
    from kfctl.deploy.plan import make_plan
    from kfctl.deploy.record import applyset_id
    from kfctl.deploy.service import connect
    from kfctl.kube.client import ClusterTarget
    from kfctl.render.service import RenderOptions, build

    step("imports (kfctl, httpx, yaml)")
    result = build(RenderOptions(config, manifests, str(KUSTOMIZE) if KUSTOMIZE.exists() else None))
    step("config, catalog, sources + render")
    seconds["config, catalog, sources"] = seconds.pop("config, catalog, sources + render") - result.seconds
    seconds[f"render (kustomize, {len(result.rendered)} components in parallel)"] = result.seconds
    plan = make_plan(result, applyset_id(result.app.config.name))
    step(f"parse + plan ({len(plan.objects)} objects: YAML parse, labels, digests)")
    with connect(ClusterTarget()) as api:
        step("connect (kubernetes client import, kubeconfig, TLS, /version)")
        if "--skip-preflight" not in sys.argv:
            try:  # kfctl apply runs its preflight checks first (unless --skip-preflight)
                from kfctl.preflight import PreflightOptions, run_preflight

                run_preflight(api, plan, result.app.profile, result.app.platform, PreflightOptions())
                step("preflight (cluster checks)")
            except ImportError:
                pass  # a kfctl without preflight
            except Exception as error:  # an interface that changed: say so, keep the other figures
                step(f"preflight (not measured: {type(error).__name__})")
        report = Executor(api, plan, ApplyOptions(wait=True), quiet()).run()
        step("apply engine (discovery, inventory, labelled lists, compare)")
    print(json.dumps({"status": str(report.status), "writes": report.writes, "seconds": seconds}))


# ---------------------------------------------------------------------------------------------
# the benchmark


@dataclass
class Check:
    name: str
    value: float
    target: float
    unit: str = "x"

    @property
    def ok(self) -> bool:
        return self.value <= self.target  # False for NaN: a failed run misses its target

    def line(self) -> str:
        value = f"{self.value:.2f}{self.unit}" if self.unit == "x" else f"{self.value:.0f} {self.unit}"
        target = f"{self.target:.2f}{self.unit}" if self.unit == "x" else f"{self.target:.0f} {self.unit}"
        return f"  {self.name:<58} {value:>10}  (target <= {target})  {'ok' if self.ok else 'MISSED'}"


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    figures: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    synthetic_wait: KfctlRun | None = None

    def fresh(self) -> None:
        fresh_cluster(self.args.settle)

    @property
    def kfctl_args(self) -> tuple[str, ...]:
        return ("--skip-preflight",) if self.args.skip_preflight else ()

    def figure(self, text: str) -> None:
        self.figures.append(text)
        log(text.strip())

    def check(self, check: Check, explain: Callable[[], list[str]] | None = None) -> None:
        self.checks.append(check)
        if explain is not None and (not check.ok or self.args.timeline):
            verdict = "ok" if check.ok else "MISSED"
            self.explanations += [
                f"{check.name}: {verdict} ({check.value:.2f}, target {check.target:.2f})",
                *explain(),
                "",
            ]

    # -- (r) the releases side by side ----------------------------------------------------------

    def part_r(self) -> None:
        mirror = self.args.manifests_dir / "mirror" / "github.com"
        rows = []
        for platform in self.args.releases.split(","):
            config = self.workdir / platform / "kfctl.yaml"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(
                KUBEFLOW_CONFIG.replace("kubeflow-1.10", platform)
                + f"  mirrors: {{'https://github.com/': '{mirror}/'}}\n"
            )
            self.fresh()
            run = kfctl_apply(
                f"(r) {platform}", config, self.args.manifests_dir, wait=True,
                concurrency=self.args.concurrency, extra_args=self.kfctl_args, cold=True,
            )  # fmt: skip
            rows.append((platform, run))
        base = rows[0][1].wall if rows else 0.0
        for platform, run in rows:
            self.figure(
                f"(r) {platform}: {run.report.get('status', 'failed')} in {run.wall:.1f}s "
                f"({ratio(run.wall, base):.2f}x {rows[0][0]}), {run.objects} objects, "
                f"{run.report.get('requests', '?')} requests, CPU {run.run.cpu:.1f}s{run.note}"
            )

    # -- (a) and its no-op ----------------------------------------------------------------------

    def part_a(self, platform: str, *, methods: bool, noop: bool) -> None:
        manifests = self.args.manifests_dir
        release = platform.removeprefix("kubeflow-")
        config = self.workdir / platform / "kfctl.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        mirror = manifests / "mirror" / "github.com"
        config.write_text(
            KUBEFLOW_CONFIG.replace("kubeflow-1.10", platform) + f"  mirrors: {{'https://github.com/': '{mirror}/'}}\n"
        )
        dump = dump_plan(config, manifests)
        all_yaml, defs_yaml, rest_yaml = (config.parent / n for n in ("ALL.yaml", "DEFS.yaml", "REST.yaml"))
        write_yaml(all_yaml, dump.objects)
        write_yaml(defs_yaml, [o for o in dump.objects if o.get("kind") in DEFINITION_KINDS])
        write_yaml(rest_yaml, [o for o in dump.objects if o.get("kind") not in DEFINITION_KINDS])
        deployments = sum(1 for o in dump.objects if o.get("kind") == "Deployment")
        self.figure(
            f"(a) Kubeflow {release}, profile simulated: {len(dump.objects)} objects ({deployments} Deployments) in "
            f"{dump.components} components, {len(dump.waves)} waves; {dump.relaxed} webhook configurations relaxed; "
            f"render {dump.render_seconds:.2f}s + parse/plan {dump.plan_seconds:.2f}s (in-process)"
        )
        self.fresh()
        first = kfctl_apply(
            f"(a) {release} kfctl apply",
            config,
            manifests,
            wait=True,
            concurrency=self.args.concurrency,
            extra_args=self.kfctl_args,
            cold=True,
        )
        record_available(first)
        own_cpu = first.report.get("cpuSeconds") or {}
        self.figure(
            f"(a) {release} 1. kfctl apply (waits itself): {first.wall:.2f}s "
            f"(apply engine {first.executor:.2f}s, CPU {first.run.cpu:.2f}s: kfctl {own_cpu.get('kfctl', '?')}s "
            f"+ kustomize {own_cpu.get('children', '?')}s, "
            f"{first.report.get('requests', '?')} requests, {first.objects} objects){first.note}"
        )
        if platform == "kubeflow-1.10":
            self.check(Check("(a) 1.10 CPU of kfctl and its kustomize runs", first.run.cpu, 8, "s"))
            self.check(Check("(a) 1.10 CPU of the kfctl process alone", float(own_cpu.get("kfctl", "nan")), 8, "s"))
        if noop:
            again = kfctl_apply(
                f"(c) {release} kfctl apply no-op (a)",
                config,
                manifests,
                wait=True,
                concurrency=self.args.concurrency,
                extra_args=self.kfctl_args,
            )
            self.figure(
                f"(c) {release} no-op re-apply of (a): {again.wall:.2f}s (apply engine {again.executor:.2f}s, "
                f"status {again.report.get('status')}, {again.report.get('writes', '?')} writes){again.note}"
            )
            if again.report.get("status") != "unchanged" or again.report.get("writes"):
                self.figure("    note: the re-apply was not a no-op (status or writes above)")
            self.check(
                Check(f"(c) {release} no-op re-apply / first apply (wall)", ratio(again.wall, first.wall), 0.08),
                lambda: phases(again, config, manifests),
            )
            self.figure(
                f"    no-op apply engine only / first apply engine: {ratio(again.executor, first.executor):.3f}x"
            )
        if not methods:
            return
        timeout = int(self.args.wait_timeout)
        self.fresh()
        readme = kubectl_script(
            f"readme-loop-{release}", README_LOOP, self.workdir, timeout, all=all_yaml, sleep=self.args.readme_sleep
        )
        self.fresh()
        hand = kubectl_script(
            f"hand-ordered-{release}", HAND_ORDERED, self.workdir, timeout, defs=defs_yaml, rest=rest_yaml,
            sleep=self.args.hand_sleep,
        )  # fmt: skip
        for script, what in (
            (readme, f"2. README loop (sleep {self.args.readme_sleep:g}s)"),
            (hand, f"3. hand-ordered kubectl (retry sleep {self.args.hand_sleep:g}s)"),
        ):
            steps = ", ".join(f"{name} @{at:.1f}s" for name, at in script.marks)
            self.figure(
                f"(a) {release} {what}: {script.run.seconds:.2f}s, {script.attempts} apply attempt(s), "
                f"{script.applied_lines} objects applied"
                + ("" if script.ok else f" (FAILED, exit {script.run.returncode})")
                + f" [load {script.run.load:.1f}]"
            )
            self.figure(f"      steps: {steps}")
            if script.first_error:
                self.figure(f"      first error: {script.first_error}")
        self.check(
            Check(
                f"(a) {release} kfctl / README loop (wall, kfctl incl. render)",
                ratio(first.wall, readme.run.seconds),
                0.6,
            )
        )
        self.figure(
            f"(a) {release} ratio kfctl / hand-ordered, kfctl without render+plan "
            f"({dump.render_seconds + dump.plan_seconds:.1f}s, which kubectl was spared): "
            f"{ratio((first.wall - dump.render_seconds - dump.plan_seconds), hand.run.seconds):.2f}x"
        )
        self.check(
            Check(
                f"(a) {release} kfctl / hand-ordered kubectl (wall, kfctl incl. render)",
                ratio(first.wall, hand.run.seconds),
                0.6,
            ),
            lambda: [
                *timeline(first, dump.depends_on),
                "  hand-ordered kubectl steps: " + ", ".join(f"{n} @{t:.1f}s" for n, t in hand.marks),
            ],
        )

    # -- (b), its no-op, and (d) ----------------------------------------------------------------

    def synthetic(self, total: int) -> tuple[Synthetic, PlanDump]:
        root = self.workdir / f"synthetic-{total}"
        platform = synthetic_platform(root, total, self.args.components)
        env_before = os.environ.get("KFCTL_CATALOG_DIR")
        dump = dump_plan(platform.config, platform.manifests_dir, platform.catalog_dir)
        assert env_before == os.environ.get("KFCTL_CATALOG_DIR")
        deployments = sum(1 for o in dump.objects if o.get("kind") == "Deployment")
        self.figure(
            f"synthetic platform: {len(dump.objects)} objects ({deployments} Deployments) in {dump.components} "
            f"components, {len(dump.waves)} waves {[len(w) for w in dump.waves]}; render {dump.render_seconds:.2f}s "
            f"+ parse/plan {dump.plan_seconds:.2f}s (in-process)"
        )
        return platform, dump

    def synthetic_apply(self, platform: Synthetic, label: str, *, wait: bool) -> KfctlRun:
        return kfctl_apply(
            label,
            platform.config,
            platform.manifests_dir,
            wait=wait,
            concurrency=self.args.concurrency,
            extra_env={"KFCTL_CATALOG_DIR": str(platform.catalog_dir)},
            extra_args=self.kfctl_args,
        )

    def part_b(self, *, full: bool, noop: bool) -> None:
        platform, dump = self.synthetic(self.args.objects)
        if full:
            self.fresh()
            raw = raw_in_cluster(dump.objects, self.workdir, self.args.concurrency, "raw-ssa")
            self.fresh()
            nowait = self.synthetic_apply(platform, "(b) kfctl apply --no-wait", wait=False)
            self.figure(
                f"(b) raw parallel SSA loop ({self.args.concurrency} threads, no ordering): "
                f"{raw.apply_seconds:.2f}s apply ({raw.result.get('resent', '?')} objects re-sent in "
                f"{raw.result.get('passes', '?')} passes), all Deployments Available at "
                f"{raw.result.get('availableSeconds', float('nan')):.2f}s; process wall {raw.run.seconds:.2f}s, "
                f"CPU {raw.run.cpu:.2f}s" + ("" if raw.ok else " FAILED") + f" [load {raw.run.load:.1f}]"
            )
            self.figure(
                f"(b) kfctl apply --no-wait: apply phase {nowait.executor:.2f}s, wall {nowait.wall:.2f}s, "
                f"CPU {nowait.run.cpu:.2f}s (with render and parse), "
                f"{nowait.report.get('requests', '?')} requests, {nowait.objects} objects" + nowait.note
            )
            self.check(
                Check(
                    "(b) kfctl apply phase (--no-wait) / raw SSA loop", ratio(nowait.executor, raw.apply_seconds), 1.5
                ),
                lambda: timeline(nowait, dump.depends_on),
            )
            self.figure(
                f"(b) ratio kfctl --no-wait wall / raw process wall: {ratio(nowait.wall, raw.run.seconds):.2f}x"
            )
        self.fresh()
        waited = self.synthetic_apply(platform, "(b) kfctl apply", wait=True)
        record_available(waited)
        self.synthetic_wait = waited
        self.figure(
            f"(b) kfctl apply (with wait): {waited.wall:.2f}s (apply engine {waited.executor:.2f}s){waited.note}"
        )
        if full:
            available = raw.result.get("availableSeconds", float("nan"))
            self.figure(
                "(b) ratio kfctl with wait (apply engine) / raw apply + Deployments Available: "
                f"{ratio(waited.executor, available):.2f}x"
            )
        if noop:
            again = self.synthetic_apply(platform, "(c) kfctl apply no-op (b)", wait=True)
            self.figure(
                f"(c) no-op re-apply of (b): {again.wall:.2f}s (apply engine {again.executor:.2f}s, "
                f"status {again.report.get('status')}, {again.report.get('writes', '?')} writes){again.note}"
            )
            self.check(
                Check("(c) no-op re-apply / first apply, synthetic (wall)", ratio(again.wall, waited.wall), 0.08),
                lambda: phases(
                    again, platform.config, platform.manifests_dir, {"KFCTL_CATALOG_DIR": str(platform.catalog_dir)}
                ),
            )
            self.figure(
                f"    no-op apply engine only / first apply engine: {ratio(again.executor, waited.executor):.3f}x"
            )

    def part_d(self) -> None:
        if self.synthetic_wait is None:
            self.part_b(full=False, noop=False)
        assert self.synthetic_wait is not None
        small = self.synthetic_wait
        platform, dump = self.synthetic(self.args.big)
        self.fresh()
        big = self.synthetic_apply(platform, f"(d) kfctl apply {self.args.big}", wait=True)
        record_available(big)
        self.figure(
            f"(d) kfctl apply, {big.objects} objects: {big.wall:.2f}s (apply engine {big.executor:.2f}s), "
            f"peak RSS of the kfctl process {big.run.hwm_mb:.0f} MB (wait4, with its kustomize children: "
            f"{big.run.maxrss_mb:.0f} MB){big.note}"
        )
        self.figure(
            f"(d) {self.args.big} vs {self.args.objects} objects: wall {ratio(big.wall, small.wall):.2f}x, "
            f"apply engine {ratio(big.executor, small.executor):.2f}x"
        )
        self.check(
            Check(f"(d) time {self.args.big} / {self.args.objects} objects (wall)", ratio(big.wall, small.wall), 5),
            lambda: [*timeline(big, dump.depends_on), *timeline(small, dump.depends_on)],
        )
        self.check(
            Check(
                f"(d) peak RSS of kfctl at {self.args.big} objects", max(big.run.hwm_mb, big.run.maxrss_mb), 300, "MB"
            ),
            lambda: [f"  kfctl process VmHWM {big.run.hwm_mb:.0f} MB, wait4 maxrss {big.run.maxrss_mb:.0f} MB"],
        )


def other_clusters() -> set[str]:
    """Other simulated clusters sharing the machine's CPUs (their load shows in the figures)."""
    try:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        return set()
    return {n for n in names if n.endswith("-sim") and n != f"{CLUSTER_NAME}-sim"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="a,b,c,d", help="which parts to run (default a,b,c,d)")
    parser.add_argument("--readme-sleep", type=float, default=20.0, help="sleep of the README retry loop (s)")
    parser.add_argument("--hand-sleep", type=float, default=5.0, help="retry sleep of the hand-ordered script (s)")
    parser.add_argument("--objects", type=int, default=2000, help="objects of the synthetic platform (b)")
    parser.add_argument("--big", type=int, default=10000, help="objects of the scaled-up synthetic platform (d)")
    parser.add_argument("--components", type=int, default=12, help="components of the synthetic platform")
    parser.add_argument("--concurrency", type=int, default=16, help="kfctl's and the raw loop's concurrency")
    parser.add_argument("--manifests-dir", type=Path, default=REPO.parent / "shared" / "upstream")
    parser.add_argument("--wait-timeout", type=float, default=900, help="kubectl wait --timeout (s)")
    parser.add_argument("--settle", type=float, default=3.0, help="pause after starting a fresh cluster (s)")
    parser.add_argument("--skip-preflight", action="store_true", help="pass --skip-preflight to kfctl apply")
    parser.add_argument("--timeline", action="store_true", help="print where the time goes for every target")
    parser.add_argument("--a-releases", default="kubeflow-1.10,kubeflow-26.03", help="platforms of parts (a) and (c)")
    parser.add_argument(
        "--releases", default="kubeflow-1.10,kubeflow-1.11,kubeflow-26.03", help="platforms of part (r)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the bench cluster (and the work dir) in place")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts <= {"a", "b", "c", "d", "r"}:
        parser.error(f"--parts: unknown {sorted(parts - {'a', 'b', 'c', 'd', 'r'})}; choose from a,b,c,d,r")
    if args.components < 10:
        parser.error("--components: at least 10")
    if os.geteuid() != 0:
        raise SystemExit("bench: the simulated cluster needs root (network namespaces); run as root")
    args.manifests_dir = args.manifests_dir.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="kfctl-bench-apply-"))
    global KFCTL_ROOT
    measured = tree_state()
    KFCTL_ROOT = snapshot_tree(workdir)
    bench = Bench(args, workdir)
    others = other_clusters()
    started = time.perf_counter()
    log(f"work dir {workdir}; cluster {CLUSTER_NAME} ({CLUSTER_ENV['KFCTL_CLUSTER_DIR']})")
    try:
        if "a" in parts or "c" in parts:
            for platform in args.a_releases.split(","):
                bench.part_a(platform, methods="a" in parts, noop="c" in parts)
        if parts & {"b", "c"}:
            bench.part_b(full="b" in parts, noop="c" in parts)
        if "d" in parts:
            bench.part_d()
        if "r" in parts:
            bench.part_r()
    finally:
        if args.keep:
            log(f"--keep: cluster {CLUSTER_NAME} left up (KFCTL_CLUSTER_NAME={CLUSTER_NAME} "
                f"KFCTL_CLUSTER_DIR={CLUSTER_ENV['KFCTL_CLUSTER_DIR']}); work dir {workdir}")  # fmt: skip
        else:
            result = local_cluster("down")
            log(f"cluster {CLUSTER_NAME} down" if result.returncode == 0 else f"down failed: {result.stderr[-500:]}")
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print("=" * 100)
    print(
        f"kfctl apply benchmark: parts {','.join(sorted(parts))}; {os.cpu_count()} CPUs; concurrency "
        f"{args.concurrency}; README sleep {args.readme_sleep:g}s; total {time.perf_counter() - started:.0f}s"
    )
    print(
        f"kfctl measured: {measured} (a snapshot taken at the start)"
        + ("; --skip-preflight" if args.skip_preflight else "")
    )
    others |= other_clusters()
    if others:
        print(
            f"note: other simulated clusters ran on this machine during the benchmark ({', '.join(sorted(others))}); "
            "they share the CPUs: see each figure's [load]"
        )
    print("-" * 100)
    for line in bench.figures:
        print(line)
    print("-" * 100)
    for check in bench.checks:
        print(check.line())
    if bench.explanations:
        print("-" * 100)
        print("where the time goes" + (":" if args.timeline else " (targets missed):"))
        for line in bench.explanations:
            print(line)
    print("=" * 100)


def raw_main() -> None:
    parser = argparse.ArgumentParser(prog="apply.py _raw")
    parser.add_argument("objects_file", type=Path)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--wait-deployments", action="store_true")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(sys.argv[2:])
    print(json.dumps(raw_apply(args.objects_file, args.concurrency, args.wait_deployments, args.timeout)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["_raw"]:  # the raw loop, re-run inside the cluster's namespace
        raw_main()
    elif sys.argv[1:2] == ["_phases"]:  # a no-op apply, timed phase by phase, inside the namespace
        phases_main()
    else:
        main()
