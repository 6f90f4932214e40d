#!/usr/bin/env python3
"""Writes small router traces (docs/trace-format.md) that both trace validators must judge
alike: the recorder's (tools/moesim_record.py validate) and moesim's (`moesim trace
validate`, trace/tr_validate.c).

  good/*.h5     valid traces, each exercising one corner the format allows
  bad/*.h5      one violation of the format each (a few are not HDF5 at all)
  bad/expect.tsv
                one line per bad file: name, then a fixed string moesim's message must
                contain, then one the recorder's must contain (tab-separated)

Run from anywhere: /usr/bin/python3 tests/data/traces/make_bad.py [OUTDIR] (needs numpy,
h5py; OUTDIR defaults to this directory).
The files are committed; tools/tests/test_validators.py checks that this script's list
of cases still matches bad/expect.tsv and feeds every file to both validators, and
tests/cli_test.sh feeds them to the moesim binary (also under ASan and valgrind).

Every file starts from one base trace: 2 MoE layers, 6 experts, depth 3, 6 tokens over 2
steps and 2 ranks, softmax scores from stored logits, 3 domains; the case then changes
one thing. Everything is deterministic (fixed logits, fixed creation date).
"""
import os
import shutil
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 65536


def base(kind="softmax", L=2, E=6, K=3, T=6, logits=True, domains=True):
    """The base trace as plain data: attrs (name -> value) and datasets (path -> array)."""
    lg = (np.arange(L * T * E, dtype=np.float64).reshape(L, T, E) * 2.385 % 4.75 - 2.0).astype(np.float32)
    if kind == "softmax":
        p = np.exp(lg.astype(np.float64) - lg.max(axis=2, keepdims=True))
        p = (p / p.sum(axis=2, keepdims=True)).astype(np.float32)
        ids = np.argsort(-p, axis=2, kind="stable")[:, :, :K]
    else:  # sigmoid: ranked by a biased score, so the scores need not decrease
        p = (1.0 / (1.0 + np.exp(-lg.astype(np.float64)))).astype(np.float32)
        bias = np.linspace(0.3, -0.3, E)
        ids = np.argsort(-(p + bias), axis=2, kind="stable")[:, :, :K]
    sc = np.take_along_axis(p, ids, axis=2).astype(np.float32)
    steps = [0, 0, 0, 1, 1, 1][:T]
    ranks = [0, 0, 1, 0, 0, 1][:T]
    seqs = [3, 3, 5, 3, 4, 5][:T]
    pos = [0, 1, 0, 2, 0, 1][:T]
    attrs = {"format": "moesim-trace", "version": np.int32(1), "num_layers": np.int32(L),
             "num_experts": np.int32(E), "depth": np.int32(K), "num_tokens": np.int64(T),
             "model": "make_bad base", "score_kind": kind,
             "source": "tests/data/traces/make_bad.py", "created": "2026-01-01T00:00:00Z",
             "top_k": np.int32(2)}
    ds = {"routing/expert_ids": ids.astype(np.int16), "routing/scores": sc,
          "tokens/step": np.array(steps, np.int32), "tokens/sequence": np.array(seqs, np.int64),
          "tokens/position": np.array(pos, np.int32), "tokens/rank": np.array(ranks, np.int32)}
    if logits:
        ds["routing/logits"] = lg
    if domains:
        ds["tokens/domain"] = np.array([0, 0, 1, 0, 2, 1][:T], np.int16)
        ds["tokens/domain_names"] = np.array([b"code", b"prose", b"math"], dtype="S5")
    return {"attrs": attrs, "ds": ds, "vlen": False}


