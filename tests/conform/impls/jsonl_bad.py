"""A JSON-lines engine that misbehaves as told by its first argument."""

import json
import os
import sys
import time

how = sys.argv[1]
for _line in sys.stdin:
    if len(sys.argv) > 2:  # where to say who it is, once it has a case: for a test that it is killed
        with open(sys.argv[2], "w") as f:
            f.write(str(os.getpid()))
    if how == "hang":
        time.sleep(60)
    elif how == "junk":
        print("hello", flush=True)
    elif how == "array":
        print("[1, 2]", flush=True)
    elif how == "die":
        print("cannot go on", file=sys.stderr, flush=True)
        sys.exit(3)
    elif how == "error":
        print(json.dumps({"error": "no such account"}), flush=True)
