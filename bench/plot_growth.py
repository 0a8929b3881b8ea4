#!/usr/bin/env python3
"""Draws the growth scenario of a fieldlink-bench JSON file as one PNG.

    cargo run --release -p fieldlink-bench -- --only growth --json bench.json
    python3 bench/plot_growth.py bench.json docs/benchmarks-growth.png

Needs matplotlib (`python3 -m pip install matplotlib`). Three panels share
the x axis (terminals, log scale): acknowledged records per second, ack and
push latency (p50/p99), and how much the server's resident memory grew per
terminal added since the previous size.
A cost that grows faster than the fleet shows as a rising per-terminal line
or a falling rate.
"""

import json
import re
import sys


def growth_series(figures):
    """{metric name: {terminals: value}} from the growth figures."""
    series = {}
    for figure in figures:
        if figure["scenario"] != "growth":
            continue
        match = re.match(r"(\d+) terminals: (.+)", figure["metric"])
        if not match:
            continue
        count, name = int(match.group(1)), match.group(2)
        series.setdefault(name, {})[count] = figure["value"]
    return series


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_growth.py BENCH.json OUT.png")
    with open(sys.argv[1], encoding="utf-8") as file:
        series = growth_series(json.load(file))
    if not series:
        sys.exit("no growth figures in " + sys.argv[1] + " (run with --only growth or the full run)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def line(axis, name, label, style="-o"):
        points = sorted(series.get(name, {}).items())
        if points:
            axis.plot([p[0] for p in points], [p[1] for p in points], style, label=label)

    figure, (rate, latency, memory) = plt.subplots(3, 1, figsize=(7, 9), sharex=True)
    line(rate, "acks/s", "acknowledged records/s")
    rate.set_ylabel("records/s")
    line(latency, "ack p50", "ack p50")
    line(latency, "ack p99", "ack p99")
    line(latency, "push p50", "push p50", "-s")
    line(latency, "push p99", "push p99", "-s")
    latency.set_ylabel("ms")
    latency.set_yscale("log")
    line(memory, "server KiB per added terminal", "server RSS growth per added terminal")
    memory.set_ylabel("KiB")
    memory.set_yscale("log")
    memory.set_xlabel("terminals")
    memory.set_xscale("log", base=2)
    for axis in (rate, latency, memory):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="best", fontsize="small")
    figure.suptitle("fieldlink growth: 1 to 1,024 terminals (fieldlink-bench)")
    figure.tight_layout()
    figure.savefig(sys.argv[2], dpi=100)
    print("wrote", sys.argv[2])


if __name__ == "__main__":
    main()