def write(path, tr):
    """Writes tr as the format says: fixed-length ASCII string attributes, chunked,
    shuffle + gzip 4, unlimited token axis."""
    # libver latest: new-style chunk indexes, so the files are small (HDF5 >= 1.10 reads
    # them); no object timestamps, so the same case gives the same bytes.
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    with h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl)) as f:
        for g in sorted({n.split("/")[0] for n in tr["ds"]}):
            h5py.h5g.create(f.id, g.encode(), gcpl=gcpl)
        for k, v in tr["attrs"].items():
            if isinstance(v, str):
                raw = v.encode()
                if tr["vlen"]:
                    f.attrs.create(k, v, dtype=h5py.string_dtype("utf-8"))
                else:
                    f.attrs.create(k, np.array(raw, dtype=f"S{max(1, len(raw))}"),
                                   dtype=h5py.string_dtype("ascii", max(1, len(raw))))
            else:
                f.attrs[k] = v
        for name, a in tr["ds"].items():
            if name == "tokens/domain_names":
                f.create_dataset(name, data=a, track_times=False)
                continue
            a = np.asarray(a)
            t_axis = 1 if a.ndim >= 2 else 0
            chunks = [max(1, n) for n in a.shape]
            chunks[t_axis] = max(1, min(a.shape[t_axis], CHUNK))
            if a.ndim >= 2:
                chunks[0] = 1
            # the token axis unlimited; an empty axis too (a chunk cannot be 0 long)
            maxshape = [None if i == t_axis or n == 0 else n for i, n in enumerate(a.shape)]
            f.create_dataset(name, data=a, chunks=tuple(chunks), maxshape=tuple(maxshape),
                             compression="gzip", compression_opts=4, shuffle=True, track_times=False)


# --- the cases ------------------------------------------------------------------------

def good_cases():
    def empty():
        tr = base(T=0)
        return tr

    def vlen():
        tr = base()
        tr["vlen"] = True   # h5py's default for str: variable-length UTF-8 (readers should accept it)
        return tr

    def bigendian():
        tr = base()
        for k in ("routing/expert_ids", "routing/scores", "tokens/sequence"):
            tr["ds"][k] = tr["ds"][k].astype(tr["ds"][k].dtype.newbyteorder(">"))
        return tr

    def created_offset():
        tr = base()
        tr["attrs"]["created"] = "2024-02-29T23:59:59.5+05:30"   # leap day, fraction, offset
        return tr

    def minimal():
        tr = base(logits=False, domains=False)
        del tr["attrs"]["top_k"]
        return tr

    return {
        "base": base,                                   # softmax with logits and domains
        "minimal": minimal,                             # no optional dataset or attribute
        "sigmoid": lambda: base(kind="sigmoid"),        # scores not monotone, matching logits
        "full-ranking": lambda: base(K=6),              # depth = num_experts
        "empty": empty,                                 # T = 0
        "vlen-strings": vlen,
        "big-endian": bigendian,                        # int16 / float32 / int64 stored big-endian
        "created-offset": created_offset,
    }


def setds(name, fn):
    def case():
        tr = base()
        tr["ds"][name] = fn(tr["ds"][name].copy())
        return tr
    return case


def at(index, value):
    def fn(a):
        a[index] = value
        return a
    return fn


def setattr_(name, value):
    def case():
        tr = base()
        if value is None:
            del tr["attrs"][name]
        else:
            tr["attrs"][name] = value
        return tr
    return case


def drop(name):
    def case():
        tr = base()
        del tr["ds"][name]
        return tr
    return case


