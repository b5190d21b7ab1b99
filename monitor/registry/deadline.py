"""A whole-request deadline under httpx: its timeouts count each read on its own, so a server
that trickles one byte a second never times out. Every connect, read and write here is cut to
what is left of the request's deadline, and gives up within a second once the run is asked to
stop (the `schedule` daemon's SIGTERM).
"""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

STOP_POLL_SECONDS = 0.5  # how long a stop request waits for a blocked read


class RequestDeadline:
    """When the request under way must be over (monotonic seconds), and whether to stop now."""

    def __init__(self, *, should_stop: Callable[[], bool]):
        self.should_stop = should_stop
        self.ends_at = float("inf")

    def start(self, seconds: float) -> None:
        self.ends_at = time.monotonic() + seconds

    def remaining(self, step_timeout: float | None, *, poll: bool = False) -> float:
        """How long the next step may block: its own timeout cut to the deadline (and, to
        `poll` for a stop, to half a second); raises a timeout once the deadline passed or a
        stop was asked."""
        left = self.ends_at - time.monotonic()
        if self.should_stop():
            raise httpcore.ReadTimeout("the run was asked to stop")
        if left <= 0:
            raise httpcore.ReadTimeout("the whole answer took longer than the request's deadline")
        limits = [left, *([STOP_POLL_SECONDS] if poll else [])]
        return min(limits if step_timeout is None else [*limits, step_timeout])


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write keeps to the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: RequestDeadline):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        started = time.monotonic()
        while True:
            wait = self._deadline.remaining(timeout, poll=True)  # raises once over or stopped
            try:
                return self._stream.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise  # the read's own timeout; a shorter slice just looks again

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.remaining(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        upgraded = self._stream.start_tls(ssl_context, server_hostname, timeout)
        return DeadlineStream(upgraded, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, each wrapped in a `DeadlineStream`."""

    def __init__(self, deadline: RequestDeadline):
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host,
            port,
            self._deadline.remaining(timeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, self._deadline.remaining(timeout), socket_options
        )
        return DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def tls_context() -> ssl.SSLContext:
    """httpx's TLS context for the CA bundle the environment names (SSL_CERT_FILE,
    SSL_CERT_DIR), loaded once a process: a load takes 40-50 ms, and the daemon opens a client
    for every run."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # which reads the same two variables


def deadline_transport(deadline: RequestDeadline, *, base_url: str) -> DeadlineTransport:
    """A transport over a connection pool whose sockets keep to `deadline`, through the proxy
    the environment names for `base_url` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY: httpx
    itself reads them only when it builds its own transport)."""
    options: dict[str, Any] = {
        "ssl_context": tls_context(),
        "max_connections": 100,  # httpx's own limits
        "max_keepalive_connections": 20,
        "keepalive_expiry": 5.0,
        "retries": 0,
        "network_backend": DeadlineBackend(deadline),
    }
    proxy = environment_proxy(base_url)
    if proxy is None:
        return DeadlineTransport(httpcore.ConnectionPool(**options))
    return DeadlineTransport(
        httpcore.HTTPProxy(
            proxy_url=httpcore.URL(
                scheme=proxy.url.raw_scheme,
                host=proxy.url.raw_host,
                port=proxy.url.port,
                target=proxy.url.raw_path,
            ),
            proxy_auth=proxy.raw_auth,
            **options,
        )
    )


class DeadlineTransport(httpx.BaseTransport):
    """httpx's transport API over an httpcore pool of our making: httpx's own `HTTPTransport`
    takes no network backend, so the deadline's sockets come in here, through the public
    interfaces of both libraries (httpx may change its internals; this does not use them)."""

    def __init__(self, pool: httpcore.ConnectionPool | httpcore.HTTPProxy):
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        asked = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with httpx_errors():
            answer = self._pool.handle_request(asked)
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=AnswerStream(answer.stream),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class AnswerStream(httpx.SyncByteStream):
    """An answer's body as httpcore reads it, its errors as httpx's."""

    def __init__(self, stream: Iterable[bytes]):
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


# httpcore's errors and the httpx errors they are to the client, the most specific first
HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
HTTPCORE_ERRORS = tuple(found for found, _ in HTTPX_ERRORS)


@contextlib.contextmanager
def httpx_errors() -> Iterator[None]:
    """httpcore's errors raised as the httpx errors the client handles."""
    try:
        yield
    except HTTPCORE_ERRORS as exc:
        mapped = next(to for found, to in HTTPX_ERRORS if isinstance(exc, found))
        raise mapped(str(exc)) from exc


def environment_proxy(url: str) -> httpx.Proxy | None:
    """The HTTP proxy the environment names for `url`, unless NO_PROXY exempts its host."""
    target = urlsplit(url)
    if target.hostname is None or urllib.request.proxy_bypass(target.hostname):
        return None
    proxies = urllib.request.getproxies()
    address = proxies.get(target.scheme) or proxies.get("all")
    if not address or not address.startswith(("http://", "https://")):
        return None
    return httpx.Proxy(address)
