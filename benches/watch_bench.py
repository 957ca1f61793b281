#!/usr/bin/env python3
"""Benchmark of `fim watch` (not a test): latency from a file's close() to its event
line, bursts of new files (with and without a lowered inotify queue), RSS while watching
the Linux source tree, and CPU while idle.

    python3 benches/watch_bench.py            # after benches/compare.sh prepared benches/data
    N=2000 python3 benches/watch_bench.py     # more modifications per rate

Run as root (it lowers fs.inotify.max_queued_events for one burst and restores it).
"""
import json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIM = os.path.join(ROOT, "target", "release", "fim")
DATA = os.path.join(ROOT, "benches", "data")
N = int(os.environ.get("N", "1000"))


class Watch:
    def __init__(self, db, tree):
        self.tmp = tempfile.mkdtemp(prefix="fim-watch-bench-")
        sock_path = os.path.join(self.tmp, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(sock_path)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        env.pop("RUST_LOG", None)
        self.proc = subprocess.Popen([FIM, "watch", "-q", "--db", db], stdout=subprocess.PIPE,
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
    subprocess.run([FIM, "init", "-q", "--force", "--db", db, tree], check=True)


def latency(w, tree, rate):
    files = [os.path.join(tree, "wp-content", "themes", f"bench-{i % 50}.php") for i in range(N)]
    os.makedirs(os.path.dirname(files[0]), exist_ok=True)
    sent = {}
    for i, path in enumerate(files):
        with open(path, "w") as f:
            f.write(f"<?php // {rate} {i}\n")
        sent[i] = (time.monotonic(), path, f"<?php // {rate} {i}\n")
        time.sleep(1.0 / rate)
    import hashlib  # noqa: F401  (blake3 is not in the stdlib: match on path and order)
    time.sleep(0.5)
    # Each write's event is the first event for that path after its close().
    lat = []
    with w.cond:
        events = list(w.lines)
    by_path = {}
    for t, e in events:
        by_path.setdefault(e["path"], []).append(t)
    missed = 0
    for i, (t0, path, _) in sent.items():
        ts = [t for t in by_path.get(path, []) if t >= t0]
        if ts:
            lat.append((ts[0] - t0) * 1000)
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
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="fim-wbench-")
    tree = os.path.join(work, "wordpress")
    shutil.copytree(os.path.join(DATA, "wordpress"), tree, symlinks=True)
    db = os.path.join(work, "wp.db")
    init(tree, db)

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