def bad_cases():
    """name -> (builder, moesim's message contains, the recorder's message contains)."""
    c = {}

    def nolog(fn):
        def case():
            tr = fn()
            tr["ds"].pop("routing/logits", None)
            return tr
        return case

    # values
    c["score-nan"] = (nolog(setds("routing/scores", at((1, 2, 1), np.nan))), "/routing/scores[1, 2, 1] = nan is not finite",
                      "non-finite score")
    c["score-inf-sigmoid"] = (lambda: _sigmoid_inf(), "/routing/scores[0, 4, 0] = inf is not finite", "non-finite score")
    c["id-out-of-range"] = (nolog(setds("routing/expert_ids", at((0, 3, 2), 6))),
                            "/routing/expert_ids[0, 3, 2] = 6 is out of range: num_experts = 6",
                            "expert id out of range")
    c["id-negative"] = (nolog(setds("routing/expert_ids", at((1, 0, 0), -1))),
                        "/routing/expert_ids[1, 0, 0] = -1 is out of range", "expert id out of range")
    c["id-out-of-range-with-logits"] = (lambda: _id_with_logits(6), "/routing/expert_ids[1, 5, 2] = 6 is out of range",
                                        "expert id out of range")
    c["id-negative-with-logits"] = (lambda: _id_with_logits(-1), "/routing/expert_ids[1, 5, 2] = -1 is out of range",
                                    "expert id out of range")
    c["id-duplicate"] = (nolog(lambda: _dup()), "/routing/expert_ids[0, 1, 2] = ", "repeated expert id")
    c["softmax-increasing"] = (nolog(setds("routing/scores", at((0, 2, 2), 0.9))),
                               "softmax scores must not increase along the ranking", "softmax scores increase")
    c["softmax-above-one"] = (nolog(lambda: _above_one()), "= 1.25 is outside [0, 1] (score_kind softmax)",
                              "softmax score outside [0, 1]")
    c["sigmoid-negative"] = (lambda: _sigmoid_negative(), "= -0.2385 is outside [0, 1] (score_kind sigmoid)",
                             "sigmoid score outside [0, 1]")
    c["scores-vs-logits"] = (setds("routing/scores", at((1, 4, 0), 0.5)), "/routing/scores[1, 4, 0] = 0.5 does not match "
                             "/routing/logits", "scores do not match logits")
    c["logits-nan"] = (setds("routing/logits", at((0, 1, 5), np.nan)), "/routing/logits[0, 1, 5] = nan is not finite",
                       "non-finite logits")
    # dtypes and shapes
    c["ids-int32"] = (setds("routing/expert_ids", lambda a: a.astype(np.int32)),
                      "/routing/expert_ids has type int32, expected int16", "/routing/expert_ids dtype int32")
    c["ids-uint16"] = (setds("routing/expert_ids", lambda a: a.astype(np.uint16)),
                       "/routing/expert_ids has type uint16, expected int16", "/routing/expert_ids dtype uint16")
    c["scores-float64"] = (setds("routing/scores", lambda a: a.astype(np.float64)),
                           "/routing/scores has type float64, expected float32", "/routing/scores dtype float64")
    c["sequence-int32"] = (setds("tokens/sequence", lambda a: a.astype(np.int32)),
                           "/tokens/sequence has type int32, expected int64", "/tokens/sequence dtype int32")
    c["step-float32"] = (setds("tokens/step", lambda a: a.astype(np.float32)),
                         "/tokens/step has type float32, expected int32", "/tokens/step dtype float32")
    c["ids-2d"] = (setds("routing/expert_ids", lambda a: a[:, :, 0]),
                   "/routing/expert_ids has shape [2, 6], expected [2, 6, 3]", "/routing/expert_ids shape (2, 6)")
    c["scores-extra-token"] = (setds("routing/scores", lambda a: np.concatenate([a, a[:, :1]], axis=1)),
                               "/routing/scores has shape [2, 7, 3], expected [2, 6, 3]", "/routing/scores shape (2, 7, 3)")
    c["logits-short"] = (setds("routing/logits", lambda a: a[:, :, :5]),
                         "/routing/logits has shape [2, 6, 5], expected [2, 6, 6]", "/routing/logits shape (2, 6, 5)")
    c["rank-extra-token"] = (setds("tokens/rank", lambda a: np.append(a, 1).astype(np.int32)),
                             "/tokens/rank has shape [7], expected [6]", "/tokens/rank shape (7,)")
    # attributes
    for name in ("format", "version", "num_layers", "num_experts", "depth", "num_tokens", "model", "score_kind",
                 "source", "created"):
        c["missing-attr-" + name] = (setattr_(name, None), f"missing root attribute '{name}'",
                                     f"missing root attribute {name}")
    c["version-int64"] = (setattr_("version", np.int64(1)), "root attribute 'version' has type int64, expected int32",
                          "attribute version has dtype int64")
    c["num-tokens-int32"] = (setattr_("num_tokens", np.int32(6)),
                             "root attribute 'num_tokens' has type int32, expected int64",
                             "attribute num_tokens has dtype int32")
    c["depth-array"] = (setattr_("depth", np.array([3], np.int32)), "root attribute 'depth' is not a scalar",
                        "attribute depth has dtype int32, expected int32 scalar")
    c["model-not-string"] = (setattr_("model", np.int32(7)), "root attribute 'model' is not one string value",
                             "attribute model is not a string")
    c["format-wrong"] = (setattr_("format", "moesim-trace-x"), "root attribute 'format' = 'moesim-trace-x'",
                         "format is 'moesim-trace-x'")
    c["version-2"] = (setattr_("version", np.int32(2)), "trace format version 2 is not supported", "version 2 != 1")
    c["num-layers-0"] = (lambda: _layers0(), "root attribute 'num_layers' = 0 must be at least 1",
                         "num_layers 0 must be at least 1")
    c["num-experts-40000"] = (lambda: _experts40000(), "root attribute 'num_experts' = 40000 must be in 1..32767",
                              "num_experts 40000 not in 1..32767")
    c["depth-0"] = (lambda: _depth0(), "root attribute 'depth' = 0 must be in 1..num_experts = 6",
                    "depth 0 not in 1..num_experts 6")
    c["depth-above-experts"] = (setattr_("depth", np.int32(7)), "root attribute 'depth' = 7 must be in 1..num_experts = 6",
                                "depth 7 not in 1..num_experts 6")
    c["num-tokens-negative"] = (setattr_("num_tokens", np.int64(-1)), "root attribute 'num_tokens' = -1 is negative",
                                "num_tokens -1 is negative")
    c["top-k-above-depth"] = (setattr_("top_k", np.int32(4)), "root attribute 'top_k' = 4 must be in 1..depth = 3",
                              "top_k 4 not in 1..depth 3")
    c["score-kind-bogus"] = (setattr_("score_kind", "tanh"), "root attribute 'score_kind' = 'tanh'",
                             "score_kind 'tanh' not in")
    c["created-not-iso"] = (setattr_("created", "yesterday"), "root attribute 'created' = 'yesterday' is not an ISO 8601",
                            "created is not an ISO 8601 date")
    c["created-feb-30"] = (setattr_("created", "2026-02-30T00:00:00Z"),
                           "root attribute 'created' = '2026-02-30T00:00:00Z' is not an ISO 8601",
                           "created is not an ISO 8601 date")
    # datasets present or not
    c["missing-scores"] = (drop("routing/scores"), "missing dataset /routing/scores", "missing dataset /routing/scores")
    c["missing-position"] = (drop("tokens/position"), "missing dataset /tokens/position", "missing dataset /tokens/position")
    c["domain-without-names"] = (drop("tokens/domain_names"), "/tokens/domain is present but /tokens/domain_names is missing",
                                 "must both be present or both absent")
    c["names-without-domain"] = (drop("tokens/domain"), "/tokens/domain_names is present but /tokens/domain is missing",
                                 "must both be present or both absent")
    # token metadata
    c["domain-out-of-range"] = (setds("tokens/domain", at(4, 3)),
                                "/tokens/domain[4] = 3 is out of range: 3 domain names", "/tokens/domain out of range 0..2")
    c["domain-negative"] = (setds("tokens/domain", at(0, -1)), "/tokens/domain[0] = -1 is out of range",
                            "/tokens/domain out of range 0..2")
    c["position-negative"] = (lambda: _position_negative(), "/tokens/position[0] = -2 is negative",
                              "negative /tokens/position")
    c["rank-negative"] = (lambda: _rank_negative(), "/tokens/rank[0] = -1 is negative", "negative /tokens/rank")
    c["order-repeat"] = (setds("tokens/position", at(1, 0)), "token 1 (step 0, rank 0, sequence 3, position 0) repeats",
                         "tokens not strictly ordered")
    c["order-step-back"] = (setds("tokens/step", at(5, 0)), "token 5 (step 0, rank 1, sequence 5, position 1) comes after",
                            "tokens not strictly ordered")
    c["order-sequence-back"] = (setds("tokens/sequence", at(4, 2)),
                                "token 4 (step 1, rank 0, sequence 2, position 0) comes after", "tokens not strictly ordered")
    # not a trace at all
    c["not-hdf5"] = (None, "not an HDF5 file, or truncated or corrupt", "cannot open")
    c["truncated"] = (None, "not an HDF5 file, or truncated or corrupt", "cannot open")
    return c


