"""A JSON-lines engine that misbehaves as told by its first argument."""

import json
import sys
import time

how = sys.argv[1]
for line in sys.stdin:
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
