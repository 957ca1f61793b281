#!/usr/bin/env python3
"""A labeled combined access log for benchmarks and detection quality.

    weblog.py generate LOG LABELS [--lines N] [--clients N] [--seed S]
        LOG: one day of combined-format lines, in time order: people browsing (a page
        and its assets), crawlers, monitoring, users who mistype a password, and
        attackers of every kind fim detects, plus a few minutes when the server fails
        (5xx for everyone). LABELS: one line per client address, tab-separated:
        ADDRESS, "attacker" or "benign", and what it does (an attack kind, or
        browse/crawler/monitor/login).
    weblog.py score LABELS DETECTIONS.jsonl
        Per detector: how many attackers it caught (of those labeled with its kind, and
        of all attackers) and how many benign clients it flagged (the target is 0).

Deterministic for a given seed. Standard library only.
"""
import ipaddress
import json
import random
import sys
from datetime import datetime, timedelta, timezone

DAY = 86400
START = datetime(2026, 11, 30, 0, 0, 0, tzinfo=timezone.utc)

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
]
CRAWLERS = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "66.249.66."),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "157.55.39."),
]
MONITOR_UA = "check_http/v2.3.3 (monitoring-plugins 2.3.3)"
SENSITIVE = [
    "/.env", "/.git/config", "/.git/HEAD", "/wp-config.php.bak", "/.htpasswd", "/backup.sql",
    "/phpinfo.php", "/db.sql.gz", "/.aws/credentials", "/config.php~", "/.svn/entries",
    "/site.tar.gz", "/.DS_Store", "/wp-config.php.save", "/dump.sql",
]
BACKDOORS = ["/shell.php", "/c99.php", "/r57.php", "/wso.php", "/b374k.php", "/alfa.php",
             "/wp-content/uploads/shell.php", "/cmd.php", "/indoxploit.php", "/up.php"]
ADMINS = ["/phpmyadmin/", "/phpMyAdmin/index.php", "/pma/", "/myadmin/", "/mysql/admin/",
          "/manager/html", "/cpanel", "/dbadmin/", "/adminer.php", "/administrator/"]
TRAVERSALS = ["/index.php?page=../../../../etc/passwd", "/../../../../etc/passwd",
              "/index.php?file=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
              "/download.php?f=%252e%252e%252f%252e%252e%252fetc%252fshadow",
              "/index.php?page=php://filter/convert.base64-encode/resource=index.php",
              "/static/..%2f..%2f..%2fetc/passwd", "/cgi-bin/.%2e/.%2e/.%2e/bin/sh"]
SQLI = ["/item.php?id=1%27%20OR%20%271%27=%271", "/item.php?id=1%20UNION%20SELECT%20NULL,NULL--",
        "/item.php?id=1%27%20AND%20SLEEP(5)--%20-", "/item.php?id=1)%20AND%201=CONVERT(int,@@version)--",
        "/search?q=%27%20UNION%20ALL%20SELECT%20table_name%20FROM%20information_schema.tables--",
        "/item.php?id=1%20AND%20EXTRACTVALUE(1,CONCAT(0x5c,version()))",
        "/item.php?id=-1%27%20ORDER%20BY%2010--%20"]
XSS = ["/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "/search?q=%3Cimg%20src=x%20onerror=alert(1)%3E",
       "/search?q=%22%3E%3Csvg/onload=alert(document.cookie)%3E", "/search?q=javascript:alert(1)",
       "/search?q=%253Cscript%253Ealert(1)%253C%252Fscript%253E", "/search?q=%3Cbody%20onload=alert(1)%3E"]
SCANNER_UAS = ["Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)", "sqlmap/1.7.2#stable (https://sqlmap.org)",
               "gobuster/3.5", "Wfuzz/3.1.0", "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
               "masscan/1.3 (https://github.com/robertdavidgraham/masscan)"]
# Attacks that are a handful of requests from a list: (paths, fewest, most, user agent).
PROBES = {
    "sensitive-file-probe": (SENSITIVE, 5, 12, "curl/8.5.0"),
    "backdoor-probe": (BACKDOORS, 3, 8, "Mozilla/5.0"),
    "admin-probe": (ADMINS, 5, 10, "Mozilla/5.0"),
    "path-traversal": (TRAVERSALS, 4, 7, "curl/8.5.0"),
    "xss": (XSS, 4, 6, "Mozilla/5.0"),
}
ATTACKS = ["sensitive-file-probe", "backdoor-probe", "admin-probe", "scanner", "path-traversal",
           "sqli", "xss", "not-found-burst", "brute-force", "flood"]


