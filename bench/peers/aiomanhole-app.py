# A Python asyncio app with an aiomanhole on a Unix socket, for bench/round-trip.js's peers rows.
# argv[1] = socket path. Prints one JSON line when listening; exits when stdin ends.
import asyncio
import json
import os
import sys

from aiomanhole import start_manhole


async def main():
    loop = asyncio.get_running_loop()
    await start_manhole(path=sys.argv[1], namespace={}, loop=loop)
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
