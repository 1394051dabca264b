"""Protection of the HTTP server: per-token rate limits, a request-size cap, the usage log.

- `RateLimiter`: a token bucket per key (a token id, or the client address for requests
  without a valid token): ``rate_per_s`` sustained, ``burst`` at once; a refused request gets
  HTTP 429 with ``Retry-After``.
- `BodyLimitMiddleware`: refuses bodies above ``max_bytes`` (declared by ``Content-Length`` or
  counted while streaming) with HTTP 413, before any endpoint parses them.
- `UsageLogger`: writes one ``svc_token_uses`` row per API call. Reads are batched by a
  background thread (at most ``flush_s`` seconds late); calls that change something are
  written before their response starts, so every acknowledged change is attributable to a
  token even if the server is killed right after. The log connection uses
  ``synchronous=NORMAL`` (WAL): a process kill loses nothing committed; a power cut may lose
  the last read entries.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .users import TokenUse, UserStore, now_text

__all__ = ["BodyLimitMiddleware", "RateLimiter", "UsageLogger"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimiter:
    """Token buckets per key; ``rate_per_s <= 0`` disables limiting."""

    def __init__(self, rate_per_s: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = float(rate_per_s)
        self.burst = max(1.0, float(burst))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` from ``key``'s bucket; 0.0 when allowed, else seconds to wait."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level >= cost:
                self._buckets[key] = (level - cost, now)
                return 0.0
            self._buckets[key] = (level, now)
            if len(self._buckets) > self._max_keys:  # forget the fullest (idle) buckets
                for k in [k for k, (lv, _) in self._buckets.items() if lv >= self.burst][:1000]:
                    del self._buckets[k]
            return (cost - level) / self.rate


def _json_error(status: int, message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps({"error": message}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    return start, {"type": "http.response.body", "body": body}


class _TooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """Pure ASGI middleware: HTTP 413 for request bodies above ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    start, body = _json_error(
                        413 if declared > limit else 400,
                        f"request body of {declared} bytes exceeds the limit of {limit} bytes"
                        if declared > limit else "invalid Content-Length header")
                    await send(start)
                    await send(body)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLargeError
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLargeError:
            if not started:
                start, body = _json_error(413, f"request body exceeds the limit of {limit} "
                                               "bytes")
                await send(start)
                await send(body)


class UsageLogger:
    """Appends API calls to the usage log (see the module docstring)."""

    def __init__(self, db_path: str, flush_s: float = 0.25) -> None:
        self._store = UserStore(db_path, synchronous="NORMAL")
        self._queue: queue.Queue[TokenUse | None] = queue.Queue()
        self._flush_s = flush_s
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="skyfence-usage-log",
                                        daemon=True)
        self._closed = False
        self._thread.start()

    def record(self, token_id: str | None, user: str | None, client: str, method: str,
               target: str, status: int | None, *, wait: bool = False) -> None:
        """Log one call; ``wait`` writes it (and anything queued) before returning."""
        use = TokenUse(now_text(), token_id, user, client, method, target, status)
        if wait:
            self._write(self._drain([use]))
        else:
            self._queue.put(use)

    def _drain(self, batch: list[TokenUse]) -> list[TokenUse]:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch
            if item is not None:
                batch.append(item)

    def _write(self, batch: list[TokenUse]) -> None:
        if not batch:
            return
        with self._write_lock:
            self._store.log_uses(batch)

    def _loop(self) -> None:
        while not self._closed:
            try:
                first = self._queue.get(timeout=self._flush_s)
            except queue.Empty:
                continue
            if first is None:
                break
            time.sleep(self._flush_s)  # gather a batch
            try:
                self._write(self._drain([first]))
            except Exception:  # the log must never take the server down; retry next round
                time.sleep(self._flush_s)

    def flush(self) -> None:
        """Write everything queued now."""
        self._write(self._drain([]))

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=5)
        self.flush()
        self._store.close()
