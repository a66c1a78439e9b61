"""Run the checks: first what they all need (server version, identity, discovery), then every
check at once on one Api; a check that raises is UNKNOWN, never PASS."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kfctl.config.profiles import ClusterProfile
from kfctl.errors import KfctlError
from kfctl.kube.api import Api, ApiError, api_error
from kfctl.kube.errors import Forbidden
from kfctl.platform.catalog import Platform
from kfctl.preflight import certmanager, cni, dns, gpu, leftovers, nodes, permissions, storage, tenancy, version
from kfctl.preflight.context import READ_RETRY_SECONDS, Check, CheckContext, Outcome, PlanLike, skipped, unknown
from kfctl.preflight.report import CheckResult, PreflightOptions, PreflightReport, Status

# Report order: the cluster itself, its add-ons, what the tenants need of it, the user, then what
# earlier installs left.
CHECKS: tuple[Check, ...] = (
    *version.CHECKS,
    *nodes.CHECKS,
    *cni.CHECKS,
    *dns.CHECKS,
    *storage.CHECKS,
    *certmanager.CHECKS,
    *gpu.CHECKS,
    *tenancy.CHECKS,
    *permissions.CHECKS,
    *leftovers.CHECKS,
)
CHECK_IDS: tuple[str, ...] = tuple(c.id for c in CHECKS)


def run_preflight(
    api: Api, plan: PlanLike, profile: ClusterProfile, platform: Platform, options: PreflightOptions
) -> PreflightReport:
    """Check the cluster for `plan` (a kfctl.deploy.plan.Plan) before anything is applied.

    Reads only, except the opt-in deep checks (--deep) and dry-run requests (nothing is stored).
    InputError (exit code 2) for unknown check IDs in the options, before any request.
    """
    options.validate(CHECK_IDS)
    started = time.monotonic()
    requests_before = api.request_count
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="kfctl-preflight") as pool:
        server = pool.submit(server_version, api)
        identity = pool.submit(who_am_i, api)
        discovery = pool.submit(_discover, api)
        context = CheckContext(
            api, plan, profile, platform, options, identity=identity.result(), server_version=server.result()
        )
        discovery.result()
    with ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="kfctl-preflight") as pool:
        results = list(pool.map(lambda check: run_check(context, check), CHECKS))
    return PreflightReport(
        app=plan.app,
        platform=platform.name,
        profile=profile.name,
        context={"name": options.context, "server": api.client.host},
        identity=context.identity,
        server_version=context.server_version,
        checks=results,
        options=options,
        seconds=time.monotonic() - started,
        requests=api.request_count - requests_before,
    )


def run_check(context: CheckContext, check: Check) -> CheckResult:
    options = context.options
    started = time.monotonic()
    if not options.selected(check.id):
        outcome = skipped("not selected (--only)" if options.only else "skipped (--skip)")
    elif check.deep and not (options.deep or check.id in options.only):
        outcome = skipped("opt-in: runs with --deep (it writes a test object and deletes it)")
    else:
        outcome = _guarded(context, check)
    result = CheckResult(
        check.id, outcome.status, outcome.message, outcome.remediation, outcome.details, time.monotonic() - started
    )
    if options.ignores(check.id) and result.status in (Status.FAIL, Status.WARN, Status.UNKNOWN):
        result.ignored = True
        if result.status is Status.FAIL:
            result.status = Status.WARN
            result.message = f"failure ignored (--ignore-preflight-errors): {result.message}"
    return result


def _guarded(context: CheckContext, check: Check) -> Outcome:
    try:
        return check.run(context)
    except ApiError as error:
        if isinstance(error, Forbidden):
            return unknown(
                f"could not run: {error.message}",
                f"run preflight as a user who may read this, or skip the check (--skip {check.id})",
            )
        return unknown(f"could not run: {error.one_line()}")
    except KfctlError as error:
        return unknown(f"could not run: {error.one_line()}")
    except Exception as error:  # a bug in a check must not pass it, nor stop the others
        text = " ".join(str(error).split())[:300]
        return unknown(f"internal error: {type(error).__name__}: {text}", "report it; the other checks are unaffected")


def server_version(api: Api) -> dict[str, Any]:
    try:
        info = api.server_version()
    except KfctlError as error:
        return {"error": error.one_line()}
    result = {key: info.get(key) for key in ("gitVersion", "major", "minor", "platform")}
    with contextlib.suppress(ValueError):
        parsed = version.parse_kube_version(info.get("gitVersion"), info.get("major"), info.get("minor"))
        result["version"] = str(parsed)
    return result


def who_am_i(api: Api) -> dict[str, Any]:
    """The user the API server sees (SelfSubjectReview: v1 since Kubernetes 1.28, v1beta1 before)."""
    for api_version in ("v1", "v1beta1"):
        path = f"/apis/authentication.k8s.io/{api_version}/selfsubjectreviews"
        body = {"apiVersion": f"authentication.k8s.io/{api_version}", "kind": "SelfSubjectReview"}
        try:
            response = api.request("POST", path, json=body, retry_seconds=READ_RETRY_SECONDS)
        except KfctlError as error:
            return {"error": error.one_line()}
        if response.status_code == 404:
            continue
        if response.status_code >= 400:
            return {"error": api_error(response, "SelfSubjectReview").one_line()}
        info = (response.json().get("status") or {}).get("userInfo") or {}
        return {"username": info.get("username"), "groups": info.get("groups") or []}
    return {"error": "the API server has no SelfSubjectReview (Kubernetes older than 1.27)"}


def _discover(api: Api) -> None:
    """Read discovery once, before the checks: concurrent first lookups would each read it."""
    with contextlib.suppress(KfctlError):  # each check that needs it retries it, and is UNKNOWN if it still fails
        api.refresh_discovery()
