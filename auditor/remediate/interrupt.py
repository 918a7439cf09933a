"""Stopping an apply on SIGINT/SIGTERM without leaving a write half-known.

The first signal stops the apply from starting another change and gives the call in flight a
short grace to finish; a second signal (or the grace running out) abandons it. An abandoned call
may already have reached Okta, so the object is re-read to learn what became of it (see
apply.py). AWS calls are synchronous in the event loop's thread: they always finish, and the
signal is seen right after.

Outside the event loop, `deferred_signals` holds both signals back while a run's report,
manifest and history entry are written, so that a run that changed something is always
recorded whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long the first signal lets a call in flight finish before abandoning it. Okta answers a
# write in well under a second; longer means it is stuck, and a person pressing Ctrl-C waits.
DEFAULT_GRACE_S = 2.0


class StopRequest:
    """Set by the first stop signal; `abandon` by the second. Lives on one event loop."""

    def __init__(self, on_signal: Callable[[str, bool], None] | None = None) -> None:
        self.signal: str | None = None  # the first signal's name, e.g. "SIGINT"
        self.requested = asyncio.Event()
        self.abandon = asyncio.Event()
        self._on_signal = on_signal

    def received(self, name: str) -> None:
        """Record one signal (called on the loop)."""
        again = self.signal is not None
        if again:
            self.abandon.set()
        else:
            self.signal = name
            self.requested.set()
        if self._on_signal is not None:
            self._on_signal(name, again)


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[bool]:
    """While inside, SIGINT/SIGTERM go to `stop` instead of interrupting; yields False when
    signals cannot be caught here (not the main thread), in which case nothing changes."""
    loop = asyncio.get_running_loop()
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in STOP_SIGNALS:
            handler = signal.getsignal(sig)
            loop.add_signal_handler(sig, stop.received, sig.name)
            previous[sig] = handler  # only once added: _restore undoes exactly these
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no Unix signals
        _restore(loop, previous)
        yield False
        return
    try:
        yield True
    finally:
        _restore(loop, previous)


def _restore(loop: asyncio.AbstractEventLoop, previous: dict[signal.Signals, Any]) -> None:
    # remove_signal_handler installs the default handlers; put back what was there before
    # (asyncio.run's own SIGINT handler, or deferred_signals' one).
    for sig, handler in previous.items():
        loop.remove_signal_handler(sig)
        if handler is not None:
            signal.signal(sig, handler)


async def settle(call: asyncio.Future[Any], stop: StopRequest | None, grace_s: float) -> bool:
    """Wait for `call`; True when it finished (its result or error is in it), False when it was
    abandoned: a stop was requested and it did not finish within the grace (or a second signal
    came). An abandoned call is cancelled; whether it reached the server is unknown to it."""
    if stop is None:
        await asyncio.wait({call})
        return True
    stopping = asyncio.ensure_future(stop.requested.wait())
    try:
        await asyncio.wait({call, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not call.done():
            abandoning = asyncio.ensure_future(stop.abandon.wait())
            try:
                await asyncio.wait({call, abandoning}, timeout=grace_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                abandoning.cancel()
    finally:
        stopping.cancel()
    if call.done():
        return True
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await call
    return False


@contextlib.contextmanager
def deferred_signals() -> Iterator[list[str]]:
    """Hold SIGINT/SIGTERM back while inside; yields the names of those received meanwhile.

    Nothing is re-raised on exit: the caller reads the list and ends the way it chooses. Outside
    the main thread signals cannot be caught, and this does nothing.
    """
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def hold(signum: int, _frame: Any) -> None:
        received.append(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, hold)
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM interrupts like SIGINT does (KeyboardInterrupt), so a caller can
    catch either and still record what was done (no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
