#!/usr/bin/env python3
"""A TCP proxy that adds a fixed one-way delay in each direction (a WAN on loopback),
without limiting bandwidth: every chunk read is written `delay` later, in order.

Usage: delay_proxy.py LISTEN_PORT TARGET_HOST:PORT ONE_WAY_MS
"""
import asyncio
import sys
import time


async def pump(reader, writer, delay):
    queue = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(1 << 16)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read(), write())
    except (ConnectionError, asyncio.IncompleteReadError):
        writer.close()


async def main():
    port, target, ms = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    host, tport = target.rsplit(":", 1)
    delay = ms / 1000

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(host, int(tport))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
