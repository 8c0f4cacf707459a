"""An independent OSC receiver for the sink's integration test (python-osc).

Binds 127.0.0.1 on a port the kernel chooses, prints {"port": N} as the first line,
then one JSON line per OSC message received:

    {"dgram": k, "addr": "/p1/tx", "tags": "f", "args": [0.5],
     "ntp": [secs, frac] or null, "time": unix seconds (python-osc's conversion) or null}

`dgram` numbers the datagrams; `ntp` is the raw timetag of the bundle the message came
in. Stops at a message to `/__stop` (not printed) or after `--timeout` seconds, then
prints {"end": true, "datagrams": n}.
"""

import argparse
import json
import socket
import struct
import sys
import time

from pythonosc import osc_bundle, osc_message
from pythonosc.parsing import osc_types


def messages(dgram, ntp, when):
    """(message, ntp, time) for every message in a datagram, bundles flattened."""
    if osc_bundle.OscBundle.dgram_is_bundle(dgram):
        b = osc_bundle.OscBundle(dgram)
        raw = struct.unpack(">II", dgram[8:16])
        for c in b:
            if isinstance(c, osc_bundle.OscBundle):
                yield from messages(c.dgram, list(struct.unpack(">II", c.dgram[8:16])), c.timestamp)
            else:
                yield c, list(raw), b.timestamp
    elif osc_message.OscMessage.dgram_is_message(dgram):
        yield osc_message.OscMessage(dgram), ntp, when
    else:
        raise ValueError("neither an OSC message nor a bundle")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    out = sys.stdout
    out.write(json.dumps({"port": s.getsockname()[1]}) + "\n")
    out.flush()
    deadline = time.monotonic() + a.timeout
    n = 0
    while time.monotonic() < deadline:
        try:
            dgram, _ = s.recvfrom(65536)
        except socket.timeout:
            continue
        stop = False
        for m, ntp, when in messages(dgram, None, None):
            if m.address == "/__stop":
                stop = True
                continue
            _, i = osc_types.get_string(m.dgram, 0)
            tags, _ = osc_types.get_string(m.dgram, i)
            out.write(
                json.dumps(
                    {
                        "dgram": n,
                        "size": len(dgram),
                        "addr": m.address,
                        "tags": tags.lstrip(","),
                        "args": list(m.params),
                        "ntp": ntp,
                        "time": when if isinstance(when, float) else None,
                    }
                )
                + "\n"
            )
        n += 1
        out.flush()
        if stop:
            break
    out.write(json.dumps({"end": True, "datagrams": n}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
