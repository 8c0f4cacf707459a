#!/usr/bin/python3
"""A looping RTSP camera for tests: serves one H.264 MP4 forever over RTSP.

Run with Debian's Python (the one that can `import gi`):

    /usr/bin/python3 tools/rtsp_server.py --port 8554 --file clip.mp4 [--mount /cam]
        [--address 127.0.0.1] [--queue-ms 2000] [--max-lag-ms 500] [--parent-pid PID]

prints exactly `READY rtsp://127.0.0.1:8554/cam` on stdout (flushed) once the server
listens, and serves until SIGTERM or SIGINT (exit status 0). Errors go to stderr with exit
status 2 (bad file, port in use, ...).

How it works (design decisions):

* The file is demuxed ONCE at start-up (`filesrc ! qtdemux ! h264parse ! appsink`) into a
  list of access units held in memory (byte-stream, SPS/PPS repeated before every IDR so a
  client can join at any key frame). Test clips are a few MB; files over
  `--max-bytes` are refused rather than silently truncated.
* Each RTSP media is `appsrc ! rtph264pay` (no re-encoding). A feeder thread pushes the
  access units in a loop, paced on the pipeline clock: access unit `i` of loop `k` gets
  DTS = t0 + k * clip_period + (dts_i - dts_0) (PTS keeps its offset from DTS, so B-frames
  survive), which is both when it is pushed and the running time it carries. Timestamps
  therefore keep increasing across loops (no discontinuity, no seek, no EOS), and the RTP
  timestamps and RTCP sender reports that rtpbin derives from them are continuous too.
  `clip_period` is the last DTS minus the first plus the last frame's duration.
* The media is shared (`set_shared(True)`): every client sees the same live stream, like a
  real camera. When the last client leaves, the media is torn down and the next client
  gets a fresh one (starting at the clip's beginning).
* Lower transports: UDP unicast and TCP interleaved. RTCP is on (rtpbin's default): sender
  reports go out every few seconds on the RTCP channel (interleaved channel 1 over TCP).
* The appsrc queue is bounded (`--queue-ms` of media) and leaks its OLDEST buffers if the
  pipeline stalls, like a camera that drops frames; it never grows without bound.
* The listening socket is created by GstRTSPServer with SO_REUSEADDR, so a restart on the
  same port right after a SIGKILL binds even while old connections sit in TIME_WAIT.
* A stalled feeder does not replay what it missed: when it is more than `--max-lag-ms`
  behind its schedule (the process was SIGSTOPped, or starved of CPU), it drops access
  units until the next key frame that is on time, like a camera that froze and came back
  (the content jumps, the timestamps stay on the clock; the decoder never sees a P-frame
  without its reference).
* Shutdown: SIGTERM and SIGINT are blocked in every thread and taken by one watcher
  thread (`sigtimedwait`), which exits the process at once with status 0 (clients see
  their connections close). An earlier version used GLib's unix signal sources and
  sometimes did not react to SIGTERM until the next client connected.
* `--parent-pid PID`: checked twice a second by the same watcher; the server exits when
  PID is no longer its parent, so a test process that dies without killing its children
  leaves no server behind.
"""

import argparse
import os
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


class Clip:
    """The access units of one H.264 track, in decoding order."""

    def __init__(self, caps, units, period):
        self.caps = caps  # Gst.Caps of the byte-stream / au video
        # (data: bytes, dts_offset_ns: int, pts_minus_dts_ns: int, duration_ns: int, delta: bool)
        self.units = units
        self.period = period  # ns between the first access unit of two loops


