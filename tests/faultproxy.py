"""A fault-injecting HTTPS reverse proxy on loopback, in front of the real API server.

The real server cannot be asked to answer 429, to drop a connection or to be slow on cue; this
proxy does it for tests, so kfctl and kubectl meet those faults through their real transports
instead of through mocks of a client:

    with FaultProxy(state_dir) as proxy:
        proxy.add_rule(status(429, retry_after=1), every=3)
        proxy.add_rule(reset(), when=path_matches(r"/configmaps"), times=1)
        kubeconfig = proxy.kubeconfig(tmp_path / "proxy.kubeconfig")
        ...  # run kubectl / kfctl with that kubeconfig
        assert proxy.stats().faults["status"] >= 1

The proxy terminates TLS with the cluster's own API server certificate (its SANs include
127.0.0.1), so a client trusts it through the cluster CA exactly as it trusts the server. Every
request is forwarded over a new TLS connection verified with that CA and authenticated with the
client certificate given to the proxy (the admin one by default): the server sees one user, the
proxy's. Responses are streamed through chunk by chunk, so watches work; request bodies are read
whole before the rules run (a status or reset fault then leaves nothing half-sent upstream).

HTTP/1.1 only: the proxy offers no h2 in ALPN, so Go clients fall back to HTTP/1.1. Connection
upgrades (exec, port-forward) are not supported. It binds 127.0.0.1 only and refuses an upstream
outside 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import random
import re
import socket
import socketserver
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import yaml

log = logging.getLogger(__name__)

# Request headers never forwarded: hop-by-hop ones (RFC 9110 7.6.1), Host (the upstream
# connection sets its own), the framing we redo ourselves, and Expect (the body is already read).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect"}
MUTATING_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY = 64 * 1024 * 1024
CHUNK = 64 * 1024
STATUS_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    502: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


# ---------------------------------------------------------------------------------------------
# predicates: (method, path) -> bool; the path has no query string

Predicate = Callable[[str, str], bool]


def any_request(method: str, path: str) -> bool:
    return True


def mutating(method: str, path: str) -> bool:
    """POST, PUT, PATCH and DELETE: the verbs that change what the server holds."""
    return method in MUTATING_VERBS


def methods(*verbs: str) -> Predicate:
    wanted = frozenset(v.upper() for v in verbs)
    return lambda method, path: method in wanted


def path_matches(pattern: str) -> Predicate:
    """Requests whose path (no query) contains a match of the regular expression."""
    compiled = re.compile(pattern)
    return lambda method, path: compiled.search(path) is not None


def all_of(*predicates: Predicate) -> Predicate:
    return lambda method, path: all(p(method, path) for p in predicates)


# ---------------------------------------------------------------------------------------------
# actions


def status_body(code: int, message: str) -> dict[str, Any]:
    """A Kubernetes Status object (what the API server answers errors with)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": STATUS_REASONS.get(code, "Unknown"),
        "code": code,
    }


