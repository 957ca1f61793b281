#!/usr/bin/env python3
"""Benchmark of `fim watch` (not a test): latency from a file's close() to its event
line, bursts of new files (with and without a lowered inotify queue), RSS while watching
the Linux source tree, and CPU while idle.

    python3 benches/watch_bench.py            # after benches/compare.sh prepared benches/data
    N=2000 python3 benches/watch_bench.py     # more modifications per rate
    MODE=tail python3 benches/watch_bench.py  # only the issue-10 tail: 3 runs x 200 at 20/s

The tail measurement is external on both ends: a separate writer process modifies
WordPress .php files and takes t0 right after close(); the event's time is when its
line appears in `--output`, seen by a reader woken by inotify on that file.

Run as root (it lowers fs.inotify.max_queued_events for one burst and restores it).
"""
import ctypes, json, os, select, shutil, struct, signal, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIM = os.environ.get("FIM", os.path.join(ROOT, "target", "release", "fim"))  # FIM=: another build, for before/after
DATA = os.path.join(ROOT, "benches", "data")
N = int(os.environ.get("N", "1000"))
MODE = os.environ.get("MODE", "all")

WRITER = r"""
import sys, time
paths, n, rate = sys.argv[1].split(":"), int(sys.argv[2]), float(sys.argv[3])
for i in range(n):
    path = paths[i % len(paths)]
    before = time.monotonic()
    with open(path, "a") as f:
        f.write("// tail %d\n" % i)
    t0 = time.monotonic()
    print(i, path, repr(before), repr(t0), flush=True)
    time.sleep(1.0 / rate)
"""


class OutputReader:
    """Lines of an `--output` file, each with when it was seen (inotify IN_MODIFY)."""

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK)
        open(path, "a").close()
        if libc.inotify_add_watch(self.fd, path.encode(), 0x2) < 0:  # IN_MODIFY
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.file = open(path, "rb")
        self.file.seek(0, 2)
        self.lines = []  # (monotonic time seen, event)
        self.partial = b""
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            if not select.select([self.fd], [], [], 0.2)[0]:
                continue
            now = time.monotonic()
            try:
                os.read(self.fd, 65536)
            except BlockingIOError:
                pass
            data = self.partial + self.file.read()
            *whole, self.partial = data.split(b"\n")
            for line in whole:
                self.lines.append((now, json.loads(line)))

    def stop(self):
        self.running = False
        self.thread.join()
        os.close(self.fd)


def tail(tree, db, runs=3, n=200, rate=20):
    """Issue 10's measurement: p50/p99/max of close() -> event line, per run."""
    php = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(tree, "wp-includes"))
                 for f in fs if f.endswith(".php"))[:50]
    results = []
    for run in range(runs):
        out = os.path.join(os.path.dirname(db), f"tail-{run}.jsonl")
        reader = OutputReader(out)
        w = Watch(db, tree, ["--output", out])
        time.sleep(0.5)
        writer = subprocess.run([sys.executable, "-c", WRITER, ":".join(php), str(n), str(rate)],
                                capture_output=True, text=True, check=True)
        time.sleep(0.5)
        w.stop()
        reader.stop()
        by_path = {}
        for t, e in reader.lines:
            by_path.setdefault(e["path"], []).append(t)
        lat, missed, slowest = [], 0, []
        for line in writer.stdout.splitlines():
            _, path, before, t0 = line.split(" ")
            # A daemon woken by the close can write its line before the writer reads
            # the clock: such a line counts (as 0 ms), not the next change's.
            ts = [t for t in by_path.get(path, []) if t >= float(before)]
            if ts:
                lat.append(max(0.0, ts[0] - float(t0)) * 1000)
                slowest.append((lat[-1], os.path.relpath(path, tree)))
            else:
                missed += 1
        lat.sort()
        slowest = sorted(slowest, reverse=True)[:3]
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
        results.append((p(0.50), p(0.99), lat[-1], missed))
        print(f"tail run {run + 1}: {n} changes at {rate}/s: p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, "
              f"max {lat[-1]:.2f} ms, missed {missed}; slowest: "
              + ", ".join(f"{path} {ms:.1f} ms" for ms, path in slowest), flush=True)
    return results


