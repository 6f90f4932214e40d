"""Deterministic four-domain byte corpus gathered from files on this machine.

Domains (index = domain id used in traces):

  0 c_headers        C headers under /usr/include (*.h)
  1 python           Python standard library sources under /usr/lib/python3.11 (*.py)
  2 english_docs     plain-text English documentation under /usr/share/doc
                     (README*, *.txt, *.md, *.rst; gzip-compressed ones
                     decompressed; licence texts, copyright files, change
                     logs and files that fail a prose test are skipped)
  3 structured_data  JSON, CSV and XML data files under /usr/share

Selection is deterministic for a given set of files on disk: every domain's
candidate list is sorted by path, shuffled with ``random.Random(f"{seed}:{domain}")``
and files are taken in that order (at most ``max_files_per_dir`` from any one
directory, so a few large generated directories cannot dominate), each truncated to ``max_file_bytes`` (cut at
the last newline), the first ones filling the held-out evaluation slice
(``eval_bytes``) and the rest the training slice (``train_bytes``).  A file goes
wholly to one slice, so evaluation text never appears in training.

The exact files and byte counts used are written to a manifest (JSON) so a
corpus can be checked against another machine's package set.
"""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence

DOMAINS = ("c_headers", "python", "english_docs", "structured_data")


def _walk(root: str, accept: Callable[[str], bool], prune: Sequence[str] = ()) -> List[str]:
    out = []
    if not os.path.isdir(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not any(fnmatch.fnmatch(d, p) for p in prune))
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            if accept(p):
                out.append(p)
    return sorted(out)


def _candidates_c() -> List[str]:
    # ATen/torch/c10/caffe2: thousands of generated PyTorch headers (python3-torch)
    return _walk("/usr/include", lambda p: p.endswith(".h"),
                 prune=("ATen", "torch", "c10", "caffe2"))


def _candidates_python() -> List[str]:
    # stdlib only: dist-packages/site-packages vary with what is installed
    return _walk("/usr/lib/python3.11", lambda p: p.endswith(".py"),
                 prune=("site-packages", "dist-packages", "__pycache__"))


_LICENCE_WORDS = ("copyright", "license", "licence", "copying", "changelog")


def _candidates_docs() -> List[str]:
    def ok(p: str) -> bool:
        name = os.path.basename(p).lower()
        stem = name[:-3] if name.endswith(".gz") else name
        if not (name.startswith("readme") or stem.endswith((".txt", ".md", ".rst"))):
            return False
        return not any(w in p.lower() for w in _LICENCE_WORDS)
    return _walk("/usr/share/doc", ok)


def _candidates_structured() -> List[str]:
    return _walk("/usr/share", lambda p: p.lower().endswith((".json", ".csv", ".xml")),
                 prune=("doc",))  # /usr/share/doc holds examples of everything


def _read(path: str, limit: int) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except (OSError, EOFError, gzip.BadGzipFile):
        return b""
    if len(data) > limit:
        cut = data.rfind(b"\n", 0, limit)
        data = data[: cut + 1] if cut > 0 else data[:limit]
    return data


def _is_text(data: bytes) -> bool:
    if not data or b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_prose(data: bytes) -> bool:
    """English-ish running text: mostly letters/spaces, few code symbols."""
    if len(data) < 200:
        return False
    text = data.decode("utf-8", "replace")
    letters = sum(c.isalpha() for c in text)
    spaces = text.count(" ")
    symbols = sum(text.count(c) for c in "{}[]<>;=$#\\|")
    n = len(text)
    if (letters + spaces) / n < 0.80 or symbols / n > 0.02:
        return False
    words = text.lower().split()
    common = sum(w in ("the", "and", "of", "to", "is", "for", "in", "a", "this", "be") for w in words)
    return len(words) > 0 and common / len(words) > 0.08


CANDIDATES: Dict[str, Callable[[], List[str]]] = {
    "c_headers": _candidates_c,
    "python": _candidates_python,
    "english_docs": _candidates_docs,
    "structured_data": _candidates_structured,
}

FILTERS: Dict[str, Callable[[bytes], bool]] = {
    "c_headers": _is_text,
    "python": _is_text,
    "english_docs": lambda b: _is_text(b) and _is_prose(b),
    "structured_data": _is_text,
}


@dataclass
class DomainText:
    name: str
    train: bytes
    eval: bytes
    train_files: List[dict] = field(default_factory=list)
    eval_files: List[dict] = field(default_factory=list)
    candidates: int = 0


def collect(seed: int = 1234, train_bytes: int = 3_000_000, eval_bytes: int = 262_144,
            max_file_bytes: int = 32_768, max_files_per_dir: int = 16,
            domains: Sequence[str] = DOMAINS,
            separator: bytes = b"\n\n") -> Dict[str, DomainText]:
    out: Dict[str, DomainText] = {}
    for name in domains:
        files = CANDIDATES[name]()
        rng = random.Random(f"{seed}:{name}")
        order = list(files)
        rng.shuffle(order)
        dt = DomainText(name=name, train=b"", eval=b"", candidates=len(files))
        ev: List[bytes] = []
        tr: List[bytes] = []
        n_ev = n_tr = 0
        per_dir: Dict[str, int] = {}
        for p in order:
            if n_tr >= train_bytes:
                break
            d = os.path.dirname(p)
            if per_dir.get(d, 0) >= max_files_per_dir:
                continue
            data = _read(p, max_file_bytes)
            if not FILTERS[name](data):
                continue
            per_dir[d] = per_dir.get(d, 0) + 1
            rec = {"path": p, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            if n_ev < eval_bytes:
                ev.append(data)
                n_ev += len(data) + len(separator)
                dt.eval_files.append(rec)
            else:
                tr.append(data)
                n_tr += len(data) + len(separator)
                dt.train_files.append(rec)
        dt.eval = separator.join(ev)
        dt.train = separator.join(tr)
        out[name] = dt
    return out


def collect_defaults() -> dict:
    import inspect
    return {k: (v.default.decode("latin-1") if isinstance(v.default, bytes) else v.default)
            for k, v in inspect.signature(collect).parameters.items() if k not in ("seed", "domains")}


def manifest(corpus: Dict[str, DomainText], seed: int, **settings) -> dict:
    m = {"seed": seed, "settings": settings, "domains": {}}
    for name, dt in corpus.items():
        m["domains"][name] = {
            "candidates": dt.candidates,
            "train_bytes": len(dt.train),
            "eval_bytes": len(dt.eval),
            "train_sha256": hashlib.sha256(dt.train).hexdigest(),
            "eval_sha256": hashlib.sha256(dt.eval).hexdigest(),
            "train_files": dt.train_files,
            "eval_files": dt.eval_files,
        }
    return m


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--manifest", help="write the manifest JSON here")
    a = ap.parse_args()
    c = collect(a.seed)
    for name, dt in c.items():
        print(f"{name:16s} candidates={dt.candidates:6d} train={len(dt.train):9d} B "
              f"({len(dt.train_files)} files) eval={len(dt.eval):8d} B ({len(dt.eval_files)} files)")
    if a.manifest:
        with open(a.manifest, "w") as f:
            json.dump(manifest(c, a.seed, **collect_defaults()), f, indent=1)
