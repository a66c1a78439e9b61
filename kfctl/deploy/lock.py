"""One kfctl run at a time per app: a `coordination.k8s.io/v1` Lease in kfctl-system, taken before
the first write and renewed while the run lasts.

A second run fails at once, naming the holder (user, host, pid, command) and since when. A Lease not
renewed for its duration is stale and is taken over with a message, so a run that was killed blocks
nobody for longer than that; on the holder's own host a dead process is seen at once (its pid is
gone, or now belongs to a process that started later). `kfctl unlock` breaks a lock explicitly.

Expiry is judged on the API server's clock (its Date header), never by comparing two machines' clocks.
Unlike Helm's pending-release status, nothing here needs a flag to get past a run that died.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import threading
from typing import Any

from kfctl.deploy.events import Reporter
from kfctl.errors import LockedError, OperationError
from kfctl.kube.api import Api
from kfctl.kube.errors import AlreadyExists, ApiError, Conflict
from kfctl.kube.lease import (
    HOLDER_ANNOTATION,
    LEASE_SECONDS,
    Holder,
    LockState,
    holder_of,
    lease_body,
    lock_ref,
    micro_time,
    parse_time,
    process_start,
    read_lock,
)

__all__ = ["LEASE_SECONDS", "AppLock", "Holder", "break_lock"]


class AppLock:
    """The app's lock for one run: `acquire()` before the first write, `check()` before each, `release()`."""

    def __init__(
        self, api: Api, app: str, command: str, reporter: Reporter | None = None, *, duration: int = LEASE_SECONDS
    ) -> None:
        self.api = api
        self.app = app
        self.command = command
        self.reporter = reporter
        self.duration = duration
        self.ref = lock_ref(app)
        self.me = Holder(
            identity=f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}",
            user=_local_user(),
            kube_user=getattr(api.client, "user_name", ""),
            host=socket.gethostname(),
            pid=os.getpid(),
            pid_start=process_start(os.getpid()),
            command=command,
            duration=duration,
        )
        self.held = False
        self.lost = ""  # why the lock was lost while held; writes stop
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lease: dict[str, Any] | None = None
        self._mutex = threading.Lock()

    # -- reading ----------------------------------------------------------------------------------

    def read(self) -> tuple[dict[str, Any] | None, Holder | None, LockState, str]:
        return read_lock(self.api, self.ref, host=self.me.host)

    def ensure_free(self) -> None:
        """For a run that will not write: fail if another run holds the lock (what we read may be changing)."""
        _, holder, state, _ = self.read()
        if state is LockState.HELD and holder is not None:
            raise self._locked(holder)

    # -- holding ----------------------------------------------------------------------------------

    def acquire(self) -> None:
        for _ in range(5):
            lease, holder, state, why = self.read()
            if state is LockState.HELD and holder is not None:
                raise self._locked(holder)
            now = self.api.server_time()
            mine = lease_body(self.ref, self.app, self.me, now, now)
            try:
                if lease is None:
                    self._lease = self.api.create(mine)
                else:
                    mine["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
                    transitions = int((lease.get("spec") or {}).get("leaseTransitions") or 0)
                    mine["spec"]["leaseTransitions"] = transitions + (1 if holder is not None else 0)
                    self._lease = self.api.replace(mine)
            except (AlreadyExists, Conflict):
                continue  # another run got there between our read and write: read again
            if state is LockState.STALE and holder is not None and self.reporter:
                self.reporter.event(
                    "lock", message=f"stale lock taken over from {holder.describe(now)}: {why}", holder=holder.as_dict()
                )
            self.held = True
            self._renewer = threading.Thread(target=self._renew_loop, name="kfctl-lock", daemon=True)
            self._renewer.start()
            return
        raise OperationError(f"could not take the lock {self.ref}: it kept changing", hint="run the command again")

    def check(self) -> None:
        """Before a write: stop if the lock was lost (taken over after we failed to renew it)."""
        if self.lost:
            raise OperationError(f"the lock of app {self.app} was lost: {self.lost}; nothing more is written")

    def release(self, *, delete: bool = False) -> None:
        """Give the lock back (or delete the Lease, when the app itself is gone)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        if not self.held:
            return
        self.held = False
        try:
            if delete:
                self.api.delete(self.ref)
                return
            lease = self.api.get(self.ref)
            holder = holder_of(lease)
            if lease is None or holder is None or holder.identity != self.me.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["metadata"].setdefault("annotations", {}).pop(HOLDER_ANNOTATION, None)
            self.api.replace(lease)
        except (ApiError, OperationError):
            pass  # an unreleased lock goes stale by itself; the run's own result matters more

    def _renew_loop(self) -> None:
        interval = max(1.0, self.duration / 3)
        while not self._stop.wait(interval):
            try:
                self._renew()
            except Exception as error:  # any failure: try again; give up only once the lease ran out
                with self._mutex:
                    renewed = float(parse_time((self._lease or {}).get("spec", {}).get("renewTime")))
                if self.api.server_time() - renewed > self.duration and not self.lost:
                    self.lost = f"it could not be renewed for {self.duration}s ({error})"
                    return
            if self.lost:
                return

    def _renew(self) -> None:
        with self._mutex:
            lease = self.api.get(self.ref)
            holder = holder_of(lease)
            if lease is None or holder is None or holder.identity != self.me.identity:
                taken = holder.describe(self.api.server_time()) if holder else "nobody (it was broken)"
                self.lost = f"it is now held by {taken}"
                return
            lease["spec"]["renewTime"] = micro_time(self.api.server_time())
            self._lease = self.api.replace(lease)

    def _locked(self, holder: Holder) -> LockedError:
        now = self.api.server_time()
        error = LockedError(
            f"app {self.app} is locked by {holder.describe(now)}",
            hint=f"wait for it to finish; if it is gone, the lock goes stale after {holder.duration}s "
            f"without renewal, or `kfctl unlock --app {self.app}` breaks it now",
        )
        error.detail = {"lock": str(self.ref), "holder": holder.as_dict()}
        return error


def break_lock(api: Api, app: str) -> Holder | None:
    """`kfctl unlock`: clear the holder whoever it is; returns who held it (None: it was free)."""
    ref = lock_ref(app)
    for _ in range(5):
        lease = api.get(ref)
        holder = holder_of(lease)
        if lease is None or holder is None:
            return None
        lease["spec"]["holderIdentity"] = None
        lease["metadata"].setdefault("annotations", {}).pop(HOLDER_ANNOTATION, None)
        try:
            api.replace(lease)
        except Conflict:
            continue
        return holder
    raise OperationError(f"could not break the lock {ref}: it kept changing", hint="run the command again")


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
