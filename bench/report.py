#!/usr/bin/python3
"""Turn a benchmark run directory into bench/RESULTS.md plus PNG plots.

Usage:
    bench/report.py RUN_DIR [--out bench/RESULTS.md] [--plots-dir bench/plots]
                            [--require-plots] [--rerun RUN_DIR]... [--append FILE]...

Inputs (in RUN_DIR):
  meta.json      {"command", "started", "commit", "machine": {...}, "versions": {...},
                  "pinning" (optional), "notes": [...]}, describing the whole run.
  results.jsonl  one JSON object per line, as printed by parley-bench and collected by
                 the runner. Every line has "workload" (w1_idle ... w8_search),
                 "server" (parley, bun, ws, socketio, ...), "run" (1..N) and "ok"
                 (bool), plus the workload's own fields (see WORKLOADS below). Unknown
                 extra fields are ignored. Blank lines are skipped. A line that is not
                 a JSON object, or lacks "workload", "server" or a boolean "ok", is an
                 error that names the line number (exit status 2).

Outputs:
  RESULTS.md (--out; default RESULTS.md next to this script, i.e. bench/RESULTS.md):
    1. title, date, machine, versions, the exact command, pinning, notes;
    2. a "Ratios" table: per workload/configuration the median of the headline metric
       for Parley and every peer, and the Parley advantage (>1 = Parley better):
       parley/peer for higher-is-better metrics, peer/parley for lower-is-better ones;
    3. one section per workload: every configuration x server with the headline
       metric's median, min and max over the ok runs, the number of runs, and the
       medians of the other metrics (workloads without any line say "not run");
    4. plots (w2_rtt latency vs achieved rate; w3_fanout delivery p99 vs achieved
       deliveries/s, one per rooms x members), embedded with paths relative to the
       RESULTS.md location;
    5. "Failed runs": every line with "ok": false and its "error". Failed runs are
       left out of all medians.
  PNG files (--plots-dir; default plots/ next to the --out file): w2_rtt.png and
    w3_fanout_<rooms>x<members>.png, drawn with matplotlib's Agg backend. Without
    matplotlib the report is written without plots and says so (exit 0), unless
    --require-plots is given (exit 1, nothing written).

A Parley line that carries "sync_mode" is reported as server "parley (sync=<mode>)",
except in w4_durable, where sync_mode is part of the configuration.

Only the Python 3.11 standard library is needed, plus matplotlib for the plots.
"""

from __future__ import annotations

import argparse
import re
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

SUSTAINABLE_P99_MS = 50.0  # w3_fanout: "sustainable" means median delivery p99 <= this
PEER_ORDER = ["bun", "ws", "socketio"]  # known peers first, in this order; others after


class InputError(Exception):
    """Bad or unreadable input; the message is printed as is."""


# ---------------------------------------------------------------------------------------
# What each metric and workload is


@dataclass(frozen=True)
class Metric:
    label: str  # column header, including the unit where the cells carry none
    kind: str  # rate, count, ms, s, bytes, pct, frac: decides the number format
    better: str = ""  # "higher" or "lower" for headline metrics


METRICS = {
    # w1_idle
    "rss_bytes_per_conn": Metric("RSS per connection", "bytes", "lower"),
    "rss_before_bytes": Metric("RSS before", "bytes"),
    "rss_after_bytes": Metric("RSS after", "bytes"),
    "heartbeat_cpu_pct": Metric("idle CPU (% of a core)", "pct"),
    # w2_rtt
    "rtt_p99_ms": Metric("RTT p99 (ms)", "ms", "lower"),
    "rtt_p50_ms": Metric("RTT p50 (ms)", "ms"),
    "rtt_max_ms": Metric("RTT max (ms)", "ms"),
    "achieved_rate": Metric("achieved round trips/s", "rate"),
    # w3_fanout / w3_rounds
    "deliveries_per_s": Metric("deliveries/s", "rate", "higher"),
    "sends_per_s": Metric("sends/s", "rate", "higher"),
    "delivery_p50_ms": Metric("delivery p50 (ms)", "ms"),
    "delivery_p99_ms": Metric("delivery p99 (ms)", "ms"),
    "server_cpu_pct": Metric("server CPU (% of a core)", "pct"),
    "rounds": Metric("rounds", "count"),
    "round_p50_ms": Metric("round p50 (ms)", "ms"),
    "round_p99_ms": Metric("round p99 (ms)", "ms"),
    # w4_durable
    "ack_p50_ms": Metric("ack p50 (ms)", "ms"),
    "ack_p99_ms": Metric("ack p99 (ms)", "ms"),
    # w5_storm
    "connects_per_s": Metric("connects/s", "rate", "higher"),
    "connect_p50_ms": Metric("connect p50 (ms)", "ms"),
    "connect_p99_ms": Metric("connect p99 (ms)", "ms"),
    # w6_resume
    "catch_up_s": Metric("catch-up (s)", "s", "lower"),
    "events_replayed": Metric("events replayed", "count"),
    "cache_hit_rate": Metric("cache hit rate", "frac"),
    "cache_bytes": Metric("cache size", "bytes"),
    # w7_history
    "page_p99_ms": Metric("page p99 (ms)", "ms", "lower"),
    "page_p50_ms": Metric("page p50 (ms)", "ms"),
    "pages_per_s": Metric("pages/s", "rate"),
    "pages": Metric("pages", "count"),
    # w8_search
    "search_p99_ms": Metric("search p99 (ms)", "ms", "lower"),
    "search_p50_ms": Metric("search p50 (ms)", "ms"),
    "searches_per_s": Metric("searches/s", "rate"),
    "fill_messages_per_s": Metric("stored messages/s", "rate"),
    "frequent_p99_ms": Metric("frequent word p99 (ms)", "ms"),
    "rare_p99_ms": Metric("rare word p99 (ms)", "ms"),
    "two_words_p99_ms": Metric("two words p99 (ms)", "ms"),
}


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    about: str
    config_keys: tuple[str, ...]  # fields that make up one configuration
    headline: str
    others: tuple[str, ...]
    parley_only: bool = False  # no peer ratio (w4: the peers do not persist)


