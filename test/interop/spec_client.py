"""A client written from the message shapes alone: Python `websockets` and `redis-py`, no knowledge of
system-stream. It connects, publishes the original design's two example messages with redis-py, and
reads frames until it has seen each step of the scenario the Node test drives (a Redis restart: 503,
then 200, then live data again). Each frame must be one JSON object with a `type`; it prints one JSON
line per step and a summary, and exits 1 on anything it cannot parse."""
import argparse
import asyncio
import json
import sys

import redis
import websockets

SPEC_METRIC = {"type": "system_metric", "data": {"time": "2026-01-17T04:30:00Z", "metric_type": "cpu", "value": 45.2, "source": "host", "meta": {"unit": "percent"}}}
SPEC_CONTAINER = {"type": "container_status", "data": {"container": "tick-archiver", "status": "running", "time": "2026-01-17T04:30:00Z"}}
AFTER_RESTART = {"type": "system_metric", "data": {"time": "2026-01-17T04:31:00Z", "metric_type": "cpu", "value": 12.5, "source": "host"}}


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--channel", required=True)
    args = parser.parse_args()

    types = []
    frames = 0
    step = "snapshot"
    async with websockets.connect(args.ws, extra_headers={"x-api-key": args.key}) as ws:
        while step != "done":
            raw = await asyncio.wait_for(ws.recv(), timeout=20)
            frames += 1
            if not isinstance(raw, str):
                say("unparsable", why="binary frame")
                sys.exit(1)
            try:
                packet = json.loads(raw)
            except ValueError:
                say("unparsable", why="not JSON", frame=raw[:200])
                sys.exit(1)
            if not isinstance(packet, dict) or not isinstance(packet.get("type"), str):
                say("unparsable", why="not one object with a type", frame=raw[:200])
                sys.exit(1)
            kind = packet["type"]
            types.append(kind)
            if kind == "snapshot_end" and step == "snapshot":
                client = redis.Redis(host="127.0.0.1", port=args.redis_port)
                client.publish(args.channel, json.dumps(SPEC_METRIC))
                client.publish(args.channel, json.dumps(SPEC_CONTAINER))
                client.close()
                step = "live"
            elif kind == "container_status" and step == "live" and packet == SPEC_CONTAINER:
                say("live", envelopes=[t for t in types if t in ("system_metric", "container_status")])
                step = "outage"  # the Node test now restarts Redis
            elif kind == "error" and step == "outage" and packet["data"]["code"] == 503:
                say("error", code=503)
                step = "recovery"
            elif kind == "status" and step == "recovery" and packet["data"]["code"] == 200:
                say("status", code=200)
                client = redis.Redis(host="127.0.0.1", port=args.redis_port)
                client.publish(args.channel, json.dumps(AFTER_RESTART))
                client.close()
                step = "after"
            elif kind == "system_metric" and step == "after" and packet == AFTER_RESTART:
                step = "done"
    say("summary", frames=frames, types=types)


asyncio.run(main())
