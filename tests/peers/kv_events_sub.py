# A KV-cache event subscriber as vLLM's consumers write one (pyzmq and msgpack, both from Debian):
# connects a SUB socket to argv[1], subscribes to the "kv@" topics llm-d's indexer reads, and
# prints each message as a JSON line: its topic, its sequence number (8 bytes, big-endian) and the
# decoded batch. Block hashes are printed as strings (JSON numbers lose bits past 2^53). Runs until
# killed or argv[2] seconds pass.
import json
import sys
import time

import msgpack
import zmq


def stringify(event):
    tag = event[0]
    if tag == "BlockStored":
        event[1] = [str(h) for h in event[1]]
        event[2] = None if event[2] is None else str(event[2])
    elif tag == "BlockRemoved":
        event[1] = [str(h) for h in event[1]]
    return event


def main():
    endpoint, seconds = sys.argv[1], float(sys.argv[2])
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"kv@")
    print(json.dumps({"ready": True}), flush=True)
    end = time.time() + seconds
    while time.time() < end:
        if not sub.poll(100):
            continue
        frames = sub.recv_multipart()
        out = {"frames": len(frames)}
        if len(frames) == 3:
            topic, seq, payload = frames
            batch = msgpack.unpackb(payload, raw=False, strict_map_key=False)
            out.update(topic=topic.decode(), seq_bytes=len(seq), seq=int.from_bytes(seq, "big"),
                       ts=batch[0], dp_rank=batch[2] if len(batch) > 2 else "absent",
                       ts_is_float=isinstance(batch[0], float),
                       events=[stringify(list(e)) for e in batch[1]])
        print(json.dumps(out), flush=True)


main()
