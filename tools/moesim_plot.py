#!/usr/bin/env python3
"""moesim plot: plots of stored runs (`moesim run -o RUN.h5`) and of sweep CSV files.

    moesim plot RUN.h5 [RUN2.h5 ...] [-o DIR] [--csv SWEEP.csv --x COL --y COL ...]
    python3 tools/moesim_plot.py ...          (the same, without the moesim binary)

Per run (files named DIR/<run>-<plot>.png and .svg):
  step-breakdown   each GPU's step time stacked by phase (/phases/step_time_s); the
                   critical GPU marked
  expert-load      the layer x expert heatmap of token-expert pairs per step, as routed,
                   as kept after capacity drops and dropped (/experts; a
                   run without them shows /layers/expert_demand, before drops only)
  link-util        utilisation over time of the most utilised links and of each link
                   class (/links, flow model only)
Across runs (DIR/runs-<plot>):
  drops-vs-capacity  dropped pairs and lost tokens against routing.capacity_factor,
                     one point per run (runs at two or more capacity factors)
From a sweep CSV (DIR/<csv>-sweep; for moesim sweep's NAME.sweep/results.csv,
DIR/NAME-sweep, without the points that did not run): any CSV with a header; --x names
the column on the x axis, --y one or more columns (repeat it, or separate with commas),
--group a column whose values each get a line. With --x routing.capacity_factor and
--y dropped_pair_frac this is the drops-against-capacity plot of a sweep.

What a file lacks is said on stderr ("this run has no /links: run with network.model =
"flow"") and the other plots are still drawn. Files are written whole (a temporary name,
then renamed); the same inputs give the same bytes. Exit status 0 when every requested
plot was drawn or skipped for a stated reason, 1 on bad input.
Needs h5py, numpy and matplotlib (Debian: python3-h5py python3-matplotlib), pandas for --csv.
"""
import argparse
import os
import re
import sys

KINDS = ("step-breakdown", "expert-load", "link-util", "drops-vs-capacity", "sweep")

# One colour per phase, the same in every plot and every run.
PHASE_COLOURS = {
    "dense": "#4e79a7", "permute": "#a0cbe8", "dispatch": "#f28e2b", "expert": "#59a14f",
    "combine": "#ffbe7d", "unpermute": "#8cd17d", "wait": "#e15759", "tp": "#b6992d",
    "pp_bubble": "#bab0ac", "dp": "#9d7660", "optimizer": "#d37295",
}


class PlotError(Exception):
    """Bad input: the message names the file and the fix."""


def die(msg):
    print("moesim plot: " + msg, file=sys.stderr)
    sys.exit(1)


def note(msg):
    print("moesim plot: " + msg, file=sys.stderr)


def need_matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: F401
    except ImportError:
        die("needs matplotlib: apt-get install python3-matplotlib (or pip install matplotlib)")
    matplotlib.rcParams["svg.hashsalt"] = "moesim"  # stable ids: same inputs, same SVG bytes
    matplotlib.rcParams["figure.dpi"] = 100
    return matplotlib.pyplot