class Site:
    def __init__(self, rng):
        self.pages = ["/"] + [f"/blog/{y}/{m:02}/post-{i}/" for i, (y, m) in
                              enumerate((rng.choice([2024, 2025, 2026]), rng.randint(1, 12)) for _ in range(1999))]
        self.assets = ["/wp-content/themes/site/style.css", "/wp-includes/js/jquery/jquery.min.js",
                       "/wp-content/themes/site/app.js", "/wp-content/uploads/logo.png",
                       "/wp-content/themes/site/fonts/inter.woff2"]

    def page(self, rng):
        # A few pages are popular, most are not (Zipf-like).
        return self.pages[min(int(rng.paretovariate(1.2)) - 1, len(self.pages) - 1)]


class Addresses:
    """Distinct public-looking addresses, IPv4 mostly, some IPv6."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def new(self):
        while True:
            if self.rng.random() < 0.1:
                a = f"2001:db8:{self.rng.randrange(65536):x}:{self.rng.randrange(65536):x}::{self.rng.randrange(1, 65536):x}"
            else:
                a = f"{self.rng.randint(1, 223)}.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randint(1, 254)}"
            if a not in self.used and not a.startswith(("10.", "127.", "66.249.66.", "157.55.39.")):
                self.used.add(a)
                return a


def line(addr, t, method, path, status, size, referer, ua, user="-"):
    stamp = (START + timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{addr} - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "{referer}" "{ua}"'


def generate(log_path, labels_path, lines, clients, seed):
    rng = random.Random(seed)
    site = Site(rng)
    addrs = Addresses(rng)
    records = []  # (time, text)
    labels = {}

    def add(addr, t, *fields, **kw):
        records.append((t, line(addr, t, *fields, **kw)))

    # Fixed benign clients: crawlers (their own networks), monitoring, people logging in.
    for ua, net in CRAWLERS:
        for host in range(1, 6):
            addr = f"{net}{host}"
            labels[addr] = ("benign", "crawler")
            t = rng.uniform(0, 600)
            add(addr, t, "GET", "/robots.txt", 200, 120, "-", ua)
            for _ in range(lines // 400):
                t += rng.expovariate(1 / (DAY / (lines // 400)))
                page = site.page(rng)
                add(addr, min(t, DAY - 1), "GET", page, 200 if rng.random() > 0.02 else 404, rng.randint(8000, 40000), "-", ua)
    for _ in range(3):
        addr = addrs.new()
        labels[addr] = ("benign", "monitor")
        for t in range(0, DAY, 60):
            add(addr, t + rng.random(), "GET", "/", 200, 24571, "-", MONITOR_UA)
    for _ in range(200):
        addr = addrs.new()
        labels[addr] = ("benign", "login")
        t, ua = rng.uniform(0, DAY - 60), rng.choice(BROWSERS)
        add(addr, t, "GET", "/wp-login.php", 200, 4200, "-", ua)
        for i, status in enumerate([200, 200, 302]):
            add(addr, t + 5 + 6 * i, "POST", "/wp-login.php", status, 4400 if status == 200 else 0, "https://example.org/wp-login.php", ua)
        add(addr, t + 20, "GET", "/wp-admin/", 200, 52000, "https://example.org/wp-login.php", ua)

    # Attackers: each kind, from addresses of their own.
    def attack(kind, addr, t):
        scanner_ua = rng.choice(SCANNER_UAS)
        if kind in PROBES:
            paths, least, most, ua = PROBES[kind]
            for p in rng.sample(paths, rng.randint(least, most)):
                served = kind == "path-traversal" or (p == "/.env" and rng.random() < 0.3)
                add(addr, t, "GET", p, rng.choice([200, 400]) if served else 404, 153, "-", ua)
                t += rng.uniform(0.05, 1)
        elif kind == "scanner":
            for i in range(rng.randint(80, 300)):
                p = rng.choice([f"/{w}{i}" for w in ("admin", "old", "test", "backup", "cgi-bin/x")] + SENSITIVE + ADMINS)
                add(addr, t, "GET", p, 404, 153, "-", scanner_ua)
                t += rng.uniform(0.01, 0.2)
        elif kind == "sqli":
            for _ in range(rng.randint(10, 40)):
                add(addr, t, "GET", rng.choice(SQLI), rng.choice([200, 500]), 3000, "-", "Mozilla/5.0")
                t += rng.uniform(0.1, 1)
        elif kind == "not-found-burst":
            ua = rng.choice(BROWSERS)
            for i in range(rng.randint(20, 60)):
                add(addr, t, "GET", f"/{rng.choice(['wp', 'old', 'new', 'site'])}/{i}.php", 404, 153, "-", ua)
                t += rng.uniform(0.05, 0.4)
        elif kind == "brute-force":
            ua = rng.choice(BROWSERS)
            target = rng.choice(["/wp-login.php", "/xmlrpc.php"])
            for _ in range(rng.randint(20, 200)):
                add(addr, t, "POST", target, 200, 4400, "-", ua)
                t += rng.uniform(0.2, 2)
        elif kind == "flood":
            ua = rng.choice(BROWSERS)
            for _ in range(rng.randint(1500, 3000)):
                add(addr, t, "GET", site.page(rng), 200, 24571, "-", ua)
                t += rng.uniform(0.005, 0.04)

    attackers = 0
    for kind in ATTACKS:
        for _ in range(30):
            addr = addrs.new()
            labels[addr] = ("attacker", kind)
            attack(kind, addr, rng.uniform(0, DAY - 600))
            attackers += 1

    # People browsing: one fresh address each, until both budgets are spent.
    browsing = clients - len(labels)
    budget = lines - len(records)
    failing = (DAY * 0.6, DAY * 0.6 + 240)  # the server fails for 4 minutes
    for n in range(browsing):
        addr = addrs.new()
        labels[addr] = ("benign", "browse")
        left = browsing - n
        mean = max(budget / left, 1)
        t, ua = rng.uniform(0, DAY - 300), rng.choice(BROWSERS)
        size = max(1, min(int(rng.expovariate(1 / mean) + 0.5), 40, budget - (left - 1)))
        referer = "https://www.google.com/"
        for i in range(size):
            path = site.page(rng) if i % 5 == 0 else rng.choice(site.assets + ["/favicon.ico"])
            status = 404 if path == "/favicon.ico" else (304 if rng.random() < 0.1 else 200)
            if failing[0] <= t <= failing[1] and rng.random() < 0.7:
                status = 503
            add(addr, t, "GET", path, status, 0 if status in (304, 503) else rng.randint(500, 60000), referer, ua)
            referer = f"https://example.org{path}"
            t += rng.uniform(0.05, 2) if i % 5 else rng.uniform(3, 40)
        budget -= size

    records.sort(key=lambda r: r[0])
    with open(log_path, "w", encoding="utf-8") as f:
        for _, text in records:
            f.write(text + "\n")
    with open(labels_path, "w", encoding="utf-8") as f:
        for addr, (who, what) in labels.items():
            f.write(f"{addr}\t{who}\t{what}\n")
    print(f"{log_path}: {len(records)} lines, {len(labels)} clients, {attackers} attackers, "
          f"the server failing from {failing[0]:.0f} s to {failing[1]:.0f} s")


def score(labels_path, detections_path):
    labels = {}
    with open(labels_path, encoding="utf-8") as f:
        for row in f:
            addr, who, what = row.rstrip("\n").split("\t")
            labels[ipaddress.ip_address(addr)] = (who, what)
    attackers_of = {}
    for addr, (who, what) in labels.items():
        if who == "attacker":
            attackers_of.setdefault(what, set()).add(addr)
    all_attackers = set().union(*attackers_of.values())
    caught, flagged, networks = {}, {}, {}
    with open(detections_path, encoding="utf-8") as f:
        for row in f:
            if not row.strip():
                continue
            e = json.loads(row)
            kind, client = e.get("kind"), e.get("client")
            if client is None:
                networks.setdefault(kind, 0)
                networks[kind] += 1
                continue
            net = ipaddress.ip_network(client, strict=False)
            members = [net.network_address] if net.num_addresses == 1 else [a for a in labels if a in net]
            for addr in members:
                who = labels.get(addr, ("unknown", ""))[0]
                (caught if who == "attacker" else flagged).setdefault(kind, set()).add(addr)
    print(f"{'detector':22} {'caught (its kind)':>18} {'caught (any)':>13} {'benign flagged':>15}")
    for kind in sorted(set(ATTACKS) | set(caught) | set(flagged)):
        mine = attackers_of.get(kind, set())
        got = caught.get(kind, set())
        own = f"{len(got & mine)}/{len(mine)}" if mine else "-"
        print(f"{kind:22} {own:>18} {len(got):>13} {len(flagged.get(kind, set())):>15}")
    for kind, n in sorted(networks.items()):
        print(f"{kind:22} {n} event(s) without a client (the server failing)")
    everyone = set().union(*caught.values()) if caught else set()
    benign = set().union(*flagged.values()) if flagged else set()
    print(f"attackers caught by any detector: {len(everyone & all_attackers)}/{len(all_attackers)}; "
          f"benign clients flagged: {len(benign)}")


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "generate":
        opts = dict(zip(args[3::2], args[4::2]))
        generate(args[1], args[2], int(opts.get("--lines", 1_000_000)),
                 int(opts.get("--clients", 500_000)), int(opts.get("--seed", 11)))
    elif len(args) == 3 and args[0] == "score":
        score(args[1], args[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
