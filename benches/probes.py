#!/usr/bin/env python3
"""Probe benchmarks (run by benches/probes.sh with a release fim):

1. CPU per 100 probes a minute: 100 HTTP and 100 HTTPS probes of a local site, each
   every second for 30 s (100x the rate of 100 probes a minute), CPU of `fim watch`
   from /proc/PID/stat, minus the same daemon idle with no probe.
2. Phase-timing precision: the same target (TLS, 40 ms server think time) timed by
   fim (probe_checks of the baseline) and by `curl -w '%{time_connect}
   %{time_appconnect} %{time_starttransfer}'`, medians compared. curl's times are
   cumulative from the start; fim's are per phase, so fim's connect+tls and
   connect+tls+ttfb are compared with them.
3. Delay from failure to `down`: computed for the defaults, and measured on a scaled
   copy (interval 1 s, failures 3) from switching the site to 500 to the event on
   stdout.
"""

import http.server
import os
import socketserver
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

FIM = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="fim-probe-bench-")
MODE = {"status": 200, "delay": 0.0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if MODE["delay"]:
            time.sleep(MODE["delay"])
        body = b"<html>welcome to the shop</html>"
        self.send_response(MODE["status"])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass  # a client gone mid-answer (curl, a stopped daemon) is no news here


def serve(context=None):
    server = Server(("127.0.0.1", 0), Handler)
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def openssl(*args):
    subprocess.run(["openssl", *args], cwd=WORK, check=True, capture_output=True)


def make_certs():
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=bench CA")
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=shop.test")
    with open(os.path.join(WORK, "ext"), "w") as f:
        f.write("subjectAltName=DNS:shop.test\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", "2", "-days", "30", "-extfile", "ext", "-out", "leaf.pem")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(WORK, "leaf.pem"), os.path.join(WORK, "leaf.key"))
    return ctx


def daemon(name, probes):
    """Init a baseline with `probes` (TOML) and start `fim watch`; returns (proc, db)."""
    root = os.path.join(WORK, name)
    os.makedirs(root, exist_ok=True)
    policy = os.path.join(WORK, name + ".toml")
    with open(policy, "w") as f:
        f.write(f'[[watch]]\npath = "{root}"\n\n{probes}')
    db = os.path.join(WORK, name + ".db")
    subprocess.run([FIM, "init", "--db", db, "--policy", policy], check=True,
                   capture_output=True)
    proc = subprocess.Popen([FIM, "watch", "--db", db], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    return proc, db


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_over(proc, seconds):
    time.sleep(3)  # start-up and the first spread checks
    start = cpu_seconds(proc.pid)
    time.sleep(seconds)
    used = cpu_seconds(proc.pid) - start
    proc.terminate()
    proc.wait()
    return used


def bench_cpu(http_port, https_port):
    seconds = 30
    idle, _ = daemon("idle", "")
    idle_cpu = cpu_over(idle, seconds)
    results = {}
    for scheme, port, extra in [
        ("http", http_port, ""),
        ("https", https_port, f'resolve = "127.0.0.1:{https_port}"\nca = "{WORK}/ca.pem"\n'),
    ]:
        host = f"127.0.0.1:{port}" if scheme == "http" else "shop.test"
        probes = "".join(
            f'[[probe]]\nname = "p{i}"\nurl = "{scheme}://{host}/{i}"\ninterval = "1s"\n{extra}\n'
            for i in range(100)
        )
        proc, db = daemon(f"cpu-{scheme}", probes)
        used = cpu_over(proc, seconds) - idle_cpu
        checks = sqlite3.connect(db).execute("SELECT count(*) FROM probe_checks").fetchone()[0]
        # 100 probes a minute = 100 checks a minute.
        per_check = used / max(checks, 1)
        results[scheme] = (checks, per_check * 100, per_check * 100 / 60 * 100)
    print("CPU per 100 probes a minute (fim watch, idle daemon subtracted):")
    for scheme, (checks, cpu_min, percent) in results.items():
        print(f"  {scheme:5}: {checks} checks measured; {cpu_min * 1000:.1f} ms CPU per minute "
              f"= {percent:.3f} % of one core")


def bench_precision(https_port):
    MODE["delay"] = 0.040
    proc, db = daemon(
        "precision",
        f'[[probe]]\nname = "shop"\nurl = "https://shop.test/"\ninterval = "250ms"\n'
        f'resolve = "127.0.0.1:{https_port}"\nca = "{WORK}/ca.pem"\n',
    )
    curl = []
    for _ in range(40):
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--cacert", f"{WORK}/ca.pem",
             "--resolve", f"shop.test:{https_port}:127.0.0.1",
             "-w", "%{time_connect} %{time_appconnect} %{time_starttransfer}",
             f"https://shop.test:{https_port}/"],
            capture_output=True, text=True, check=True).stdout.split()
        curl.append([float(x) * 1000 for x in out])
        time.sleep(0.25)
    proc.terminate()
    proc.wait()
    rows = sqlite3.connect(db).execute(
        "SELECT connect_ms, tls_ms, ttfb_ms FROM probe_checks WHERE ok = 1").fetchall()
    fim = [[c, c + t, c + t + f] for c, t, f in rows]
    MODE["delay"] = 0.0
    print(f"Phase timings, median ms, cumulative as curl gives them ({len(fim)} fim checks, "
          f"{len(curl)} curl runs; server think time 40 ms):")
    for i, name in enumerate(["connect", "TLS done (appconnect)", "first byte (starttransfer)"]):
        f = statistics.median(r[i] for r in fim)
        c = statistics.median(r[i] for r in curl)
        print(f"  {name:28}: fim {f:7.3f}   curl {c:7.3f}   difference {f - c:+.3f}")


def bench_delay(http_port):
    print("Delay from failure to `down` with the defaults (interval 60s, failures 3, "
          "timeout 10s), computed:")
    print("  the first failed check comes 0-60 s after the failure (30 s on average), then "
          "2 more intervals:")
    print("  an answer like 500 or refused: 120-180 s, 150 s on average; a hang: +10 s "
          "(the timeout); + <=250 ms poll")
    proc, _ = daemon(
        "delay",
        f'[[probe]]\nname = "shop"\nurl = "http://127.0.0.1:{http_port}/"\ninterval = "1s"\n',
    )
    time.sleep(3)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    delays = []
    for _ in range(5):
        MODE["status"] = 500
        broke = time.time()
        while not any('"kind":"down"' in l for l in lines):
            time.sleep(0.01)
        delays.append(time.time() - broke)
        lines.clear()
        MODE["status"] = 200
        while not any('"kind":"recovered"' in l for l in lines):
            time.sleep(0.01)
        lines.clear()
        time.sleep(0.5)
    proc.terminate()
    proc.wait()
    print(f"  measured, scaled (interval 1 s, failures 3; expected 2.0-3.0 s + poll): "
          f"{', '.join(f'{d:.2f}' for d in delays)} s; median {statistics.median(delays):.2f} s")


def main():
    context = make_certs()
    http_port = serve()
    https_port = serve(context)
    bench_cpu(http_port, https_port)
    bench_precision(https_port)
    bench_delay(http_port)


if __name__ == "__main__":
    main()