WORKLOADS = [
    Workload("w1_idle", "Idle connections",
             "Open connections that only exchange heartbeats: server user-space RSS growth "
             "per connection and the server's CPU while idle.",
             ("connections",), "rss_bytes_per_conn",
             ("rss_before_bytes", "rss_after_bytes", "heartbeat_cpu_pct")),
    Workload("w2_rtt", "Round-trip latency",
             "Open-loop round trips at a requested rate; latency from request to reply.",
             ("rate",), "rtt_p99_ms", ("achieved_rate", "rtt_p50_ms", "rtt_max_ms")),
    Workload("w3_fanout", "Room fan-out",
             "Publishes into rooms at a requested total rate (0 = closed loop); every "
             "member of the room receives each message.",
             ("rooms", "members", "rate"), "deliveries_per_s",
             ("sends_per_s", "delivery_p50_ms", "delivery_p99_ms", "server_cpu_pct")),
    Workload("w3_rounds", "Fan-out in rounds (Bun-style)",
             "Every member of every room sends one message per round; a round ends when "
             "each member has every message of its room.",
             ("rooms", "members"), "deliveries_per_s",
             ("rounds", "round_p50_ms", "round_p99_ms", "server_cpu_pct")),
    Workload("w3_chatter", "Fan-out in rounds with receipts and typing",
             "W3 rounds while every member also acknowledges what it received (delivery "
             "receipts) every acks_ms and says it is typing every typing_ms; compare with "
             "Parley's w3_rounds of the same rooms for the overhead. Parley only.",
             ("rooms", "members", "acks_ms", "typing_ms"), "deliveries_per_s",
             ("rounds", "round_p99_ms", "server_cpu_pct"), parley_only=True),
    Workload("w3_transports", "Fan-out received over each transport",
             "Each room's owner sends closed loop over a WebSocket; every member receives "
             "over WebSocket, Server-Sent Events or long polling. Compare the transports "
             "of the same rooms. Parley only.",
             ("transport", "rooms", "members"), "deliveries_per_s",
             ("server_cpu_pct",), parley_only=True),
    Workload("w4_durable", "Durable sends",
             "Closed-loop sends that are acknowledged only once stored. Parley only: the "
             "peers do not persist messages.",
             ("sync_mode", "senders", "window"), "sends_per_s",
             ("ack_p50_ms", "ack_p99_ms"), parley_only=True),
    Workload("w5_storm", "Connection storm",
             "Many clients connect at once, with a bounded number of connects in flight.",
             ("connections", "inflight"), "connects_per_s",
             ("connect_p50_ms", "connect_p99_ms")),
    Workload("w6_resume", "Resume after a gap",
             "Clients that missed events reconnect and catch up; time until every client "
             "has caught up.",
             ("clients", "behind"), "catch_up_s",
             ("events_replayed", "cache_hit_rate", "cache_bytes")),
    Workload("w7_history", "History paging",
             "Clients page through conversation history, from a hot or a cold cache.",
             ("kind",), "page_p99_ms",
             ("page_p50_ms", "pages_per_s", "pages", "cache_hit_rate", "cache_bytes")),
    Workload("w8_search", "Full-text search",
             "Searches (one frequent, medium or rare word, or two words) by members of some of "
             "the conversations over all stored messages; results checked for membership "
             "and highlights. Parley only.",
             ("messages",), "search_p99_ms",
             ("search_p50_ms", "searches_per_s", "frequent_p99_ms", "rare_p99_ms",
              "two_words_p99_ms", "fill_messages_per_s"), parley_only=True),
]
WORKLOAD_BY_NAME = {w.name: w for w in WORKLOADS}