def _sigmoid_inf():
    tr = base(kind="sigmoid", logits=False)
    tr["ds"]["routing/scores"][0, 4, 0] = np.inf
    return tr


def _sigmoid_negative():
    tr = base(kind="sigmoid", logits=False)
    tr["ds"]["routing/scores"][1, 3, 1] = -0.2385
    return tr


def _id_with_logits(v):
    """An id out of range in a trace with logits (the scores elsewhere consistent)."""
    tr = base()
    tr["ds"]["routing/expert_ids"][1, 5, 2] = v
    return tr


def _dup():
    tr = base()
    ids = tr["ds"]["routing/expert_ids"]
    ids[0, 1, 2] = ids[0, 1, 0]
    tr["ds"]["routing/scores"][0, 1, 2] = tr["ds"]["routing/scores"][0, 1, 1]  # still non-increasing
    return tr


def _above_one():
    tr = base()
    tr["ds"]["routing/scores"][0, 0, :] = [1.25, 0.5, 0.25]   # still non-increasing
    return tr


def _layers0():
    tr = base(logits=False)
    tr["attrs"]["num_layers"] = np.int32(0)
    for k in ("routing/expert_ids", "routing/scores"):
        tr["ds"][k] = tr["ds"][k][:0]
    return tr


def _experts40000():
    tr = base(logits=False, K=1)
    tr["attrs"]["num_experts"] = np.int32(40000)
    tr["attrs"]["top_k"] = np.int32(1)
    return tr


