#!/usr/bin/env python3
"""A 1M-line Debian auth.log (traditional stamps) for benches/auth.sh: mostly sshd noise
from the internet (failed passwords, invalid users, preauth disconnects) from 20,000
addresses, cron and systemd-logind sessions, a few accepted logins, sudo commands.

    benches/authlog.py OUT [LINES]
"""
import random
import sys
import time

out, lines = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
rng = random.Random(12)
start = time.mktime((2026, 11, 30, 0, 0, 0, 0, 0, -1))
users = ["root", "admin", "oracle", "test", "ubuntu", "pi", "postgres", "git", "user", "ftp"]
with open(out, "w") as f:
    for i in range(lines):
        t = time.strftime("%b %e %H:%M:%S", time.localtime(start + i * 0.08))
        ip = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" \
            if rng.random() < 0.5 else f"203.0.{rng.randrange(80)}.{rng.randrange(1, 255)}"
        pid = rng.randrange(1000, 99999)
        port = rng.randrange(1024, 65535)
        u = rng.choice(users)
        r = rng.random()
        if r < 0.35:
            msg = f"sshd[{pid}]: Failed password for {u} from {ip} port {port} ssh2"
        elif r < 0.5:
            msg = f"sshd[{pid}]: Failed password for invalid user {u}{rng.randrange(100)} from {ip} port {port} ssh2"
        elif r < 0.62:
            msg = f"sshd[{pid}]: Invalid user {u}{rng.randrange(100)} from {ip} port {port}"
        elif r < 0.8:
            msg = f"sshd[{pid}]: Connection closed by authenticating user {u} {ip} port {port} [preauth]"
        elif r < 0.9:
            msg = f"sshd[{pid}]: Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"
        elif r < 0.95:
            msg = f"CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
        elif r < 0.98:
            msg = f"systemd-logind[512]: New session {pid} of user deploy."
        elif r < 0.995:
            msg = f"sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl reload nginx"
        else:
            msg = f"sshd[{pid}]: Accepted publickey for deploy from 192.0.2.{rng.randrange(1, 20)} port {port} ssh2: ED25519 SHA256:Yk3LHZ0n1d0mNq0V9v1m9rX9aQ"
        f.write(f"{t} web {msg}\n")