# ---------------------------------------------------------------------------------------
# Number formatting


def _sig2(value: float) -> str:
    """Two significant digits for 0 < |value| < 1, e.g. 0.084, 0.50."""
    decimals = min(6, 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind in ("ms", "s"):
        if value == 0 or abs(value) >= 1:
            return f"{value:,.2f}"
        return _sig2(value)
    if kind == "bytes":
        if abs(value) >= 1 << 30:
            return f"{value / (1 << 30):,.2f} GiB"
        if abs(value) >= 1 << 20:
            return f"{value / (1 << 20):,.1f} MiB"
        return f"{value:,.0f} B"
    if kind == "pct":
        return f"{value:,.1f}"
    if kind == "frac":
        return f"{value * 100:.1f} %"
    # rate, count
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"×{value:.2f}"


def fmt_rate(rate) -> str:
    """A requested rate (a config value); 0 means closed loop."""
    if rate is None:
        return "?"
    if _is_number(rate) and rate == 0:
        return "closed loop"
    return f"{fmt(float(rate), 'rate')}/s" if _is_number(rate) else str(rate)


def md_cell(text) -> str:
    """Make any text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


# Counters of a parley-bench line that say why a run failed, with their wording.
FAILURE_COUNTERS = (
    ("send_errors", "sends answered with an error"),
    ("unanswered", "requests never answered"),
    ("lost", "events lost"),
    ("gaps", "gaps"),
    ("duplicates", "duplicated or reordered events"),
    ("unexpected_closes", "connections closed by the server"),
    ("unexpected_frames", "unexpected frames"),
    ("chatter_errors", "receipts or typing answered with an error"),
    ("violations", "check violations in total"),
)


def failure_text(r: dict) -> str:
    """Why a run failed: its `error`, else its nonzero failure counters, whether it drained,
    and the first error reply, close and unexpected frame the generator kept."""
    if r.get("error"):
        return str(r["error"])
    parts = [f"{fmt(r[key], 'count')} {label}" for key, label in FAILURE_COUNTERS
             if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
             and r[key] > 0]
    if r.get("drained") is False:
        parts.append("not drained at the end")
    for key, label in (("first_error", "first error"), ("first_close", "first close"),
                       ("first_unexpected", "first unexpected frame")):
        if r.get(key):
            parts.append(f"{label}: " + str(r[key])[:200])
    return "; ".join(parts) if parts else "(no error given)"


def table(headers: list[str], rows: list[list[str]], right_from: int = 0) -> str:
    """A Markdown table; columns from index right_from on are right-aligned."""
    align = ["---:" if i >= right_from > 0 else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |",
             "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Reading the input


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def load_meta(run_dir: Path) -> dict:
    path = run_dir / "meta.json"
    if not path.exists():
        print(f"report.py: warning: {path} not found; the report has no run details",
              file=sys.stderr)
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read it as JSON: {e}") from e
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object")
    return meta


def load_results(run_dir: Path) -> list[dict]:
    path = run_dir / "results.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it: {e}") from e
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from e
        if not isinstance(rec, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(rec).__name__}")
        for key in ("workload", "server", "ok"):
            if key not in rec:
                raise InputError(f'{where}: missing field "{key}"')
        if not isinstance(rec["ok"], bool):
            raise InputError(f'{where}: "ok" must be true or false, got {rec["ok"]!r}')
        rec["_line"] = lineno
        records.append(rec)
    return records


# ---------------------------------------------------------------------------------------
# Grouping and statistics


def server_label(rec: dict, wl: Workload) -> str:
    server = str(rec["server"])
    if server == "parley" and "sync_mode" in rec and "sync_mode" not in wl.config_keys:
        return f"parley (sync={rec['sync_mode']})"
    return server


def is_parley(server: str) -> bool:
    return server.split(" ")[0] == "parley"


def server_sort_key(server: str):
    if is_parley(server):
        return (0, 0, server)
    if server in PEER_ORDER:
        return (1, PEER_ORDER.index(server), server)
    return (2, 0, server)


def config_value(value):
    """Normalise a configuration value so that 4000, 4000.0 and "4000" group together."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def value_sort_key(key: str, value):
    if value is None:
        return (3, 0.0, "")
    if _is_number(value):
        if key == "rate" and value == 0:  # closed loop: the highest offered load
            return (2, 0.0, "")
        return (0, float(value), "")
    return (1, 0.0, str(value))


def config_sort_key(wl: Workload, config: tuple):
    return tuple(value_sort_key(k, v) for k, v in zip(wl.config_keys, config))


def config_cell(key: str, value) -> str:
    if key == "rate":
        return fmt_rate(value)
    if value is None:
        return "?"
    return fmt(float(value), "count") if _is_number(value) else str(value)


def config_text(wl: Workload, config: tuple) -> str:
    parts = dict(zip(wl.config_keys, config))
    out = []
    if "rooms" in parts and "members" in parts:
        out.append(f"{config_cell('rooms', parts.pop('rooms'))} rooms × "
                   f"{config_cell('members', parts.pop('members'))} members")
    names = {"connections": "{} connections", "inflight": "{} in flight",
             "senders": "{} senders", "window": "window {}", "sync_mode": "sync={}",
             "clients": "{} clients", "behind": "{} events behind", "kind": "{}",
             "rate": "rate {}"}
    for key, value in parts.items():
        out.append(names.get(key, key + " {}").format(config_cell(key, value)))
    return ", ".join(out)


@dataclass
class Group:
    """All runs of one workload x configuration x server."""
    runs: list[dict] = field(default_factory=list)

    @property
    def ok_runs(self) -> list[dict]:
        return [r for r in self.runs if r["ok"]]

    def values(self, metric: str) -> list[float]:
        return [float(r[metric]) for r in self.ok_runs if _is_number(r.get(metric))]

    def median(self, metric: str) -> float | None:
        vals = self.values(metric)
        return statistics.median(vals) if vals else None


class WorkloadData:
    """The runs of one workload, grouped by configuration and server."""

    def __init__(self, wl: Workload, records: list[dict]):
        self.wl = wl
        self.groups: dict[tuple, dict[str, Group]] = {}
        for rec in records:
            config = tuple(config_value(rec.get(k)) for k in wl.config_keys)
            server = server_label(rec, wl)
            self.groups.setdefault(config, {}).setdefault(server, Group()).runs.append(rec)

    def configs(self) -> list[tuple]:
        return sorted(self.groups, key=lambda c: config_sort_key(self.wl, c))

    def servers(self) -> list[str]:
        names = {s for by_server in self.groups.values() for s in by_server}
        return sorted(names, key=server_sort_key)

    def group(self, config: tuple, server: str) -> Group | None:
        return self.groups.get(config, {}).get(server)


def advantage(parley: float | None, peer: float | None, better: str) -> float | None:
    """>1 means Parley is better: parley/peer if higher is better, else peer/parley."""
    if parley is None or peer is None:
        return None
    num, den = (parley, peer) if better == "higher" else (peer, parley)
    return num / den if den else None


# --- w3_fanout: max sustainable deliveries/s -----------------------------------------

@dataclass
class Sustainable:
    rate: object  # the chosen requested rate (0 = closed loop)
    deliveries: float | None  # None if no rate qualifies
    p99: float | None
    peak_deliveries: float | None  # highest median deliveries/s at any rate, for contrast

    def cell(self) -> str:
        if self.deliveries is None and self.peak_deliveries is None:
            return "—"  # no ok run with deliveries/s for this server
        if self.deliveries is None:
            return f"none ≤ {SUSTAINABLE_P99_MS:g} ms"
        return f"{fmt(self.deliveries, 'rate')} (@ {fmt_rate(self.rate)})"


def fanout_sustainable(data: WorkloadData, rooms, members, server: str) -> Sustainable:
    """Median deliveries/s at the highest requested rate whose median delivery p99 is
    within SUSTAINABLE_P99_MS (closed loop counts as the highest offered load)."""
    best = Sustainable(None, None, None, None)
    for config in data.configs():  # ascending rate, closed loop last
        c_rooms, c_members, rate = config
        group = data.group(config, server)
        if (c_rooms, c_members) != (rooms, members) or group is None:
            continue
        deliveries = group.median("deliveries_per_s")
        p99 = group.median("delivery_p99_ms")
        if deliveries is not None and (best.peak_deliveries is None
                                       or deliveries > best.peak_deliveries):
            best.peak_deliveries = deliveries
        if deliveries is not None and p99 is not None and p99 <= SUSTAINABLE_P99_MS:
            best.rate, best.deliveries, best.p99 = rate, deliveries, p99
    return best


def fanout_room_configs(data: WorkloadData) -> list[tuple]:
    seen = []
    for rooms, members, _rate in data.configs():
        if (rooms, members) not in seen:
            seen.append((rooms, members))
    return seen


# ---------------------------------------------------------------------------------------
# Plots


def load_pyplot():
    """matplotlib.pyplot with the Agg backend, or (None, reason) if unavailable."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # ImportError, or a broken installation
        return None, f"{type(e).__name__}: {e}"
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100})
    return plt, None


def _thousands_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.0f}"))


def plot_fanout(plt, data: WorkloadData, rooms, members, path: Path) -> bool:
    """Write the plot; False (and no file) if there is no point to draw."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    drawn = False
    for server in data.servers():
        points = []
        for config in data.configs():
            group = data.group(config, server)
            if config[:2] != (rooms, members) or group is None:
                continue
            x, y = group.median("deliveries_per_s"), group.median("delivery_p99_ms")
            if x is not None and y is not None and y > 0:
                points.append((x, y))
        if points:
            ax.plot(*zip(*points), marker="o", label=server)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.axhline(SUSTAINABLE_P99_MS, linestyle="--", color="grey", linewidth=1,
               label=f"{SUSTAINABLE_P99_MS:g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("achieved deliveries/s (median of runs)")
    ax.set_ylabel("delivery p99 latency (ms, log scale)")
    ax.set_title(f"w3_fanout: {rooms} rooms × {members} members")
    _thousands_axis(ax.xaxis)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return True


def plot_rtt(plt, data: WorkloadData, path: Path) -> bool:
    """Write the plot; False (and no file) if there is no point to draw."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    drawn = False
    for ax, metric, name in ((axes[0], "rtt_p50_ms", "p50"), (axes[1], "rtt_p99_ms", "p99")):
        for server in data.servers():
            points = []
            for config in data.configs():
                group = data.group(config, server)
                if group is None:
                    continue
                x = group.median("achieved_rate")
                if x is None and _is_number(config[0]):
                    x = float(config[0])  # fall back on the requested rate
                y = group.median(metric)
                if x is not None and y is not None and y > 0:
                    points.append((x, y))
            if points:
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, marker="o", label=server)
                drawn = True
        ax.set_yscale("log")
        ax.set_xlabel("achieved round trips/s (median of runs)")
        ax.set_title(f"w2_rtt: RTT {name}")
        _thousands_axis(ax.xaxis)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if not drawn:
        plt.close(fig)
        return False
    axes[0].set_ylabel("round-trip time (ms, log scale)")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------
# The report


class Report:
    def __init__(self, meta: dict, records: list[dict], run_dir: Path, out: Path,
                 plots_dir: Path, plt, no_plot_reason: str | None,
                 reruns: list[tuple[Path, dict, list[str]]] | None = None):
        self.meta = meta
        self.run_dir = run_dir
        self.reruns = reruns or []
        self.out = out
        self.plots_dir = plots_dir
        self.plt = plt
        self.no_plot_reason = no_plot_reason
        self.unknown = [r for r in records if r["workload"] not in WORKLOAD_BY_NAME]
        self.failed = [r for r in records if not r["ok"] and r["workload"] in WORKLOAD_BY_NAME]
        self.data = {}
        for wl in WORKLOADS:
            recs = [r for r in records if r["workload"] == wl.name]
            if recs:
                self.data[wl.name] = WorkloadData(wl, recs)
        self.plot_files: list[Path] = []

    # --- helpers

    def plot_link(self, path: Path, alt: str) -> str:
        rel = os.path.relpath(path.resolve(), self.out.resolve().parent)
        return f"![{alt}]({Path(rel).as_posix()})"

    def peers(self) -> list[str]:
        names = {s for name, d in self.data.items() for s in d.servers()
                 if not is_parley(s) and not WORKLOAD_BY_NAME[name].parley_only}
        return sorted(names, key=server_sort_key)

    # --- sections

    def header(self) -> list[str]:
        m = self.meta
        started = str(m.get("started", ""))
        date = started[:10] if started else "date not recorded"
        out = [f"# Parley benchmark results ({date})", ""]
        out.append(f"Generated by `bench/report.py` from `{self.run_dir}`.")
        out.append("")
        facts = [("Started", started or "not recorded"),
                 ("Commit", f"`{m['commit']}`" if m.get("commit") else "not recorded")]
        machine = m.get("machine") or {}
        if isinstance(machine, dict) and machine:
            names = {"cpu": "CPU", "cores": "Cores", "mem_gb": "Memory", "kernel": "Kernel",
                     "os": "OS"}
            for key, value in machine.items():
                text = f"{value} GB" if key == "mem_gb" else str(value)
                facts.append((names.get(key, key), text))
        else:
            facts.append(("Machine", "not recorded"))
        out += ["## Run", "", table(["", ""], [[k, v] for k, v in facts]), ""]

        versions = m.get("versions") or {}
        out += ["### Versions", ""]
        if isinstance(versions, dict) and versions:
            out += [table(["Component", "Version"],
                          [[k, str(v)] for k, v in versions.items()]), ""]
        else:
            out += ["Not recorded.", ""]

        out += ["### Command", ""]
        command = m.get("command")
        out += (["```", str(command), "```", ""] if command else ["Not recorded.", ""])

        pinning = m.get("pinning")
        if self.reruns:
            out += ["### Workloads from later runs", "",
                    "These workloads were run again after the run above; their figures "
                    "here come from that later run alone (it replaces the run above for "
                    "them), on the same machine.", ""]
            rows = []
            for run_dir, rmeta, names in self.reruns:
                rows.append([", ".join(names), str(rmeta.get("started", "not recorded")),
                             f"`{rmeta['commit']}`" if rmeta.get("commit") else "not recorded",
                             f"`{rmeta['command']}`" if rmeta.get("command") else "not recorded",
                             f"`{run_dir}`"])
            out += [table(["Workloads", "Started", "Commit", "Command", "Run directory"], rows),
                    ""]

        out += ["### CPU pinning", "",
                str(pinning) if pinning else "Not recorded (the server and the load "
                "generator may have shared CPUs).", ""]

        notes = m.get("notes") or []
        if isinstance(notes, str):
            notes = [notes]
        out += ["### Notes", ""]
        out += [f"- {n}" for n in notes] if notes else ["None."]
        out.append("")

        if self.plt is None:
            out += [f"**Plots were not made:** matplotlib is not importable "
                    f"({self.no_plot_reason}). Install `python3-matplotlib` and run "
                    f"`/usr/bin/python3 bench/report.py` again to get them.", ""]
        return out

    def ratio_rows(self) -> list[tuple[Workload, str, str, dict[str, str]]]:
        """(workload, configuration, headline text, {column: cell}) per ratio row."""
        rows = []
        for wl in WORKLOADS:
            data = self.data.get(wl.name)
            if data is None:
                continue
            metric = METRICS[wl.headline]
            servers = data.servers()
            parleys = [s for s in servers if is_parley(s)]
            peers = [s for s in servers if not is_parley(s)]
            if wl.name == "w3_fanout":
                head = (f"max sustainable deliveries/s (highest rate with median delivery "
                        f"p99 ≤ {SUSTAINABLE_P99_MS:g} ms), higher is better")
                for rooms, members in fanout_room_configs(data):
                    base = f"{config_cell('rooms', rooms)} rooms × " \
                           f"{config_cell('members', members)} members"
                    picks = {s: fanout_sustainable(data, rooms, members, s) for s in servers}
                    for parley in parleys:
                        cells = {"parley": picks[parley].cell()}
                        for peer in peers:
                            cells[peer] = picks[peer].cell()
                            cells[peer + "/adv"] = fmt_ratio(advantage(
                                picks[parley].deliveries, picks[peer].deliveries, "higher"))
                        conf = base if parley == "parley" else f"{base}; {parley}"
                        rows.append((wl, conf, head, cells))
                continue
            head = f"{metric.label}, {metric.better} is better"
            if wl.parley_only:
                head += " (Parley only: the peers do not persist)"
            for config in data.configs():
                for parley in parleys:
                    group = data.group(config, parley)
                    if group is None:
                        continue
                    pv = group.median(wl.headline)
                    cells = {"parley": fmt(pv, metric.kind)}
                    for peer in [] if wl.parley_only else peers:
                        peer_group = data.group(config, peer)
                        qv = peer_group.median(wl.headline) if peer_group else None
                        cells[peer] = fmt(qv, metric.kind)
                        cells[peer + "/adv"] = fmt_ratio(advantage(pv, qv, metric.better))
                    conf = config_text(wl, config)
                    if parley != "parley":
                        conf += f"; {parley}"
                    rows.append((wl, conf, head, cells))
        return rows

    def ratios(self) -> list[str]:
        out = ["## Ratios", "",
               "Median over the ok runs of each workload's headline metric. Each "
               "\"Parley advantage (>1 = Parley better)\" column compares Parley with one "
               "peer: Parley/peer for higher-is-better metrics, peer/Parley for "
               "lower-is-better metrics (bytes, latency, time), so ×1.50 always means "
               "Parley is 1.5 times better and ×0.50 that the peer is twice as good. "
               "\"—\" means that server has no ok run for that configuration.", ""]
        rows = self.ratio_rows()
        peers = self.peers()
        headers = ["Workload", "Configuration", "Headline metric", "parley"]
        for peer in peers:
            headers += [peer, f"Parley advantage (>1 = Parley better) vs {peer}"]
        body = []
        for wl, conf, head, cells in rows:
            row = [wl.name, conf, head, cells.get("parley", "—")]
            for peer in peers:
                if wl.parley_only:
                    row += ["n/a", "n/a (peers do not persist)"]
                else:
                    row += [cells.get(peer, "—"), cells.get(peer + "/adv", "—")]
            body.append(row)
        if body:
            out += [table(headers, body, right_from=3), ""]
        else:
            out += ["No workload has any results.", ""]
        missing = [wl.name for wl in WORKLOADS if wl.name not in self.data]
        if missing:
            out += ["Not run: " + ", ".join(missing) + ".", ""]
        return out

    def workload_section(self, wl: Workload) -> list[str]:
        data = self.data.get(wl.name)
        out = [f"## {wl.name}: {wl.title}", ""]
        if data is None:
            return out + [f"{wl.name} was not run (no lines in results.jsonl).", ""]
        headline = METRICS[wl.headline]
        out += [wl.about, "",
                f"Headline: **{headline.label}** ({headline.better} is better): median "
                f"[min, max] over the ok runs; the other columns are medians.", ""]
        headers = [k for k in wl.config_keys] + ["Server", "Runs ok",
                                                  f"{headline.label} median", "min", "max"]
        headers += [METRICS[m].label for m in wl.others]
        rows = []
        for config in data.configs():
            for server in data.servers():
                group = data.group(config, server)
                if group is None:
                    continue
                vals = group.values(wl.headline)
                row = [config_cell(k, v) for k, v in zip(wl.config_keys, config)]
                row += [server, f"{len(group.ok_runs)}/{len(group.runs)}",
                        fmt(group.median(wl.headline), headline.kind),
                        fmt(min(vals) if vals else None, headline.kind),
                        fmt(max(vals) if vals else None, headline.kind)]
                row += [fmt(group.median(m), METRICS[m].kind) for m in wl.others]
                rows.append(row)
        out += [table(headers, rows, right_from=len(wl.config_keys) + 1), ""]

        if wl.name == "w3_fanout":
            out += self.fanout_extra(data)
        if wl.name == "w2_rtt":
            out += self.rtt_plot(data)
        return out

    def fanout_extra(self, data: WorkloadData) -> list[str]:
        limit = f"{SUSTAINABLE_P99_MS:g} ms"
        out = [f"### Max sustainable deliveries/s (median delivery p99 ≤ {limit})", "",
               f"For each server and rooms × members, the highest requested rate (closed "
               f"loop counts as the highest) whose median delivery p99 is at most {limit}, "
               f"and the median deliveries/s there. The peak at any latency is shown for "
               f"contrast only.", ""]
        rows = []
        for rooms, members in fanout_room_configs(data):
            for server in data.servers():
                p = fanout_sustainable(data, rooms, members, server)
                if p.peak_deliveries is None:
                    continue
                rows.append([config_cell("rooms", rooms), config_cell("members", members),
                             server,
                             fmt_rate(p.rate) if p.deliveries is not None else f"none ≤ {limit}",
                             fmt(p.deliveries, "rate"), fmt(p.p99, "ms"),
                             fmt(p.peak_deliveries, "rate")])
        out += [table(["rooms", "members", "Server", "Highest rate within limit",
                       "deliveries/s there", "delivery p99 there (ms)",
                       "peak deliveries/s (any latency)"], rows, right_from=3), ""]
        for rooms, members in fanout_room_configs(data):
            alt = f"w3_fanout {rooms}x{members}: delivery p99 vs deliveries/s"
            if self.plt is None:
                out += [f"(Plot for {config_cell('rooms', rooms)} rooms × "
                    f"{config_cell('members', members)} members not made: "
                        f"matplotlib is not available.)", ""]
                continue
            path = self.plots_dir / f"w3_fanout_{rooms}x{members}.png"
            if plot_fanout(self.plt, data, rooms, members, path):
                self.plot_files.append(path)
                out += [self.plot_link(path, alt), ""]
            else:
                out += [f"(No plot for {config_cell('rooms', rooms)} rooms × "
                        f"{config_cell('members', members)} members: no run has both "
                        f"deliveries/s and a positive delivery p99.)", ""]
        return out

    def rtt_plot(self, data: WorkloadData) -> list[str]:
        if self.plt is None:
            return ["(Plot not made: matplotlib is not available.)", ""]
        path = self.plots_dir / "w2_rtt.png"
        if not plot_rtt(self.plt, data, path):
            return ["(No plot: no run has both a rate and a positive RTT.)", ""]
        self.plot_files.append(path)
        return [self.plot_link(path, "w2_rtt: RTT p50 and p99 vs achieved rate"), ""]

    def failed_section(self) -> list[str]:
        out = []
        if self.failed:
            out += ["## Failed runs", "",
                    "These runs reported \"ok\": false and are left out of every median.", ""]
            rows = []
            for r in self.failed:
                wl = WORKLOAD_BY_NAME[r["workload"]]
                config = tuple(config_value(r.get(k)) for k in wl.config_keys)
                rows.append([wl.name, config_text(wl, config), server_label(r, wl),
                             str(r.get("run", "?")), str(r["_line"]), failure_text(r)])
            out += [table(["Workload", "Configuration", "Server", "Run",
                           "results.jsonl line", "Error"], rows), ""]
        if self.unknown:
            names = sorted({str(r["workload"]) for r in self.unknown})
            lines = ", ".join(str(r["_line"]) for r in self.unknown)
            out += ["## Ignored lines", "",
                    f"{len(self.unknown)} line(s) name a workload this report does not know "
                    f"({', '.join(names)}; results.jsonl lines {lines}).", ""]
        return out

    def render(self) -> str:
        if self.plt is not None:
            self.plots_dir.mkdir(parents=True, exist_ok=True)
        out = self.header() + self.ratios()
        for wl in WORKLOADS:
            out += self.workload_section(wl)
        out += self.failed_section()
        return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(
        description="Write RESULTS.md and PNG plots from a benchmark run directory.")
    ap.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                    help="directory with meta.json and results.jsonl")
    ap.add_argument("--out", type=Path, default=here / "RESULTS.md",
                    help="Markdown file to write (default: bench/RESULTS.md)")
    ap.add_argument("--plots-dir", type=Path, default=None,
                    help="where the PNG files go (default: plots/ next to --out)")
    ap.add_argument("--rerun", metavar="RUN_DIR", type=Path, action="append", default=[],
                    help="a later run of some workloads: its results replace RUN_DIR's for "
                         "the workloads it has (repeatable; the report names each run)")
    ap.add_argument("--append", metavar="FILE", type=Path, action="append", default=[],
                    help="a Markdown file appended to the report as it is (e.g. the "
                         "cluster comparison written by bench/cluster.sh); repeatable")
    ap.add_argument("--require-plots", action="store_true",
                    help="fail (exit 1) if matplotlib is not available")
    args = ap.parse_args(argv)
    plots_dir = args.plots_dir if args.plots_dir is not None else args.out.parent / "plots"

    try:
        if not args.run_dir.is_dir():
            raise InputError(f"{args.run_dir}: not a directory")
        meta = load_meta(args.run_dir)
        records = load_results(args.run_dir)
        reruns = []
        for extra in args.rerun:
            if not extra.is_dir():
                raise InputError(f"{extra}: not a directory")
            extra_records = load_results(extra)
            names = sorted({str(r["workload"]) for r in extra_records})
            records = [r for r in records if r["workload"] not in names] + extra_records
            # A later rerun of a workload replaces an earlier one: the earlier run no
            # longer contributes it.
            reruns = [(d, m, [n for n in ns if n not in names]) for d, m, ns in reruns]
            reruns = [(d, m, ns) for d, m, ns in reruns if ns]
            reruns.append((extra, load_meta(extra), names))
    except InputError as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        return 2

    plt, reason = load_pyplot()
    if plt is None:
        if args.require_plots:
            print(f"report.py: error: --require-plots, but matplotlib is not importable "
                  f"({reason}); install python3-matplotlib", file=sys.stderr)
            return 1
        print(f"report.py: warning: matplotlib is not importable ({reason}); "
              f"writing the report without plots", file=sys.stderr)

    for rec in records:
        if rec["workload"] not in WORKLOAD_BY_NAME:
            print(f"report.py: warning: results.jsonl line {rec['_line']}: unknown "
                  f"workload {rec['workload']!r}, ignored", file=sys.stderr)

    report = Report(meta, records, args.run_dir, args.out, plots_dir, plt, reason, reruns)
    text = report.render()
    for extra in args.append:
        try:
            appendix = extra.read_text(encoding="utf-8")
        except OSError as e:
            print(f"report.py: error: {extra}: {e}", file=sys.stderr)
            return 2
        # One heading level down: the appendix becomes a section of the report.
        appendix = re.sub(r"^(#+) ", r"#\1 ", appendix.strip(), flags=re.MULTILINE)
        text = text.rstrip("\n") + "\n\n" + appendix + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}" + "".join(f"\nwrote {p}" for p in report.plot_files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