@dataclass(frozen=True)
class Status:
    """Answer with this status (and a Kubernetes Status body) instead of forwarding."""

    code: int
    retry_after: int | None = None
    body: dict[str, Any] | None = None
    kind: str = field(default="status", init=False)

    def render(self) -> tuple[bytes, list[tuple[str, str]]]:
        body = self.body
        if body is None:
            reason = STATUS_REASONS.get(self.code, "Unknown")
            body = status_body(self.code, f"faultproxy: injected {self.code} {reason}")
            if self.retry_after is not None:
                body["details"] = {"retryAfterSeconds": self.retry_after}
        data = json.dumps(body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if self.retry_after is not None:
            headers.append(("Retry-After", str(self.retry_after)))
        return data, headers


@dataclass(frozen=True)
class Reset:
    """Close the client connection abruptly, without a response (TCP RST)."""

    kind: str = field(default="reset", init=False)


@dataclass(frozen=True)
class Delay:
    """Sleep, then forward as usual."""

    seconds: float
    kind: str = field(default="delay", init=False)


Action = Status | Reset | Delay


def status(code: int, retry_after: int | None = None, body: dict[str, Any] | None = None) -> Status:
    """Answer `code` without forwarding. `retry_after` (whole seconds, as HTTP has it) adds a
    Retry-After header, which client-go honours by retrying 429 and 5xx answers; `body` replaces
    the default Kubernetes Status object."""
    if not 100 <= code <= 599:
        raise ValueError(f"not an HTTP status: {code}")
    if retry_after is not None and retry_after < 0:
        raise ValueError("Retry-After is not negative")
    return Status(code, retry_after, body)


def reset() -> Reset:
    return Reset()


def delay(seconds: float) -> Delay:
    if seconds < 0:
        raise ValueError("a delay is not negative")
    return Delay(seconds)


# ---------------------------------------------------------------------------------------------
# rules and counters


@dataclass
class Rule:
    """An action on the requests `when` matches: on every `every`-th match, with `probability`,
    at most `times` times (each condition optional; all given ones must hold).

    `matched` and `fired` count as the proxy runs (read them for assertions).
    """

    action: Action
    when: Predicate = any_request
    probability: float | None = None
    every: int | None = None
    times: int | None = None
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ValueError("probability is between 0 and 1")
        if self.every is not None and self.every < 1:
            raise ValueError("every is at least 1")
        if self.times is not None and self.times < 0:
            raise ValueError("times is not negative")

    def _consider(self, method: str, path: str, rng: random.Random) -> bool:
        """Called under the proxy's lock: whether this rule fires for the request."""
        if not self.when(method, path):
            return False
        self.matched += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.every is not None and self.matched % self.every != 0:
            return False
        if self.probability is not None and rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class ProxyStats:
    """A snapshot of the proxy's counters.

    requests: every request read from a client; forwarded: sent upstream (delayed ones too);
    faults: injected faults by kind ("status", "reset", "delay"); statuses: injected status faults
    by code; upstream: the upstream's answers by code; errors: requests the upstream never answered.
    """

    requests: int
    forwarded: int
    faults: Counter[str]
    statuses: Counter[int]
    upstream: Counter[int]
    errors: int

    @property
    def faults_total(self) -> int:
        return sum(self.faults.values())


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    ca: Path


def upstream_from_kubeconfig(path: Path) -> Upstream:
    """The current context's server in a kubeconfig; only an address in 127.0.0.0/8 is accepted."""
    config = yaml.safe_load(path.read_text())
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    context = contexts.get(config.get("current-context"), {})
    cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), None)
    if not cluster:
        raise ValueError(f"{path}: no cluster")
    url = urlsplit(cluster["server"])
    host = url.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{path}: upstream {cluster['server']} is not an IP address in 127.0.0.0/8") from None
    if address not in ipaddress.ip_network("127.0.0.0/8"):
        raise ValueError(f"{path}: upstream {cluster['server']} is not on loopback (127.0.0.0/8); refused")
    if url.scheme != "https":
        raise ValueError(f"{path}: upstream {cluster['server']} is not https")
    ca = cluster.get("certificate-authority")
    if not ca:
        raise ValueError(f"{path}: the cluster has no certificate-authority file")
    return Upstream(host, url.port or 443, (path.parent / ca).resolve())


# ---------------------------------------------------------------------------------------------
# the proxy


