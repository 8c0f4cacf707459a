#!/usr/bin/env python3
"""An MJPEG-over-HTTP camera for tests (Python standard library only).

    python3 tools/mjpeg_server.py --port 8080 --dir FRAMES_DIR [--fps 10] [--loop]
        [--freeze-after N] [--address 127.0.0.1] [--parent-pid PID]

serves the `.jpg`/`.jpeg` files of FRAMES_DIR (sorted by name) as
`multipart/x-mixed-replace; boundary=frame` on http://127.0.0.1:PORT/stream.mjpg and prints
exactly `READY http://127.0.0.1:PORT/stream.mjpg` on stdout (flushed) once it listens.
Exit status 0 on SIGTERM/SIGINT, 2 on bad arguments.

Semantics (design decisions):

* Every client gets its own stream starting at the first frame, paced at `--fps` against
  a monotonic deadline (frame k is sent at start + k / fps, so pacing does not drift; a
  slow client just makes the server late, frames are never skipped).
* Each part is `--frame\\r\\nContent-Type: image/jpeg\\r\\nContent-Length: N\\r\\n\\r\\n`
  followed by the JPEG bytes and `\\r\\n`. The response is HTTP/1.0 with no Content-Length:
  the body ends when the connection closes.
* `--loop`: after the last frame start again at the first. Without it the response ends
  (connection closed) after the last frame.
* `--freeze-after N`: after N frames (counted across loops) the server keeps the
  connection open but sends nothing more, like a frozen camera; the connection is closed
  only when the client closes it or the server stops.
* Any path other than `/stream.mjpg` (or `/`) answers 404. Clients are served on their own
  threads (ThreadingHTTPServer), so several can read at once. Frames are read from disk
  once at start-up.
* `--parent-pid PID`: checked twice a second; the server exits when PID is no longer its
  parent, so a crashed test does not leave the server behind.
"""

import argparse
import http.server
import os
import select
import signal
import sys
import threading
import time


def fail(msg):
    print(f"mjpeg_server: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description="Serve a folder of JPEG files as an MJPEG stream.")
    ap.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    ap.add_argument("--dir", required=True, help="folder of .jpg files (sorted by name)")
    ap.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    ap.add_argument("--loop", action="store_true", help="loop the frames forever")
    ap.add_argument("--freeze-after", type=int, default=None, metavar="N",
                    help="after N frames keep the connection open but send nothing")
    ap.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                    help="exit as soon as PID is no longer this process's parent")
    args = ap.parse_args()
    if not 0 < args.port < 65536:
        fail(f"--port {args.port}: expected 1..65535")
    if not args.fps > 0:
        fail(f"--fps {args.fps}: expected a positive number")
    if args.freeze_after is not None and args.freeze_after < 0:
        fail(f"--freeze-after {args.freeze_after}: expected 0 or more")
    if not os.path.isdir(args.dir):
        fail(f"--dir {args.dir!r}: not a folder (expected a folder of .jpg files)")
    names = sorted(n for n in os.listdir(args.dir) if n.lower().endswith((".jpg", ".jpeg")))
    if not names:
        fail(f"--dir {args.dir!r}: no .jpg files")
    frames = []
    for n in names:
        with open(os.path.join(args.dir, n), "rb") as f:
            frames.append(f.read())

    stopping = threading.Event()
    period = 1.0 / args.fps

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *a):  # one line per request on stderr
            sys.stderr.write("mjpeg_server: %s %s\n" % (self.address_string(), fmt % a))

        def do_GET(self):
            if self.path.split("?")[0] not in ("/stream.mjpg", "/"):
                self.send_error(404, "only /stream.mjpg is served")
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-cache, no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            start = time.monotonic()
            sent = 0
            try:
                while not stopping.is_set():
                    if args.freeze_after is not None and sent >= args.freeze_after:
                        self.frozen()
                        return
                    if not args.loop and sent >= len(frames):
                        return
                    delay = start + sent * period - time.monotonic()
                    if delay > 0 and stopping.wait(delay):
                        return
                    jpeg = frames[sent % len(frames)]
                    self.wfile.write(
                        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                    )
                    self.wfile.write(jpeg)
                    self.wfile.write(b"\r\n")
                    self.wfile.flush()
                    sent += 1
            except (BrokenPipeError, ConnectionResetError):
                return

        def frozen(self):
            # Send nothing; return when the client closes (readable with EOF) or we stop.
            sock = self.connection
            while not stopping.is_set():
                readable, _, _ = select.select([sock], [], [], 0.5)
                if readable:
                    try:
                        if not sock.recv(4096):
                            return
                    except OSError:
                        return

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    try:
        server = Server((args.address, args.port), Handler)
    except OSError as e:
        fail(f"--port {args.port}: cannot listen on {args.address}:{args.port} ({e.strerror})")

    def on_signal(_sig, _frame):
        stopping.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.parent_pid is not None:
        parent = args.parent_pid

        def watch_parent():
            while not stopping.wait(0.5):
                if os.getppid() != parent:
                    os.kill(os.getpid(), signal.SIGTERM)
                    return

        threading.Thread(target=watch_parent, daemon=True).start()

    host = args.address if args.address != "0.0.0.0" else "127.0.0.1"
    print(f"READY http://{host}:{args.port}/stream.mjpg", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stopping.set()
        server.server_close()


if __name__ == "__main__":
    main()