def fail(msg):
    print(f"rtsp_server: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def load_clip(path, max_bytes):
    """Demuxes `path`'s first video track into memory; exits with a message on error."""
    if not os.path.isfile(path):
        fail(f"--file {path!r}: no such file (expected an H.264 MP4)")
    pipeline = Gst.parse_launch(
        "filesrc name=src ! qtdemux name=demux demux.video_0 ! queue ! "
        "h264parse config-interval=-1 ! "
        "video/x-h264,stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false emit-signals=false max-buffers=64"
    )
    pipeline.get_by_name("src").set_property("location", path)
    sink = pipeline.get_by_name("sink")
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    caps = None
    raw = []
    total = 0
    while True:
        sample = sink.emit("try-pull-sample", Gst.SECOND)
        if sample is None:
            msg = bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if msg is not None and msg.type == Gst.MessageType.ERROR:
                err, _dbg = msg.parse_error()
                pipeline.set_state(Gst.State.NULL)
                fail(f"--file {path!r}: cannot demux an H.264 video track ({err.message})")
            if sink.get_property("eos") or msg is not None:
                break
            continue
        if caps is None:
            caps = sample.get_caps()
        buf = sample.get_buffer()
        data = buf.extract_dup(0, buf.get_size())
        total += len(data)
        if total > max_bytes:
            pipeline.set_state(Gst.State.NULL)
            fail(f"--file {path!r}: more than --max-bytes {max_bytes} of video; use a shorter clip")
        raw.append((data, buf.dts, buf.pts, buf.duration, buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
    pipeline.set_state(Gst.State.NULL)
    if not raw:
        fail(f"--file {path!r}: no H.264 access units (expected an MP4 with an H.264 video track)")

    none = Gst.CLOCK_TIME_NONE
    # DTS falls back to PTS (streams without reordering may carry only one of them).
    dts = [d if d != none else p for (_, d, p, _, _) in raw]
    if any(d == none for d in dts):
        fail(f"--file {path!r}: access units without timestamps")
    steps = [b - a for a, b in zip(dts, dts[1:]) if b > a]
    default_duration = (sum(steps) // len(steps)) if steps else Gst.SECOND // 25
    units = []
    for (data, _d, p, dur, delta), d in zip(raw, dts):
        pts_off = (p - d) if p != none else 0
        units.append((data, d - dts[0], pts_off, dur if dur != none else default_duration, delta))
    last = units[-1]
    period = last[1] + last[3]
    return Clip(caps, units, period)


class Feeder:
    """Pushes a clip into one media's appsrc, forever, paced on the pipeline clock."""

    def __init__(self, appsrc, clip, max_lag_ns):
        self.appsrc = appsrc
        self.clip = clip
        self.max_lag = max_lag_ns
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()

    def running_time(self):
        clock = self.appsrc.get_clock()
        if clock is None:
            return None
        return clock.get_time() - self.appsrc.get_base_time()

    def run(self):
        # A live pipeline in rtsp-media goes to PLAYING while preparing; wait for it.
        while not self.stop.is_set():
            _, state, _ = self.appsrc.get_state(0)
            if state == Gst.State.PLAYING and self.appsrc.get_clock() is not None:
                break
            self.stop.wait(0.01)
        now = self.running_time()
        if now is None:
            return
        t0 = now
        loop = 0
        skipping = False
        while not self.stop.is_set():
            base = t0 + loop * self.clip.period
            for data, dts_off, pts_off, dur, delta in self.clip.units:
                dts = base + dts_off
                wait = dts - self.running_time()
                if -wait > self.max_lag:
                    skipping = True
                if skipping:
                    if delta or -wait > self.max_lag:
                        continue
                    skipping = False
                if wait > 0 and self.stop.wait(wait / Gst.SECOND):
                    return
                buf = Gst.Buffer.new_wrapped(data)
                buf.dts = dts
                buf.pts = dts + pts_off
                buf.duration = dur
                if delta:
                    buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
                ret = self.appsrc.emit("push-buffer", buf)
                if ret != Gst.FlowReturn.OK:
                    return  # flushing or shut down: the media is going away
            loop += 1


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def watch_signals(parent_pid):
    """Exits the process (status 0) on SIGTERM/SIGINT, or when `parent_pid` is no longer
    the parent. Runs on its own thread; the signals are blocked in every thread and taken
    here with sigtimedwait, so shutdown never depends on the GLib main loop waking up."""
    while True:
        info = signal.sigtimedwait(STOP_SIGNALS, 0.5)
        # After SIGSTOP + SIGCONT, Python 3.11's sigtimedwait returns a siginfo with
        # si_signo 0 instead of retrying: only a real stop signal counts.
        if info is not None and info.si_signo in STOP_SIGNALS:
            break
        if parent_pid is not None and os.getppid() != parent_pid:
            break
    sys.stdout.flush()
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description="Serve an H.264 MP4 as a looping RTSP camera.")
    ap.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    ap.add_argument("--file", required=True, help="H.264 MP4 to loop")
    ap.add_argument("--mount", default="/cam", help="mount point (default /cam)")
    ap.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--queue-ms", type=int, default=2000, help="appsrc queue bound in ms of media")
    ap.add_argument("--max-lag-ms", type=int, default=500,
                    help="skip to the next on-time key frame when this late (default 500)")
    ap.add_argument("--max-bytes", type=int, default=256 << 20, help="largest video track accepted")
    ap.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                    help="exit as soon as PID is no longer this process's parent")
    args = ap.parse_args()
    if not 0 < args.port < 65536:
        fail(f"--port {args.port}: expected 1..65535")
    if not args.mount.startswith("/"):
        fail(f"--mount {args.mount!r}: expected a path starting with '/'")

    # Before any thread exists, so that every thread (GStreamer's included) inherits it.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    Gst.init(None)
    clip = load_clip(args.file, args.max_bytes)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=vpsrc is-live=true format=time block=false leaky-type=downstream "
        f"max-bytes=0 max-buffers=0 max-time={args.queue_ms * Gst.MSECOND} "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.TCP)

    def on_media_configure(_factory, media):
        appsrc = media.get_element().get_by_name("vpsrc")
        appsrc.set_property("caps", clip.caps)
        feeder = Feeder(appsrc, clip, args.max_lag_ms * Gst.MSECOND)
        media.connect("unprepared", lambda _media: feeder.stop.set())
        feeder.start()

    factory.connect("media-configure", on_media_configure)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        fail(f"--port {args.port}: cannot listen on {args.address}:{args.port} (in use?)")

    threading.Thread(target=watch_signals, args=(args.parent_pid,), daemon=True).start()

    host = args.address if args.address != "0.0.0.0" else "127.0.0.1"
    print(f"READY rtsp://{host}:{args.port}{args.mount}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