class FaultProxy:
    """HTTPS reverse proxy on 127.0.0.1:`port` (0: a free one) in front of the cluster in `state_dir`.

    `client_cert`/`client_key` authenticate the proxy upstream (default: the cluster's admin).
    `seed` makes probabilistic rules reproducible.
    """

    def __init__(
        self,
        state_dir: Path | str,
        *,
        port: int = 0,
        client_cert: Path | str | None = None,
        client_key: Path | str | None = None,
        seed: int | None = 0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        pki = self.state_dir / "pki"
        self.upstream = upstream_from_kubeconfig(self.state_dir / "admin.kubeconfig")
        self.ca = self.upstream.ca
        self.client_cert = Path(client_cert) if client_cert else pki / "admin.crt"
        self.client_key = Path(client_key) if client_key else pki / "admin.key"
        self.server_cert = pki / "apiserver.crt"
        self.server_key = pki / "apiserver.key"
        self.connect_timeout = connect_timeout
        self._requested_port = port
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: list[Rule] = []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset_stats()

        self._server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_tls.load_cert_chain(self.server_cert, self.server_key)
        self._server_tls.set_alpn_protocols(["http/1.1"])
        self._upstream_tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        self._upstream_tls.load_cert_chain(self.client_cert, self.client_key)
        self._upstream_tls.set_alpn_protocols(["http/1.1"])

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="faultproxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every client and upstream connection, wait for the handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            # The plain socket's shutdown (not SSLSocket's, which drops its TLS state under the
            # thread using it) wakes a handler blocked on this socket; the handler closes it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        if self._thread:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path | str) -> Path:
        """Write a kubeconfig for the proxy (cluster CA, the proxy's client certificate) to `path`."""
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "faultproxy", "cluster": {"server": self.url, "certificate-authority": str(self.ca)}}
            ],
            "users": [
                {
                    "name": "faultproxy",
                    "user": {"client-certificate": str(self.client_cert), "client-key": str(self.client_key)},
                }
            ],
            "contexts": [{"name": "faultproxy", "context": {"cluster": "faultproxy", "user": "faultproxy"}}],
            "current-context": "faultproxy",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)
        return path

    # rules ---------------------------------------------------------------------------------

    def add_rule(
        self,
        action: Action,
        *,
        when: Predicate = any_request,
        probability: float | None = None,
        every: int | None = None,
        times: int | None = None,
    ) -> Rule:
        """Add a rule after the existing ones. Rules are tried in order; the first that fires acts."""
        rule = Rule(action, when, probability, every, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove_rule(self, rule: Rule) -> None:
        with self._lock:
            self._rules.remove(rule)

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    # counters ------------------------------------------------------------------------------

    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(
                requests=self._requests,
                forwarded=self._forwarded,
                faults=Counter(self._faults),
                statuses=Counter(self._statuses),
                upstream=Counter(self._upstream_codes),
                errors=self._errors,
            )

    def reset_stats(self) -> None:
        with self._lock:
            self._requests = 0
            self._forwarded = 0
            self._errors = 0
            self._faults: Counter[str] = Counter()
            self._statuses: Counter[int] = Counter()
            self._upstream_codes: Counter[int] = Counter()

    # used by the handlers ------------------------------------------------------------------

    def _decide(self, method: str, path: str) -> Action | None:
        with self._lock:
            self._requests += 1
            for rule in self._rules:
                if rule._consider(method, path, self._rng):
                    self._faults[rule.action.kind] += 1
                    if isinstance(rule.action, Status):
                        self._statuses[rule.action.code] += 1
                    return rule.action
        return None

    def _count(self, *, forwarded: bool = False, upstream_code: int | None = None, error: bool = False) -> None:
        with self._lock:
            self._forwarded += forwarded
            self._errors += error
            if upstream_code is not None:
                self._upstream_codes[upstream_code] += 1

    def _track(self, sock: socket.socket) -> bool:
        """Register a connection to close on stop; False once the proxy is stopping."""
        with self._lock:
            if self._stopping.is_set():
                return False
            self._connections.add(sock)
            return True

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)

    def _open_upstream(self) -> http.client.HTTPSConnection:
        connection = http.client.HTTPSConnection(
            self.upstream.host, self.upstream.port, context=self._upstream_tls, timeout=self.connect_timeout
        )
        connection.connect()
        assert connection.sock is not None
        # No read timeout: a watch may be quiet for minutes; stop() shuts the socket down.
        connection.sock.settimeout(None)
        return connection


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handlers
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: FaultProxy) -> None:
        if address[0] != "127.0.0.1":
            raise ValueError("the fault proxy binds 127.0.0.1 only")
        self.proxy = proxy
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN: a resolver call we neither need nor want.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the handler thread: the TLS handshake, then the HTTP conversation."""
        proxy = self.proxy
        if not proxy._track(request):
            return
        request.settimeout(30)
        try:
            tls = proxy._server_tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as error:
            log.debug("TLS handshake from %s failed: %s", client_address, error)
            return
        finally:
            proxy._untrack(request)
        try:
            if proxy._track(tls):
                tls.settimeout(None)
                _Handler(tls, client_address, self)
        except OSError as error:
            log.debug("connection from %s ended: %s", client_address, error)
        finally:
            proxy._untrack(tls)
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def handle_one_request(self) -> None:
        """Like the base class, for any method: every verb goes the same way."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.proxy_request()
            self.wfile.flush()
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError) as error:
            log.debug("client connection lost: %s", error)
            self.close_connection = True

    # the request -------------------------------------------------------------------------

    def read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                chunk = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if chunk == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                size += chunk
                if size > MAX_BODY:
                    return None
                parts.append(self.rfile.read(chunk))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def proxy_request(self) -> None:
        proxy = self.server.proxy
        body = self.read_body()
        if body is None:
            self.close_connection = True
            self.respond(Status(413).render(), 413)
            return
        path = urlsplit(self.path).path
        action = proxy._decide(self.command, path)
        if isinstance(action, Status):
            self.respond(action.render(), action.code)
            return
        if isinstance(action, Reset):
            self.reset_connection()
            return
        if isinstance(action, Delay) and proxy._stopping.wait(action.seconds):
            self.close_connection = True
            return
        self.forward(body)

    def respond(self, rendered: tuple[bytes, list[tuple[str, str]]], code: int) -> None:
        data, headers = rendered
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def bad_gateway(self, message: str) -> None:
        log.debug("502: %s", message)
        self.respond(Status(502, body=status_body(502, f"faultproxy: {message}")).render(), 502)

    def reset_connection(self) -> None:
        """RST: SO_LINGER 0, then close (the buffered reader first, or the close is deferred)."""
        self.close_connection = True
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        sock.close()

    # forwarding --------------------------------------------------------------------------

    def forward(self, body: bytes) -> None:
        proxy = self.server.proxy
        connection_tokens = {
            token.strip().lower() for token in self.headers.get("Connection", "").split(",") if token.strip()
        }
        try:
            upstream = proxy._open_upstream()
        except OSError as error:
            proxy._count(error=True)
            self.bad_gateway(f"upstream unreachable: {error}")
            return
        tracked = upstream.sock
        assert tracked is not None
        if not proxy._track(tracked):
            upstream.close()
            self.close_connection = True
            return
        try:
            upstream.putrequest(self.command, self.path, skip_accept_encoding=True)
            for name, value in self.headers.items():
                lower = name.lower()
                if lower not in NOT_FORWARDED and lower not in connection_tokens:
                    upstream.putheader(name, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            proxy._count(forwarded=True)
            response = upstream.getresponse()
        except (OSError, http.client.HTTPException) as error:
            proxy._untrack(tracked)
            upstream.close()
            proxy._count(error=True)
            self.close_connection = True
            if not proxy._stopping.is_set():
                self.bad_gateway(f"upstream failed: {error}")
            return
        try:
            proxy._count(upstream_code=response.status)
            self.relay(response)
        finally:
            proxy._untrack(tracked)
            upstream.close()

    def relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        drop = HOP_BY_HOP | {
            token.strip().lower() for token in (response.getheader("Connection") or "").split(",") if token.strip()
        }
        for name, value in response.getheaders():
            if name.lower() not in drop:
                self.send_header(name, value)
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        chunked = not no_body and response.getheader("Content-Length") is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            return
        try:
            while True:
                data = response.read1(CHUNK)
                if not data:
                    break
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
        except (OSError, http.client.HTTPException) as error:
            # The upstream or the client went away mid-body: the client must not take a
            # truncated body for a whole one, so the connection ends without the last chunk.
            log.debug("stream ended early: %s", error)
            self.close_connection = True
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


__all__ = [
    "Action",
    "Delay",
    "FaultProxy",
    "Predicate",
    "ProxyStats",
    "Reset",
    "Rule",
    "Status",
    "all_of",
    "any_request",
    "delay",
    "methods",
    "mutating",
    "path_matches",
    "reset",
    "status",
    "status_body",
]