class Watch:
    def __init__(self, db, tree, extra=()):
        self.tmp = tempfile.mkdtemp(prefix="fim-watch-bench-")
        sock_path = os.path.join(self.tmp, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(sock_path)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        env.pop("RUST_LOG", None)
        self.proc = subprocess.Popen([FIM, "watch", "-q", "--db", db, *extra], stdout=subprocess.PIPE,
                                     env=env, bufsize=0)
        self.lines = []  # (monotonic receive time, event)
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.notify.settimeout(600)
        while b"READY=1" not in self.notify.recv(4096):
            pass

    def _read(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            with self.cond:
                self.lines.append((now, json.loads(line)))
                self.cond.notify_all()

    def wait_for(self, pred, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, e in self.lines:
                    if pred(e):
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def init(tree, db):
    subprocess.run([FIM, "init", "-q", "--force", "--accept-suspicious", "--db", db, tree], check=True)


def latency(w, tree, rate):
    files = [os.path.join(tree, "wp-content", "themes", f"bench-{i % 50}.php") for i in range(N)]
    os.makedirs(os.path.dirname(files[0]), exist_ok=True)
    sent = {}
    for i, path in enumerate(files):
        before = time.monotonic()
        with open(path, "w") as f:
            f.write(f"<?php // {rate} {i}\n")
        sent[i] = (before, time.monotonic(), path)
        time.sleep(1.0 / rate)
    time.sleep(0.5)
    # Each write's event is the first event for that path after its open(); one seen
    # before the writer read its clock after close() counts as 0 ms (as in tail()).
    lat = []
    with w.cond:
        events = list(w.lines)
    by_path = {}
    for t, e in events:
        by_path.setdefault(e["path"], []).append(t)
    missed = 0
    for i, (before, t0, path) in sent.items():
        ts = [t for t in by_path.get(path, []) if t >= before]
        if ts:
            lat.append(max(0.0, ts[0] - t0) * 1000)
        else:
            missed += 1
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
    return p(0.50), p(0.99), missed


def burst(w, dirpath, count):
    os.makedirs(dirpath, exist_ok=True)
    t0 = time.monotonic()
    paths = []
    for i in range(count):
        p = os.path.join(dirpath, f"b{i}.txt")
        with open(p, "w") as f:
            f.write(str(i))
        paths.append(p)
    written = time.monotonic()
    want = set(paths)
    deadline = time.monotonic() + 30
    last = None
    while time.monotonic() < deadline:
        with w.cond:
            seen = {e["path"]: t for t, e in w.lines if e["kind"] == "new" and e["path"] in want}
        if len(seen) == count:
            last = max(seen.values())
            break
        time.sleep(0.05)
    with w.cond:
        seen = {e["path"] for t, e in w.lines if e["kind"] == "new" and e["path"] in want}
    return count - len(seen), (last - t0) if last else float("nan"), written - t0, (last - written) if last else float("nan")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    if "FIM" not in os.environ:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="fim-wbench-")
    tree = os.path.join(work, "wordpress")
    shutil.copytree(os.path.join(DATA, "wordpress"), tree, symlinks=True)
    db = os.path.join(work, "wp.db")
    init(tree, db)
    tail(tree, db)
    if MODE == "tail":
        shutil.rmtree(work, ignore_errors=True)
        return

    w = Watch(db, tree)
    for rate in (20, 100):
        p50, p99, missed = latency(w, tree, rate)
        print(f"latency close()->event at {rate}/s over {N} writes: p50 {p50:.2f} ms, p99 {p99:.2f} ms, missed {missed}")
    missed, took, writing, lag = burst(w, os.path.join(tree, "wp-content", "uploads", "burst-new"), 5000)
    print(f"burst of 5000 new files into a just-created directory: missed {missed}, all reported {took:.2f} s after the first write (writing took {writing:.2f} s; last event {lag * 1000:.0f} ms after the last write)")
    w.stop()

    queue = "/proc/sys/fs/inotify/max_queued_events"
    old = open(queue).read().strip()
    try:
        with open(queue, "w") as f:
            f.write("256")
        init(tree, db)
        w = Watch(db, tree)
    finally:
        with open(queue, "w") as f:
            f.write(old)
    missed, took, writing, lag = burst(w, os.path.join(tree, "wp-content", "uploads"), 5000)
    print(f"burst of 5000 new files into an existing directory, max_queued_events=256: missed {missed}, all reported {took:.2f} s after the first write (writing took {writing:.2f} s; last event {lag * 1000:.0f} ms after the last write)")
    w.stop()

    linux_db = os.path.join(work, "linux.db")
    init(os.path.join(DATA, "linux"), linux_db)
    w = Watch(linux_db, os.path.join(DATA, "linux"))
    time.sleep(1)
    before = cpu_seconds(w.proc.pid)
    time.sleep(10)
    idle = (cpu_seconds(w.proc.pid) - before) / 10 * 100
    print(f"watching the Linux source ({sum(len(f) + len(d) for _, d, f in os.walk(os.path.join(DATA, 'linux')))} entries): RSS {rss_mb(w.proc.pid):.1f} MB, idle CPU {idle:.3f}%")
    w.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
