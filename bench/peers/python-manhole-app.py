# A Python app with python-manhole (its own thread) on a Unix socket, for bench/round-trip.js's
# peers rows. argv[1] = socket path. Prints one JSON line when listening; exits when stdin ends.
import json
import os
import sys
import time

import manhole

manhole.install(socket_path=sys.argv[1], verbose=False, patch_fork=False)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
sys.stdin.read()
