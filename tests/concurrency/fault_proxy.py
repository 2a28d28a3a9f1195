"""A TCP proxy for HTTP/1.1 that loses answers on purpose, on a schedule.

It sits between SDK clients and a real `leaseq serve`, in a thread of its own (so a test
may block while it works), and reads each request and each answer whole (head and
Content-Length body). Request number n (counted over every connection, from 1) meets
`schedule(n)`:

- `FORWARD`: passed on, and its answer passed back;
- `DROP_ANSWER`: passed on, the whole answer read from the service (so whatever the
  request does has been done), then the client's connection closed without it;
- `CLOSE_FIRST`: the client's connection closed before the request is passed on (the
  service never sees it; the client cannot tell this from a lost answer);
- `DELAY`: passed on after `delay` seconds, its answer passed back;
- `RESET_MID_ANSWER`: passed on, half of the answer passed back, then the connection
  reset (RST).

`log` lists (n, method, path, action) for every request seen; `rides` the n of each lease
request that carried results.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

FORWARD = "forward"
DROP_ANSWER = "drop_answer"
CLOSE_FIRST = "close_first"
DELAY = "delay"
RESET_MID_ANSWER = "reset_mid_answer"

Schedule = Callable[[int], str]


def every(n: int, action: str) -> Schedule:
    """`action` on every n-th request, the rest forwarded."""
    return lambda number: action if number % n == 0 else FORWARD


def cycle(pattern: str) -> Schedule:
    """One action per character, repeated: `.` forward, `D` drop the answer, `C` close
    first, `S` delay (slow), `R` reset mid-answer."""
    actions = {".": FORWARD, "D": DROP_ANSWER, "C": CLOSE_FIRST, "S": DELAY, "R": RESET_MID_ANSWER}
    steps = [actions[c] for c in pattern]
    return lambda number: steps[(number - 1) % len(steps)]


class _Closed(Exception):
    """The other side closed the connection between messages."""


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message with a Content-Length body (what leaseq and aiohttp send)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            raise _Closed from None
        raise
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("the fault proxy reads Content-Length bodies only")
    return head + await reader.readexactly(length)


class FaultProxy:
    def __init__(self, upstream: str, schedule: Schedule, *, delay: float = 0.3) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self._upstream = (host, int(port))
        self._schedule = schedule
        self._delay = delay
        self._count = 0
        self.log: list[tuple[int, str, str, str]] = []
        self.rides: set[int] = set()  # the numbers of lease requests that carried results
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._connections: set[asyncio.Task[None]] = set()
        self.url = ""

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def actions(self) -> dict[str, int]:
        """How many requests met each action so far."""
        counts: dict[str, int] = {}
        for _, _, _, action in list(self.log):
            counts[action] = counts.get(action, 0) + 1
        return counts

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await _read_message(reader)
                self._count += 1
                number = self._count
                action = self._schedule(number)
                method, path = request.split(b" ", 2)[:2]
                self.log.append((number, method.decode(), path.decode(), action))
                if path == b"/v1/leases" and b'"results"' in request:
                    self.rides.add(number)  # a lease request carrying results (ADR 0033)
                if action == CLOSE_FIRST:
                    return
                if action == DELAY:
                    await asyncio.sleep(self._delay)
                if upstream is None:
                    upstream = await asyncio.open_connection(*self._upstream)
                upstream[1].write(request)
                await upstream[1].drain()
                answer = await _read_message(upstream[0])
                if action == DROP_ANSWER:
                    return
                if action == RESET_MID_ANSWER:
                    writer.write(answer[: len(answer) // 2])
                    await writer.drain()
                    _reset(writer)
                    return
                writer.write(answer)
                await writer.drain()
        except (_Closed, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            for stream in (writer, upstream[1] if upstream else None):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


@contextlib.contextmanager
def fault_proxy(upstream: str, schedule: Schedule, *, delay: float = 0.3) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, schedule, delay=delay).start()
    try:
        yield proxy
    finally:
        proxy.stop()