def _depth0():
    tr = base(logits=False)
    tr["attrs"]["depth"] = np.int32(0)
    del tr["attrs"]["top_k"]
    for k in ("routing/expert_ids", "routing/scores"):
        tr["ds"][k] = tr["ds"][k][:, :, :0]
    return tr


def _position_negative():
    tr = base()
    tr["ds"]["tokens/position"][0] = -2   # (0, 0, 3, -2) < (0, 0, 3, 1): order still holds
    return tr


def _rank_negative():
    tr = base()
    tr["ds"]["tokens/rank"][:2] = -1      # tokens 0 and 1 on rank -1: order still holds
    return tr


def main(out=HERE):
    """Writes good/, bad/ and bad/expect.tsv under out (default: this directory)."""
    good, bad = os.path.join(out, "good"), os.path.join(out, "bad")
    for d in (good, bad):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    for name, fn in good_cases().items():
        write(os.path.join(good, name + ".h5"), fn())
    lines = []
    for name, (fn, c_msg, py_msg) in bad_cases().items():
        path = os.path.join(bad, name + ".h5")
        if name == "not-hdf5":
            with open(path, "w") as f:
                f.write("layer,token,expert\n0,0,3\n")
        elif name == "truncated":
            write(path, base())
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(data[:len(data) // 2])
        else:
            write(path, fn())
        assert "\t" not in c_msg + py_msg
        lines.append(f"{name}.h5\t{c_msg}\t{py_msg}\n")
    with open(os.path.join(bad, "expect.tsv"), "w") as f:
        f.write("# file\tmoesim trace validate says\tmoesim_record.py validate says (make_bad.py writes this)\n")
        f.writelines(lines)
    print(f"wrote {len(good_cases())} good and {len(lines)} bad traces under {out}")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
