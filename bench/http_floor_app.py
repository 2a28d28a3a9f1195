"""The HTTP floor's server: a bare ASGI app (no framework, no leaseq code) on the server
leaseq serve runs (uvicorn with uvloop and httptools), inserting into the raw floor's
table with the raw floor's statements (../shared/bench/peers/bench_raw_floor.py).

    POST /one   body {"i": 1}            -> 201 {"id": 7}
    POST /many  body [{"i": 1}, ...]     -> 201 [7, 8, ...]

What an HTTP enqueue costs with nothing of leaseq in it: bench/http_floor.py drives it.

    python bench/http_floor_app.py DATABASE_URL PORT
"""

from __future__ import annotations

import sys
from typing import Any

import asyncpg
import orjson
import uvicorn

INSERT_ONE = "INSERT INTO q (payload) VALUES ($1::jsonb) RETURNING id"
INSERT_MANY = "INSERT INTO q (payload) SELECT unnest($1::jsonb[]) RETURNING id"
HEADERS = [(b"content-type", b"application/json")]


class FloorApp:
    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        assert self.pool is not None
        if scope["path"] == "/one":
            # the body passes through: the ::jsonb cast is the only parse
            async with self.pool.acquire() as conn:
                answer: Any = {"id": await conn.fetchval(INSERT_ONE, body.decode())}
        else:
            payloads = [orjson.dumps(p).decode() for p in orjson.loads(body)]
            async with self.pool.acquire() as conn:
                answer = [r[0] for r in await conn.fetch(INSERT_MANY, payloads)]
        await send({"type": "http.response.start", "status": 201, "headers": HEADERS})
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(self.url, min_size=2, max_size=10)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


if __name__ == "__main__":
    uvicorn.run(
        FloorApp(sys.argv[1]),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
