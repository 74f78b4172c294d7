"""hamqtt.aio: events drained by the asyncio loop on the engine's event descriptor."""

from __future__ import annotations

import asyncio
from typing import List

from hamqtt.aio import AsyncHaMqttClient
from brokers import Broker


def test_asyncio_publish_subscribe(brokers3: List[Broker]) -> None:
    async def main() -> List[bytes]:
        uris = ",".join(b.uri for b in brokers3)
        async with AsyncHaMqttClient(uris, dedup=True) as client:
            await client.subscribe("aio/#", 1)
            endpoints = await client.publish("aio/a", b"1", qos=1)
            assert endpoints and endpoints[0] in client.client.live_endpoints
            await client.publish("aio/b", b"2", qos=1)
            got: List[bytes] = []
            async for msg in client.messages():
                got.append(msg.payload)
                if len(got) == 2:
                    break
            return got

    assert sorted(asyncio.run(asyncio.wait_for(main(), 20))) == [b"1", b"2"]
