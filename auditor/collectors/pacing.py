"""Request pacing: stay under Okta's per-bucket rate limits and AWS's request-rate quotas.

Two mechanisms, because the two services tell us different things:

- **Okta** sends `X-Rate-Limit-Limit`, `-Remaining` and `-Reset` with every response, per
  endpoint bucket (https://developer.okta.com/docs/reference/rl-best-practices/). `OktaPacer`
  keeps, per bucket, the lowest `Remaining` seen in the current window and the requests still in
  flight, and lets a request go only while it would leave at least `(1 - share) x Limit` of the
  window for other integrations of the same org. When the share is used up it waits for
  `-Reset`. Before the first answer of a bucket it sends one request at a time (a probe), since
  the limit is not known yet. A 429 is still possible (another integration may use more than its
  share); `OktaAPI.send`'s bounded retry stays the safety net.
- **AWS** sends no such headers. Cognito user pool quotas are per account and Region, per
  category of operations (https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html);
  the scanner also keeps to a per-pool rate so one contact center's pool is never hammered.
  `RateLimiter` is a thread-safe token bucket; `KeyedLimiters` holds one per key. botocore's
  `adaptive` retry mode adds client-side rate limiting when AWS throttles anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

# Okta's buckets, from its management rate limits page
# (https://developer.okta.com/docs/reference/rl-global-mgmt/): "/api/v1/apps endpoint and all
# other endpoints of the form /api/v1/apps/* including /api/v1/apps/{id}/*" are ONE bucket (an
# app's users, groups, metadata and keys count against the app list's limit, Okta's tightest:
# 100 a minute); only the explicit item /api/v1/apps/{id} has its own. Groups likewise ("except
# /api/v1/groups/{id}"); users have a collection and an item bucket; /api/v1/logs its own; "most
# other API actions" share /api/v1. Pacing by a finer key would let each sub-resource spend the
# share on its own, several times over in one real bucket.
_ITEM = re.compile(r"^/api/v1/(apps|groups|users)/[^/]+$")
_FAMILY = re.compile(r"^/api/v1/(apps|groups)(?:/|$)")
# After a reset time passes, wait this much longer: the header has one-second resolution.
RESET_MARGIN_S = 0.25
# Never sleep longer than this for one window (Okta's windows are one minute).
MAX_WINDOW_WAIT_S = 65.0


def okta_bucket(url: str) -> str:
    """The Okta rate-limit bucket a request URL counts in (see above), e.g. `/api/v1/apps` for
    `/api/v1/apps/{id}/users` and `/api/v1/apps/{id}` for the app itself."""
    path = re.sub(r"^https?://[^/]+", "", url).split("?", 1)[0]
    item = _ITEM.match(path)
    if item:
        return f"/api/v1/{item.group(1)}/{{id}}"
    family = _FAMILY.match(path)
    if family:
        return f"/api/v1/{family.group(1)}"
    if path in ("/api/v1/users", "/api/v1/logs") or not path.startswith("/api/v1/"):
        return path
    return "/api/v1"


@dataclass
class _Window:
    limit: int | None = None  # unknown until the bucket's first answer
    remaining: int = 0  # the lowest X-Rate-Limit-Remaining seen in this window
    reset: float = 0.0  # epoch seconds (server clock) when the window ends
    skew: float = 0.0  # server clock minus local clock, from the Date header
    inflight: int = 0
    announced: float = -1.0  # the reset time a wait was last announced for (once per window)


class OktaPacer:
    """Keeps each Okta bucket under `share` of its limit. One per event loop (not thread-safe)."""

    def __init__(self, share: float, *, clock: Callable[[], float] = time.time) -> None:
        if not 0 < share <= 1:
            raise ValueError("rate_limit_share must be in (0, 1]")
        self.share = share
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._changed: asyncio.Condition | None = None
        self.waits = 0  # how often a request had to wait for a window to reset (for the benchmark)
        # Called once per bucket and window when the share is spent: (bucket, seconds to wait).
        # A large org's scan may wait minutes for Okta's windows; a bar that stalls says nothing.
        self.on_wait: Callable[[str, float], None] | None = None

    def _reserve(self, window: _Window) -> int:
        """Requests of the window left to others: (1 - share) x limit, at least 1 when share < 1."""
        assert window.limit is not None
        keep = window.limit - int(window.limit * self.share)
        return max(keep, 1 if self.share < 1 else 0)

    @contextlib.asynccontextmanager
    async def slot(self, url: str) -> Any:
        """Wait until a request to `url` may go; yields a callback taking the response headers."""
        key = okta_bucket(url)
        window = self._windows.setdefault(key, _Window())
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            while True:
                now = self._clock()
                if window.limit is not None and window.reset and now + window.skew >= window.reset + RESET_MARGIN_S:
                    # The window is over: start afresh, as if the bucket were unknown but sized.
                    window.remaining, window.reset = window.limit, 0.0
                if window.limit is None:
                    if window.inflight == 0:  # one probe teaches us the limit
                        break
                    await self._changed.wait()
                    continue
                if window.remaining - window.inflight - 1 >= self._reserve(window):
                    break
                if window.inflight > 0:  # an answer will update remaining/reset soon
                    await self._changed.wait()
                    continue
                # Our share of this window is spent: sleep until it resets.
                self.waits += 1
                delay = (window.reset + RESET_MARGIN_S - (now + window.skew)) if window.reset else 1.0
                if self.on_wait is not None and window.announced != window.reset:
                    window.announced = window.reset
                    self.on_wait(key, max(delay, 0.0))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=min(max(delay, 0.05), MAX_WINDOW_WAIT_S))
            window.inflight += 1
        seen: list[Any] = []
        try:
            yield seen.append
        finally:
            async with self._changed:
                window.inflight -= 1
                if seen and seen[-1] is not None:
                    self._update(window, seen[-1])
                self._changed.notify_all()

    def _update(self, window: _Window, headers: Any) -> None:
        """Fold one response's X-Rate-Limit-* headers into the bucket's window."""
        try:
            limit = int(headers.get("X-Rate-Limit-Limit"))
            remaining = int(headers.get("X-Rate-Limit-Remaining"))
            reset = float(headers.get("X-Rate-Limit-Reset"))
        except (TypeError, ValueError):
            return  # no headers (a proxy's answer): keep what we knew
        date = headers.get("Date")
        if date:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                window.skew = parsedate_to_datetime(date).timestamp() - self._clock()
        if reset > window.reset:  # a newer window: its numbers replace the old ones
            window.limit, window.remaining, window.reset = limit, remaining, reset
        elif reset == window.reset:  # answers arrive out of order: the lowest count is the latest
            window.limit, window.remaining = limit, min(window.remaining, remaining)


class RateLimiter:
    """A thread-safe token bucket: `rate` requests per second, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self.burst
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take one token, sleeping (outside the lock) until one is available."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1 - 1e-9:  # the tolerance: float sums of waits x rate fall just short
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


class KeyedLimiters:
    """One RateLimiter per key (a user pool, an account and Region), created on first use."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate, self.burst = rate, burst
        self._limiters: dict[Any, RateLimiter] = {}
        self._lock = threading.Lock()

    def acquire(self, *keys: Any) -> None:
        """Wait for a token of every key's limiter."""
        for key in keys:
            with self._lock:
                limiter = self._limiters.get(key)
                if limiter is None:
                    limiter = self._limiters[key] = RateLimiter(self.rate, self.burst)
            limiter.acquire()


class OnceCache:
    """A thread-safe cache computing each key once, even when several threads ask at the same
    time (the others wait for the first); a raised exception is cached and re-raised too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Any, tuple[threading.Event, list[Any]]] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The value for `key`, computed by `compute` the first time."""
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = self._entries[key] = (threading.Event(), [])
        done, box = entry
        if owner:
            try:
                box.append((True, compute()))
            except BaseException as exc:
                box.append((False, exc))
            finally:
                done.set()
        else:
            done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def __len__(self) -> int:
        return len(self._entries)
