"""A Python websockets client with its default permessage-deflate offer: connects, reads frames until it has
`--count` packets after the snapshot, and prints one JSON line per packet (as decoded by websockets) and a
last line with the extensions the server accepted. Exits 1 on anything it cannot parse."""
import argparse
import asyncio
import json
import sys

import websockets


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    live = 0
    async with websockets.connect(args.ws, extra_headers={"x-api-key": args.key}, compression="deflate") as ws:
        print(json.dumps({"event": "open"}), flush=True)
        while live < args.count:
            raw = await asyncio.wait_for(ws.recv(), timeout=20)
            try:
                packet = json.loads(raw)
            except ValueError:
                print(json.dumps({"event": "unparsable", "frame": str(raw)[:200]}), flush=True)
                sys.exit(1)
            print(json.dumps({"event": "packet", "packet": packet}), flush=True)
            if packet.get("type") in ("system_metric", "alert", "container_status"):
                live += 1
        extensions = ws.response_headers.get("Sec-WebSocket-Extensions", "")
    print(json.dumps({"event": "summary", "extensions": extensions}), flush=True)


asyncio.run(main())
