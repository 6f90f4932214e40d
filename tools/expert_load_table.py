#!/usr/bin/env python3
"""Converts the shared Mixtral-8x7B MMLU expert-load data into the popularity tables that
`moesim trace synth --dist table --table FILE.csv` reads (lines layer,expert,value; each
layer's values are normalised by moesim, so counts and fractions both work).

Inputs (read-only, see the directory's README.txt; Apache-2.0), under SHARED_DIR, by default
../shared/data/expert-load beside the repository root (the team's shared data directory):
  mixtral_mmlu_expert_popularity__efeslab_fiddler/mixtral_8x7b_original/*.json
      efeslab/fiddler commit 7f82a2d2 (files added in 5e5ed67): top-2 assignment counts
      per layer and expert of mistralai/Mixtral-8x7B-v0.1 on 7 MMLU subjects.
  mixtral_mmlu_frac_vecs__ajtejankar_mixtral-vis-moe/DERIVED_per_layer_mean_fraction_all57subjects.csv
      ajtejankar/mixtral-vis-moe commit 5c2f185d: per-question expert-assignment fractions
      of Mixtral 8x7B on all 14,042 MMLU test questions, averaged per layer.

Outputs (--out, default tools/data/):
  mixtral-8x7b-mmlu-fiddler.csv      counts summed over the 7 subjects (token-weighted)
  mixtral-8x7b-mmlu-57subjects.csv   mean per-question fractions (question-weighted)

Run:  python3 tools/expert_load_table.py [SHARED_DIR] [--out DIR]
Only the standard library is used; the output is deterministic.
"""
import argparse
import csv
import glob
import json
import os
import sys

TOOLS = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SHARED = os.path.join(os.path.dirname(TOOLS), "..", "shared", "data", "expert-load")


def fiddler(shared, out):
    files = sorted(glob.glob(os.path.join(shared, "mixtral_mmlu_expert_popularity__efeslab_fiddler",
                                          "mixtral_8x7b_original", "expert_popularity_*.json")))
    if not files:
        sys.exit("no fiddler files under " + shared)
    total = None
    for f in files:
        with open(f) as fp:
            pop = json.load(fp)["expert_popularity"]
        if total is None:
            total = [[0] * len(pop[0]) for _ in pop]
        for l, row in enumerate(pop):
            for e, c in enumerate(row):
                total[l][e] += int(c)
    subjects = [os.path.basename(f)[len("expert_popularity_"):-len(".json")] for f in files]
    path = os.path.join(out, "mixtral-8x7b-mmlu-fiddler.csv")
    with open(path, "w", newline="") as fp:
        fp.write("# Mixtral-8x7B (mistralai/Mixtral-8x7B-v0.1) top-2 expert assignment counts per MoE layer,\n"
                 "# MMLU test questions (prefill + 1 generated token), summed over %d subjects: %s.\n"
                 "# Source: efeslab/fiddler benchmarks/results/popularity/mixtral_8x7b_original/ (commit 5e5ed67,\n"
                 "# last present at 7f82a2d2c1294d84f0c1b6107e38c50547106c2b), Apache-2.0 (tools/data/LICENSE.Apache-2.0).\n"
                 "# Converted by tools/expert_load_table.py. Each layer sums to %d assignments (2 per token).\n"
                 % (len(files), ", ".join(subjects), sum(total[0])))
        w = csv.writer(fp, lineterminator="\n")
        w.writerow(["layer", "expert", "count"])
        for l, row in enumerate(total):
            for e, c in enumerate(row):
                w.writerow([l, e, c])
    print("wrote", path)


def frac57(shared, out):
    src = os.path.join(shared, "mixtral_mmlu_frac_vecs__ajtejankar_mixtral-vis-moe",
                       "DERIVED_per_layer_mean_fraction_all57subjects.csv")
    if not os.path.exists(src):
        sys.exit("no %s" % src)
    rows = []
    with open(src) as fp:
        for r in csv.reader(line for line in fp if not line.startswith("#")):
            if r[0] == "layer":
                head = r
                continue
            rows.append(r)
    experts = [i for i, h in enumerate(head) if h.startswith("e") and h[1:].isdigit()]
    path = os.path.join(out, "mixtral-8x7b-mmlu-57subjects.csv")
    with open(path, "w", newline="") as fp:
        fp.write("# Mixtral 8x7B mean per-question share of top-2 expert assignments per MoE layer, over all\n"
                 "# 14,042 MMLU test questions (57 subjects, each question weighted equally).\n"
                 "# Source: ajtejankar/mixtral-vis-moe frac_vecs/*.npy (commit 5c2f185d579721ee17d7a8111a221ee9d41c9ac8),\n"
                 "# averaged in DERIVED_per_layer_mean_fraction_all57subjects.csv; Apache-2.0 (tools/data/LICENSE.Apache-2.0).\n"
                 "# Converted by tools/expert_load_table.py.\n")
        w = csv.writer(fp, lineterminator="\n")
        w.writerow(["layer", "expert", "fraction"])
        for r in rows:
            for e, i in enumerate(experts):
                w.writerow([int(r[0]), e, r[i]])
    print("wrote", path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shared_dir", nargs="?", default=DEFAULT_SHARED,
                    help="the expert-load data directory (default: %(default)s)")
    ap.add_argument("--out", default=os.path.join(TOOLS, "data"), help="output directory (default: %(default)s)")
    a = ap.parse_args(argv)
    shared = os.path.normpath(a.shared_dir)
    os.makedirs(a.out, exist_ok=True)
    fiddler(shared, a.out)
    frac57(shared, a.out)


if __name__ == "__main__":
    main()
