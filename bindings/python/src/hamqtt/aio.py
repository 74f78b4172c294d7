"""asyncio on the engine's event descriptor: :class:`AsyncHaMqttClient`.

Events are drained by the event loop itself (``loop.add_reader`` on ``hamqtt_event_fd``), so
callbacks and :meth:`AsyncHaMqttClient.messages` run on the loop's thread; the blocking calls
(connect, subscribe, publish with QoS > 0) run in the default executor with the GIL released.

    async with hamqtt.aio.AsyncHaMqttClient("127.0.0.1:1883-1885") as client:
        await client.subscribe("sensors/#", 1)
        await client.publish("sensors/t1", b"21.5", qos=1)
        async for msg in client.messages():
            print(msg.topic, msg.payload)
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, AsyncIterator, List, Mapping, Optional, Sequence, Union

from . import _lib
from .ha import HaMqttClient, Message, MessageCallback, PayloadLike
from .options import ClusterOptions

__all__ = ["AsyncHaMqttClient"]


class AsyncHaMqttClient:
    """An asyncio client of a virtual cluster (arguments as :class:`hamqtt.HaMqttClient`)."""

    def __init__(self, endpoints: Union[str, Sequence[str]],
                 options: Union[ClusterOptions, Mapping[str, Any], None] = None, **option_kwargs: Any) -> None:
        self._c = HaMqttClient(endpoints, options, **option_kwargs)
        self._c._threaded = False
        self._queue: "asyncio.Queue[Message]" = asyncio.Queue()
        self._c.on_message = self._queue.put_nowait
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._fd = -1

    @property
    def client(self) -> HaMqttClient:
        """The underlying :class:`HaMqttClient` (for endpoints, stats and callbacks)."""
        return self._c

    async def _run(self, fn: Any, *args: Any, **kw: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kw))

    async def connect(self) -> "AsyncHaMqttClient":
        """Connect (returns once an endpoint is live) and start draining events on this loop.

        As :meth:`hamqtt.HaMqttClient.connect`: when no broker can be reached it raises
        :class:`hamqtt.NoEndpointError` at once, and the client keeps probing (events are
        drained all the same, so a later :meth:`publish` completes once a broker is up);
        ``async with`` closes it instead.
        """
        self._loop = asyncio.get_running_loop()
        try:
            await self._run(self._c.connect)
        except _lib.NoEndpointError:
            self._watch()
            raise
        self._watch()
        if self._fd < 0:
            raise _lib.ClosedError(_lib.ERR_CLOSED, "no event descriptor: the client is disconnected")
        return self

    def _watch(self) -> None:
        if self._fd >= 0 or self._loop is None:
            return
        self._fd = self._c._nc.event_fd()
        if self._fd >= 0:
            self._loop.add_reader(self._fd, self._drain)
            self._drain()

    def _drain(self) -> None:
        nc = self._c._nc
        for _ in range(64):
            if nc.closed:
                self._remove_reader()
                return
            rc, evs = nc.poll(0)
            for ev in evs:
                self._c._handle(ev)
            if rc != _lib.OK:
                self._remove_reader()
                return
            if len(evs) < 512:
                return

    def _remove_reader(self) -> None:
        if self._fd >= 0 and self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._fd = -1

    async def publish(self, topic: str, payload: PayloadLike = b"", qos: int = 0,
                      retain: bool = False) -> List[str]:
        """Publish and wait for the outcome; returns the endpoints that took it."""
        fut = self._c.publish_async(topic, payload, qos, retain)
        return await asyncio.wrap_future(fut)

    async def subscribe(self, topic_filter: str, qos: int = 0, callback: Optional[MessageCallback] = None) -> None:
        """Subscribe; without ``callback`` messages go to :meth:`messages`."""
        await self._run(self._c.subscribe, topic_filter, qos, callback)

    async def unsubscribe(self, topic_filter: str) -> None:
        """Unsubscribe a filter."""
        await self._run(self._c.unsubscribe, topic_filter)

    async def messages(self) -> AsyncIterator[Message]:
        """Received messages (those no subscription callback took), forever."""
        while True:
            yield await self._queue.get()

    async def disconnect(self) -> None:
        """Disconnect every endpoint."""
        self._remove_reader()
        await self._run(self._c.disconnect)

    async def close(self) -> None:
        """Disconnect and release the client."""
        self._remove_reader()
        await self._run(self._c.close)

    async def __aenter__(self) -> "AsyncHaMqttClient":
        try:
            return await self.connect()
        except BaseException:
            await self.close()  # __aexit__ will not run: nothing would stop the probing
            raise

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
