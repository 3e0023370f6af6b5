#!/usr/bin/env python3
# Bytes on the wire per event frame for typical messages: JSON as the server sends it,
# CBOR with the same fields, and either one with permessage-deflate (context takeover).
# Frames are modelled on the server's layout (docs/protocol.md, "Event object") with
# time-ordered ids, random client_msg_ids and 3-14 word texts. Usage: python3 bench/payload_size.py
import json, zlib, random, struct, os
random.seed(1)
words = "the a to and of in is it you that we for on with this be are have can meeting deploy plan today tomorrow lunch review ok thanks sure sounds good".split()
def cbor(o):
    def head(major, n):
        if n < 24: return bytes([major << 5 | n])
        if n < 256: return bytes([major << 5 | 24, n])
        if n < 65536: return bytes([major << 5 | 25]) + struct.pack('>H', n)
        if n < 2**32: return bytes([major << 5 | 26]) + struct.pack('>I', n)
        return bytes([major << 5 | 27]) + struct.pack('>Q', n)
    if isinstance(o, bool): return bytes([0xf5 if o else 0xf4])
    if isinstance(o, int): return head(0, o) if o >= 0 else head(1, -1 - o)
    if isinstance(o, str):
        b = o.encode(); return head(3, len(b)) + b
    if isinstance(o, list): return head(4, len(o)) + b''.join(cbor(x) for x in o)
    if isinstance(o, dict): return head(5, len(o)) + b''.join(cbor(k) + cbor(v) for k, v in o.items())
    raise TypeError
frames = []
ts = 1764107000123
for n in range(1000):
    ts += random.randint(50, 3000)
    text = " ".join(random.choice(words) for _ in range(random.randint(3, 14)))
    ev = {"conv": 12, "seq": 100 + n, "id": "%012x" % ts + os.urandom(10).hex(), "ts": ts,
          "type": "message.created", "sender": random.choice([3, 5, 7, 9]),
          "client_msg_id": "%s:%d" % (os.urandom(8).hex(), n), "data": {"text": text}}
    frames.append({"ev": ev})
js = [json.dumps(f, separators=(",", ":")).encode() for f in frames]
cb = [cbor(f) for f in frames]
avg = lambda xs: sum(len(x) for x in xs) / len(xs)
# permessage-deflate with context takeover: one compressor over the stream, a flush per message
def deflated(msgs):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    total = 0
    for m in msgs:
        total += len(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)) - 4
    return total / len(msgs)
text_avg = sum(len(f["ev"]["data"]["text"]) for f in frames) / len(frames)
print("typical message event (text avg %.0f bytes):" % text_avg)
print("  JSON            %.0f bytes/event" % avg(js))
print("  CBOR            %.0f bytes/event (%.0f%% of JSON)" % (avg(cb), 100 * avg(cb) / avg(js)))
print("  JSON + deflate  %.0f bytes/event (%.0f%% of JSON, context takeover)" % (deflated(js), 100 * deflated(js) / avg(js)))
print("  CBOR + deflate  %.0f bytes/event" % deflated(cb))