def as_str(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def strings(ds):
    return [as_str(x) for x in ds[...]]


class Run:
    """A stored run: the h5py file, its name and its resolved scenario text."""

    def __init__(self, path):
        import h5py
        if not os.path.exists(path):
            raise PlotError("%s: no such file (write one with moesim run -o %s)" % (path, path))
        try:
            self.f = h5py.File(path, "r")
        except OSError:
            raise PlotError("%s: not an HDF5 file; moesim plot reads the files of moesim run -o FILE.h5" % path)
        fmt = as_str(self.f.attrs.get("format", ""))
        if fmt != "moesim-run":
            raise PlotError("%s: not a moesim run file (root attribute 'format' is %s, not \"moesim-run\"); "
                            "write one with moesim run -o FILE.h5" % (path, repr(fmt) if fmt else "missing"))
        for need in ("summary", "phases/step_time_s", "phases/phase_names"):
            if need not in self.f:
                raise PlotError("%s: the run has no /%s; it is not complete (rewrite it with moesim run -o)"
                                % (path, need))
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.scenario = as_str(self.f.attrs.get("scenario", ""))

    def key(self, section, key):
        """A value of the resolved scenario (libconfig text), as a string, or None."""
        m = re.search(r"(?ms)^%s\s*=\s*\{(.*?)^\};" % re.escape(section), self.scenario)
        if not m:
            return None
        k = re.search(r"(?m)^\s*%s\s*=\s*([^;]*);" % re.escape(key), m.group(1))
        return k.group(1).strip().strip('"') if k else None

    def summary(self, name, default=0.0):
        return float(self.f["summary"].attrs.get(name, default))


def save(plt, fig, outdir, stem, formats, written):
    """Writes fig as DIR/stem.<fmt> for each format, each whole or not at all."""
    for fmt in formats:
        path = os.path.join(outdir, "%s.%s" % (stem, fmt))
        tmp = "%s.tmp.%d.%s" % (path, os.getpid(), fmt)
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        try:
            fig.savefig(tmp, format=fmt, metadata=meta, bbox_inches="tight")
            os.replace(tmp, path)
        except OSError as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise PlotError("cannot write %s: %s" % (path, e.strerror or e))
        written.append(path)
    plt.close(fig)


def fmt_seconds(s):
    return "%.3g s" % s if s >= 1 else ("%.3g ms" % (s * 1e3) if s >= 1e-3 else "%.3g us" % (s * 1e6))


def plot_step_breakdown(plt, run, outdir, formats, written):
    import numpy as np
    w = run.f["phases/step_time_s"][...]
    names = strings(run.f["phases/phase_names"])
    gpus = w.shape[0]
    crit = int(run.summary("critical_gpu", -1))
    fig, ax = plt.subplots(figsize=(max(7.0, min(16.0, 4 + gpus * 0.18)), 4.6))
    x = np.arange(gpus)
    bottom = np.zeros(gpus)
    width = 0.8 if gpus <= 64 else 1.0
    for i, ph in enumerate(names):
        col = w[:, i]
        if not col.any():
            continue
        ax.bar(x, col, width, bottom=bottom, label=ph, color=PHASE_COLOURS.get(ph, None),
               linewidth=0)
        bottom += col
    top = bottom.max() if gpus else 0
    if 0 <= crit < gpus:
        ax.annotate("critical GPU %d" % crit, xy=(crit, bottom[crit]), xytext=(crit, top * 1.07),
                    ha="center", fontsize=8, arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    ax.set_xlabel("GPU (global rank)")
    ax.set_ylabel("seconds per step")
    ax.set_xlim(-0.6, gpus - 0.4)
    if gpus <= 64:
        ax.set_xticks(x[:: max(1, gpus // 32)])
    ax.set_title("%s: step time %s per GPU by phase (%s, %s)" % (
        run.name, fmt_seconds(run.summary("step_time_s")), run.key("workload", "mode") or "?",
        as_str(run.f.attrs.get("network_model", "?"))), fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="y", lw=0.3, alpha=0.6)
    save(plt, fig, outdir, "%s-step-breakdown" % run.name, formats, written)


def plot_expert_load(plt, run, outdir, formats, written):
    import numpy as np
    f = run.f
    if "experts/routed" in f and "experts/kept" in f:
        steps = max(1, f["experts/routed"].shape[0])
        panels = [("as routed", f["experts/routed"][...].sum(axis=0) / steps),
                  ("kept after capacity drops", f["experts/kept"][...].sum(axis=0) / steps)]
        unit = "token-expert pairs per step"
    elif "layers/expert_demand" in f:
        note("%s: no /experts/kept in this run (HDF5 version %s): the heatmap shows the load before drops only; "
             "rewrite the run with this moesim's run -o for the load after drops"
             % (run.path, f.attrs.get("version", "?")))
        panels = [("as routed (one micro-batch)", f["layers/expert_demand"][...])]
        unit = "token-expert pairs per micro-batch"
    else:
        raise PlotError("%s: no /experts/routed or /layers/expert_demand: not a run with MoE layers" % run.path)
    layers, experts = panels[0][1].shape
    dropped = panels[0][1] - panels[1][1] if len(panels) == 2 else None
    if dropped is not None and not dropped.any():
        dropped = None  # dropless, or nothing dropped: no third panel
    ncols = len(panels) + (dropped is not None)
    vmax = max(float(p[1].max()) for p in panels) or 1.0
    fig, axes = plt.subplots(1, ncols, figsize=(min(20.0, 1.5 + (0.12 * experts + 3.0) * ncols),
                                                max(3.2, min(12.0, 1.6 + 0.16 * layers))), squeeze=False,
                             layout="constrained")

    def heat(ax, title, m, cmap, hi):
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap=cmap, vmin=0, vmax=hi, origin="upper")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("expert")
        ax.set_ylabel("MoE layer")
        if experts <= 32:
            ax.set_xticks(np.arange(experts))
        if layers <= 32:
            ax.set_yticks(np.arange(layers))
        ax.tick_params(labelsize=7)
        return im

    im = None
    for ax, (title, m) in zip(axes[0], panels):
        im = heat(ax, title, m, "viridis", vmax)
    cb = fig.colorbar(im, ax=list(axes[0][:len(panels)]), shrink=0.9)
    cb.set_label(unit, fontsize=8)
    if dropped is not None:
        im2 = heat(axes[0][-1], "dropped", dropped, "Reds", float(dropped.max()))
        cb2 = fig.colorbar(im2, ax=axes[0][-1], shrink=0.9)
        cb2.set_label(unit, fontsize=8)
    drop = 100.0 * run.summary("dropped_pair_fraction")
    fig.suptitle("%s: expert load (max/mean %.3f as routed; %.2f %% of pairs dropped)" % (
        run.name, run.summary("expert_load_max_over_mean"), drop), fontsize=10)
    save(plt, fig, outdir, "%s-expert-load" % run.name, formats, written)


def link_series(run):
    """(times, [(name, utilisation over bins)], [(class, utilisation)]) or a reason for none."""
    import numpy as np
    f = run.f
    if "links" not in f:
        return "this run has no /links: run with network.model = \"flow\"" if as_str(
            f.attrs.get("network_model", "")) != "flow" else "this run has no /links (written by an older moesim)"
    g = f["links"]
    if "note" in g.attrs:
        return "/links: %s" % as_str(g.attrs["note"])
    bin_s = float(g.attrs.get("bin_s", 0) or 0)
    names = strings(g["names"]) if "names" in g else []
    series, classes = [], []
    if "binned_utilisation" in g and "binned_links" in g:
        idx = g["binned_links"][...]
        u = g["binned_utilisation"][...]
        series = [(names[int(i)] if int(i) < len(names) else "link %d" % i, u[k]) for k, i in enumerate(idx[:6])]
        if "class_binned_utilisation" in g and "class_names" in g:
            cu = g["class_binned_utilisation"][...]
            classes = [(c, cu[k]) for k, c in enumerate(strings(g["class_names"])) if cu[k].any()]
    elif "util" in g and g["util"].ndim == 2 and g["util"].shape[0] > 0:
        u = g["util"][...]
        order = np.argsort(-u.mean(axis=1), kind="stable")[:6]
        series = [(names[i] if i < len(names) else "link %d" % i, u[i]) for i in order]
    if not series or bin_s <= 0:
        return "this run has no binned link utilisation in /links"
    bins = len(series[0][1])
    return (np.arange(bins) * bin_s + bin_s / 2, series, classes)


def plot_link_util(plt, run, outdir, formats, written):
    s = link_series(run)
    if isinstance(s, str):
        note("skipping link-util for %s: %s" % (run.path, s))
        return
    t, series, classes = s
    scale, unit = (1e3, "ms") if t[-1] < 1 else (1.0, "s")
    rows = 2 if classes else 1
    fig, axes = plt.subplots(rows, 1, figsize=(9, 3.2 * rows), sharex=True, squeeze=False)
    # A link is rarely near 100 % over a whole bin: the axis follows the data, so the
    # shape of a few per cent busy stays readable; both panels share it.
    top = max([float(u.max()) for _, u in series] + [float(u.max()) for _, u in classes])
    ylim = min(105.0, max(1.0, 115.0 * top))
    styles = ["-", "--", "-.", ":"]
    ax = axes[0][0]
    for k, (name, u) in enumerate(series):
        ax.step(t * scale, 100 * u, where="mid", lw=1.0, ls=styles[k % 4], label=name)
    ax.set_ylabel("utilisation %")
    ax.set_ylim(0, ylim)
    ax.set_title("%s: the %d most utilised links over the run" % (run.name, len(series)), fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(lw=0.3, alpha=0.6)
    if classes:
        ax2 = axes[1][0]
        for name, u in classes:
            ax2.step(t * scale, 100 * u, where="mid", lw=1.0, label=name)
        ax2.set_ylabel("utilisation %")
        ax2.set_ylim(0, ylim)
        ax2.set_title("per link class (bytes over the class's capacity)", fontsize=9)
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax2.grid(lw=0.3, alpha=0.6)
    axes[-1][0].set_xlabel("time from the run's start (%s)" % unit)
    save(plt, fig, outdir, "%s-link-util" % run.name, formats, written)


def capacity_factor(run):
    v = run.key("routing", "capacity_factor")
    try:
        return float(v)
    except (TypeError, ValueError):
        return None  # dropless


def plot_drops_vs_capacity(plt, runs, outdir, formats, written):
    pts = sorted((capacity_factor(r), 100 * r.summary("dropped_pair_fraction"),
                  100 * r.summary("dropped_token_fraction"), r.name) for r in runs if capacity_factor(r) is not None)
    if len({p[0] for p in pts}) < 2:
        note("skipping drops-vs-capacity: it needs runs at two or more capacity factors (these have %s), "
             "or a sweep CSV: --csv FILE --x capacity_factor --y <drop column>"
             % (", ".join(sorted({"%g" % p[0] for p in pts})) or "none"))
        return
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = [p[0] for p in pts]
    ax.plot(x, [p[1] for p in pts], "o-", label="token-expert pairs dropped")
    ax.plot(x, [p[2] for p in pts], "s--", label="tokens that lost every choice")
    for p in pts:
        ax.annotate(p[3], (p[0], p[1]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("routing.capacity_factor")
    ax.set_ylabel("% dropped")
    ax.set_ylim(bottom=0)
    ax.set_title("drops against capacity factor (%d runs)" % len(pts), fontsize=10)
    ax.grid(lw=0.3, alpha=0.6)
    ax.legend(fontsize=8)
    save(plt, fig, outdir, "runs-drops-vs-capacity", formats, written)


def load_sweep(csv_path, xcol, ycols, group):
    """The sweep CSV as a DataFrame, its columns checked."""
    try:
        import pandas as pd
    except ImportError:
        raise PlotError("--csv needs pandas: apt-get install python3-pandas")
    try:
        df = pd.read_csv(csv_path)
    except FileNotFoundError:
        raise PlotError("%s: no such file" % csv_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise PlotError("%s: not a CSV file with a header line (%s)" % (csv_path, str(e).strip().splitlines()[0]))
    cols = list(df.columns)
    for c in [xcol] + ycols + ([group] if group else []):
        if c not in cols:
            raise PlotError("%s: no column '%s'; the columns are: %s" % (csv_path, c, ", ".join(cols)))
    if "status" in cols:
        # moesim sweep's table: a point that did not run has empty outputs.
        bad = df["status"].astype(str) != "ok"
        if bad.any():
            note("%s: leaving out %d point(s) that did not run (status %s)"
                 % (csv_path, int(bad.sum()), ", ".join(sorted(set(df["status"][bad].astype(str))))))
            df = df[~bad]
        if df.empty:
            raise PlotError("%s: no point ran (every status is not ok); nothing to plot" % csv_path)
    for c in ycols:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise PlotError("%s: column '%s' is not numeric (first value %r): --y needs numbers"
                            % (csv_path, c, df[c].iloc[0] if len(df) else None))
    return df


def sweep_name(csv_path):
    """The plot's name: the CSV's, or for moesim sweep's DIR.sweep/results.csv the sweep's."""
    stem = os.path.splitext(os.path.basename(csv_path))[0]
    parent = os.path.basename(os.path.dirname(os.path.abspath(csv_path)))
    if stem == "results" and parent.endswith(".sweep") and len(parent) > len(".sweep"):
        return parent[: -len(".sweep")]
    return stem


def plot_sweep(plt, df, csv_path, xcol, ycols, group, outdir, formats, written):
    import pandas as pd
    numeric_x = pd.api.types.is_numeric_dtype(df[xcol])
    groups = [(None, df)] if not group else list(df.groupby(group, sort=True))
    fig, axes = plt.subplots(len(ycols), 1, figsize=(7, 3.2 * len(ycols)), sharex=True, squeeze=False)
    for ax, y in zip(axes[:, 0], ycols):
        for gval, part in groups:
            part = part.sort_values(xcol, kind="stable") if numeric_x else part
            xs = part[xcol] if numeric_x else [str(v) for v in part[xcol]]
            ax.plot(xs, part[y], "o-", ms=4, label=("%s = %s" % (group, gval)) if group else None)
        ax.set_ylabel(y)
        ax.grid(lw=0.3, alpha=0.6)
        if group:
            ax.legend(fontsize=7)
    axes[-1][0].set_xlabel(xcol)
    name = sweep_name(csv_path)
    axes[0][0].set_title("%s: %s against %s (%d points)" % (name, ", ".join(ycols), xcol, len(df)), fontsize=10)
    save(plt, fig, outdir, "%s-sweep" % name, formats, written)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="moesim plot", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description=__doc__.split("What a file lacks")[0].rstrip(),
                                 epilog="docs/analysis.md shows each plot; docs/output-format.md the datasets.")
    ap.add_argument("runs", nargs="*", metavar="RUN.h5", help="files written by moesim run -o")
    ap.add_argument("-o", "--outdir", default=".", metavar="DIR", help="where the plots go (default .)")
    ap.add_argument("--csv", metavar="SWEEP.csv", help="a sweep's CSV (any CSV with a header line)")
    ap.add_argument("--x", metavar="COL", help="--csv: the column on the x axis")
    ap.add_argument("--y", metavar="COL", action="append", default=[],
                    help="--csv: a column to plot against x (repeatable, or COL1,COL2)")
    ap.add_argument("--group", metavar="COL", help="--csv: one line per value of this column")
    ap.add_argument("--only", metavar="KINDS", help="comma-separated subset of: " + ", ".join(KINDS))
    ap.add_argument("--formats", default="png,svg", metavar="png,svg", help="file formats (default png,svg)")
    a = ap.parse_args(argv)
    ycols = [c for y in a.y for c in y.split(",") if c]
    formats = [x for x in a.formats.split(",") if x]
    only = set(a.only.split(",")) if a.only else set(KINDS)
    for k in only:
        if k not in KINDS:
            die("--only %s: not a plot; use some of %s" % (k, ", ".join(KINDS)))
    for fmt in formats:
        if fmt not in ("png", "svg", "pdf"):
            die("--formats %s: use png, svg or pdf" % fmt)
    if not a.runs and not a.csv:
        die("nothing to plot: give RUN.h5 files (moesim run -o RUN.h5) and/or --csv SWEEP.csv --x COL --y COL")
    if a.csv and (not a.x or not ycols):
        die("--csv %s needs --x COL and --y COL (the columns to plot)" % a.csv)
    if (a.x or ycols or a.group) and not a.csv:
        die("--x, --y and --group are for --csv SWEEP.csv")
    if not os.path.isdir(a.outdir):
        die("-o %s: no such directory (create it first)" % a.outdir)
    try:
        import h5py  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        die("needs h5py and numpy: apt-get install python3-h5py python3-numpy")
    written = []
    try:
        # Every input is read and checked before matplotlib is loaded (it takes a second).
        runs = [Run(p) for p in a.runs]
        names = [r.name for r in runs]
        if len(set(names)) != len(names):
            raise PlotError("two runs have the same file name (%s): their plots would overwrite each other; "
                            "rename one" % ", ".join(sorted({n for n in names if names.count(n) > 1})))
        sweep = load_sweep(a.csv, a.x, ycols, a.group) if a.csv and "sweep" in only else None
        plt = need_matplotlib()
        for r in runs:
            if "step-breakdown" in only:
                plot_step_breakdown(plt, r, a.outdir, formats, written)
            if "expert-load" in only:
                plot_expert_load(plt, r, a.outdir, formats, written)
            if "link-util" in only:
                plot_link_util(plt, r, a.outdir, formats, written)
        if len(runs) > 1 and "drops-vs-capacity" in only:
            plot_drops_vs_capacity(plt, runs, a.outdir, formats, written)
        if sweep is not None:
            plot_sweep(plt, sweep, a.csv, a.x, ycols, a.group, a.outdir, formats, written)
    except PlotError as e:
        die(str(e))
    for p in written:
        print("wrote " + p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
