#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn iocp_bench output into tables, CSV files and a chart.

usage: report.py GUEST_OUTPUT RESULTS_DIR [VM_LOG [LOAD_LOG]]

GUEST_OUTPUT is what iocp_bench printed in the guest (lines "M,..." with
the setup, "R,workload,config,backend,round,metric=value,..." with one
measurement each, "T,..." with timings). VM_LOG, what scripts/vm.sh
printed, names the accelerator ("vm: booting RELEASE (bench, tcg)").
LOAD_LOG holds the host's 1-minute load average sampled during the run,
one number a line. Writes into RESULTS_DIR:

  raw.csv       one row per measurement
  summary.csv   median, min and max per workload, config, metric, backend,
                and iocp's median divided by the backend's
  summary.txt   the tables (reStructuredText simple tables), also printed
  chart.png     the main medians with their min-max range (gnuplot)
"""

import csv
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

BACKENDS = ["iocp", "epoll-excl", "epoll", "epoll-oneshot", "io_uring", "condvar", "eventfd",
            "iocp-noblock"]

WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "scale"]

SHORT = {"epoll-excl": "excl", "epoll": "epoll", "epoll-oneshot": "1shot", "io_uring": "uring",
         "condvar": "cond", "eventfd": "efd", "iocp-noblock": "noblk"}

# metric: (title, unit scale, decimals, which way is better)
METRICS = {
    "W1": [("ns_per_packet", "ns per packet", 1, 0, "lower")],
    "W2": [
        ("p50_ns", "round trip p50, us", 1e-3, 1, "lower"),
        ("p99_ns", "round trip p99, us", 1e-3, 0, "lower"),
        ("p999_ns", "round trip p99.9, us", 1e-3, 0, "lower"),
        ("vcsw_per_roundtrip", "voluntary context switches per round trip", 1, 2, "lower"),
    ],
    "W3": [
        ("items_per_s", "throughput, thousand items/s", 1e-3, 1, "higher"),
        ("vcsw_per_item", "voluntary context switches per item", 1, 2, "lower"),
        ("ivcsw_per_item", "involuntary context switches per item", 1, 2, "lower"),
        ("peak_running", "peak workers inside the handler at once", 1, 0, "lower"),
        ("p99_ns", "p99 latency from post to handler, us", 1e-3, 0, "lower"),
    ],
    "W4": [
        ("woken_per_burst", "threads woken per burst", 1, 2, "lower"),
        ("sleeps_per_burst", "wakeups (worker sleeps) per burst", 1, 2, "lower"),
        ("drain_p50_ns", "time to drain a burst (median of bursts), us", 1e-3, 1, "lower"),
    ],
    "W5": [
        ("requests_per_s", "requests per second, thousands", 1e-3, 2, "higher"),
        ("server_us_per_request", "server CPU time per request, us", 1, 1, "lower"),
        ("client_us_per_request", "client CPU time per request, us (the same client)", 1, 1,
         "lower"),
        ("switches_per_request", "context switches per request, all CPUs", 1, 2, "lower"),
    ],
    "scale": [
        ("ns_per_event", "ns per readiness event (write, wait, read)", 1, 0, "lower"),
        ("kmem_per_fd", "kernel memory per watched fd, bytes (Slab)", 1, 0, "lower"),
    ],
}

TITLES = {
    "W1": "W1: one thread posts a batch, then dequeues it",
    "W2": "W2: two-thread wake ping-pong",
    "W3": "W3: thread pool on 2 vCPUs (window of 32 items in flight)",
    "W4": "W4: bursts of posts to 16 idle waiters (5 us per item)",
    "W5": "W5: TCP echo over loopback, one request in flight per connection",
    "scale": "Scale: readiness events against the number of watched eventfds",
}


def parse(path):
    meta, rows, times = {}, [], {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip().replace("\r", "")
            if line.startswith("M,"):
                for kv in line[2:].split(","):
                    if "=" in kv:
                        k, v = kv.split("=", 1)
                        meta[k] = v
            elif line.startswith("T,"):
                parts = line.split(",")
                if len(parts) == 3:
                    times[parts[1]] = float(parts[2])
            elif line.startswith("R,"):
                parts = line.split(",")
                if len(parts) < 6:
                    continue
                row = {"workload": parts[1], "config": parts[2],
                       "backend": parts[3], "round": int(parts[4])}
                for kv in parts[5:]:
                    if "=" in kv:
                        k, v = kv.split("=", 1)
                        row[k] = float(v)
                rows.append(row)
    return meta, rows, times


def ordered(seq):
    seen = []
    for x in seq:
        if x not in seen:
            seen.append(x)
    return seen


def fmt(v, scale, dec):
    if v is None:
        return "n/a"
    v *= scale
    if dec == 0 or abs(v) >= 100:
        return "%d" % round(v)
    return "%.*f" % (dec, v)


def summarise(rows):
    """{(workload, config, backend, metric): (median, min, max, n)}"""
    acc = {}
    for r in rows:
        for k, v in r.items():
            if k in ("workload", "config", "backend", "round"):
                continue
            acc.setdefault((r["workload"], r["config"], r["backend"], k), []).append(v)
    return {k: (statistics.median(v), min(v), max(v), len(v)) for k, v in acc.items()}


def rst_table(header, body):
    cols = list(zip(*([header] + body)))
    widths = [max(len(c) for c in col) for col in cols]
    rule = "  ".join("=" * w for w in widths)
    out = [rule, "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), rule]
    for row in body:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    out.append(rule)
    return out


def tables(rows, summ):
    out = []
    for wl in WORKLOADS:
        wrows = [r for r in rows if r["workload"] == wl]
        if not wrows:
            continue
        configs = ordered(r["config"] for r in wrows)
        backends = [b for b in BACKENDS if any(r["backend"] == b for r in wrows)]
        peers = [b for b in backends if b != "iocp"]
        have_iocp = "iocp" in backends
        out += [TITLES[wl], "-" * len(TITLES[wl]), ""]
        for metric, title, scale, dec, better in METRICS[wl]:
            if not any((wl, c, b, metric) in summ for c in configs for b in backends):
                continue
            out.append("%s (%s is better): median (min-max) of %d rounds"
                       % (title, better, max(s[3] for k, s in summ.items()
                                             if k[0] == wl)))
            if have_iocp:
                out.append("and iocp's median divided by each peer's")
            out.append("")
            header = ["config"] + backends
            extra = metric == "peak_running" and have_iocp
            if extra:
                header.append("iocp stats")
            if have_iocp:
                header += ["iocp/" + SHORT[p] for p in peers]
            body = []
            for cfg in configs:
                row = [cfg]
                for b in backends:
                    s = summ.get((wl, cfg, b, metric))
                    row.append("%s (%s-%s)" % (fmt(s[0], scale, dec), fmt(s[1], scale, dec),
                                                fmt(s[2], scale, dec)) if s else "n/a")
                if extra:
                    s = summ.get((wl, cfg, "iocp", "iocp_peak_running"))
                    row.append(fmt(s[0], 1, 0) if s else "n/a")
                if have_iocp:
                    mine = summ.get((wl, cfg, "iocp", metric))
                    for p in peers:
                        s = summ.get((wl, cfg, p, metric))
                        if mine and s and s[0]:
                            row.append("%.2f" % (mine[0] / s[0]))
                        else:
                            row.append("n/a")
                # A metric measured in some configurations only (kmem_per_fd).
                if any(summ.get((wl, cfg, b, metric)) for b in backends):
                    body.append(row)
            out += rst_table(header, body) + [""]
    return out


def write_csvs(rows, summ, outdir):
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(os.path.join(outdir, "raw.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in rows:
            w.writerow([("%g" % r[k] if isinstance(r[k], float) else r[k])
                        if k in r else "" for k in keys])
    with open(os.path.join(outdir, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "config", "metric", "backend", "median", "min", "max",
                    "rounds", "iocp_ratio"])
        for wl in WORKLOADS:
            configs = ordered(r["config"] for r in rows if r["workload"] == wl)
            for cfg in configs:
                for metric, *_ in METRICS[wl] + ([("iocp_peak_running",)] if wl == "W3" else []):
                    mine = summ.get((wl, cfg, "iocp", metric))
                    for b in BACKENDS:
                        s = summ.get((wl, cfg, b, metric))
                        if not s or (metric == "iocp_peak_running" and b != "iocp"):
                            continue
                        ratio = "%.3f" % (mine[0] / s[0]) if mine and s[0] and b != "iocp" else ""
                        w.writerow([wl, cfg, metric, b, "%g" % s[0], "%g" % s[1], "%g" % s[2],
                                    s[3], ratio])


def chart(rows, summ, outdir):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("report: gnuplot not found, no chart (make deps installs gnuplot-nox)")
        return
    tmp = tempfile.mkdtemp(prefix="iocp-bench-")
    panels = [
        ("W1", None, "ns_per_packet", 1,
         "W1: ns per packet, by batch (medians, bars: min-max)", True),
        ("W2", None, "p50_ns", 1e-3, "W2: round trip p50 (us)", True),
        ("W3", "work=5us", "items_per_s", 1e-3, "W3: k items/s, 5 us items, by workers", False),
        ("W3", "work=5us block=10%", "items_per_s", 1e-3,
         "W3: k items/s, 5 us items, 10% block", False),
        ("W3", "work=5us", "vcsw_per_item", 1, "W3: voluntary switches/item, 5 us items", False),
        ("W4", None, "woken_per_burst", 1, "W4: threads woken per burst, by burst", False),
        ("W5", "msg=128B", "requests_per_s", 1e-3, "W5: k requests/s, 128 B, by connections",
         False),
        ("W5", "msg=128B", "server_us_per_request", 1,
         "W5: server CPU us per request, 128 B", False),
        ("scale", None, "ns_per_event", 1, "Scale: ns per readiness event, by fds", False),
    ]
    colors = ["#d62728", "#1f77b4", "#8c564b", "#17becf", "#2ca02c", "#ff7f0e", "#7f7f7f",
              "#9467bd"]
    script = ['set terminal pngcairo size 1500,1300 font "sans,10"',
              'set output "%s"' % os.path.join(outdir, "chart.png"),
              "set style data histogram",
              "set style histogram errorbars gap 2 lw 1",
              "set style fill solid 0.85 border -1",
              "set key outside top center horizontal font ',9' samplen 1 width -1",
              "set offsets 0, 0, graph 0.05, 0",
              "set grid ytics",
              "set xtics font ',9' nomirror",
              "set bars 0.3",
              "set multiplot layout 3,3"]
    for n, (wl, sel, metric, scale, title, logy) in enumerate(panels):
        configs = [c for c in ordered(r["config"] for r in rows if r["workload"] == wl)
                   if sel is None or c.split(" ", 1)[-1] == sel]
        backends = [b for b in BACKENDS
                    if any((wl, c, b, metric) in summ for c in configs)]
        if not configs or not backends:
            continue
        dat = os.path.join(tmp, "p%d.dat" % n)
        with open(dat, "w") as f:
            for c in configs:
                label = (c.split(" ")[0] if wl in ("W3", "W5")
                         else c.replace("waiters=16 ", ""))
                vals = []
                for b in backends:
                    s = summ.get((wl, c, b, metric))
                    vals += ["%g" % (x * scale) for x in s[:3]] if s else ["NaN"] * 3
                f.write('"%s" %s\n' % (label, " ".join(vals)))
        script.append("set title '%s'" % title.replace("_", "\\_"))
        script.append("set logscale y" if logy else "unset logscale y")
        script.append("set yrange [*:*]" if logy else "set yrange [0:*]")
        plots = []
        for i, b in enumerate(backends):
            c = 2 + 3 * i
            plots.append("'%s' using %d:%d:%d:xtic(1) title '%s' lc rgb '%s'"
                         % (dat, c, c + 1, c + 2, b.replace("_", "\\_"),
                            colors[BACKENDS.index(b)]))
        script.append("plot " + ", ".join(plots))
    script.append("unset multiplot")
    gp = os.path.join(tmp, "chart.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    res = subprocess.run([gnuplot, gp], capture_output=True, text=True)
    if res.returncode:
        print("report: gnuplot failed:\n" + res.stderr)
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__)
    meta, rows, times = parse(sys.argv[1])
    if len(sys.argv) >= 4:
        with open(sys.argv[3], errors="replace") as f:
            m = re.search(r"^vm: booting \S+ \(\w+, (\w+)\)", f.read(), re.M)
        if m:
            meta["accel"] = m.group(1)
    load = "not sampled"
    if len(sys.argv) == 5:
        with open(sys.argv[4]) as f:
            samples = [float(x) for x in f.read().split()]
        if samples:
            load = "first %.2f, median %.2f, max %.2f (%d samples)" % (
                samples[0], statistics.median(samples), max(samples), len(samples))
    if not rows:
        sys.exit("report: no results in %s" % sys.argv[1])
    outdir = sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    summ = summarise(rows)
    head = [
        "iocp_bench results, %s" % datetime.date.today().isoformat(),
        "",
        "guest kernel %s, accelerator %s, %s vCPUs, clocksource %s (%s at the end)"
        % (meta.get("kernel", "?"), meta.get("accel", "?").upper(), meta.get("cpus", "?"),
           meta.get("clocksource", "?"), meta.get("clocksource_end", "?")),
        "%s rounds, backends interleaved in each round, %s ms per measurement;"
        % (meta.get("rounds", "?"), meta.get("measure_ms", "?")),
        "guest run time %s s (W1 %s, W2 %s, W3 %s, W4 %s, W5 %s, scale %s)"
        % tuple(("%.0f" % times[k]) if k in times else "?"
                for k in ["total"] + WORKLOADS),
        "host: %d CPUs; 1-minute load average during the run: %s;"
        % (os.cpu_count(), load),
        "the guest's own 2 vCPUs account for up to about 2 of it",
        "",
    ]
    text = head + tables(rows, summ)
    with open(os.path.join(outdir, "summary.txt"), "w") as f:
        f.write("\n".join(text).rstrip() + "\n")
    write_csvs(rows, summ, outdir)
    chart(rows, summ, outdir)
    print("\n".join(text))
    print("bench: results in %s/ (summary.txt, summary.csv, raw.csv, chart.png)" % outdir)


if __name__ == "__main__":
    main()
