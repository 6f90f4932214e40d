#!/usr/bin/env python3
"""Writes corrupt/*.h5: traces whose HDF5 metadata is damaged so that libhdf5 1.10 itself
crashes reading them (no check before the call can catch it; trace/tr_isolate.h). Every
command that opens a trace must turn that into a one-line error (tests/cli_test.sh).

  corrupt/attr-dataspace-size.h5
      a 2-layer, 8-expert, 64-token synthetic trace (version-1 object headers, which
      carry no checksum) whose first root attribute message, 'format', claims a
      dataspace of 0xee08 bytes instead of 8: H5Aexists decodes the message and
      memmove reads past the end of the header buffer (a segmentation fault). Found by
      flipping random bytes of the root object header.

Run from anywhere: /usr/bin/python3 tests/data/traces/make_corrupt.py MOESIM_BIN [OUTDIR]
(OUTDIR defaults to this directory). `moesim trace synth` writes the same bytes every
time (fixed seed and creation date), so the output is deterministic.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_corrupt.py MOESIM_BIN [OUTDIR]")
    out = os.path.join(sys.argv[2] if len(sys.argv) > 2 else HERE, "corrupt")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base.h5")
        subprocess.run([sys.argv[1], "trace", "synth", "-o", base, "--layers", "2", "--experts", "8",
                        "--tokens", "64"], check=True, stdout=subprocess.DEVNULL)
        d = bytearray(open(base, "rb").read())
    # Attribute message version 1: version, reserved, name size (2), datatype size (2),
    # dataspace size (2), then the name padded to 8 bytes: the byte before the name is
    # the dataspace size's high byte.
    i = d.index(b"format\0")
    assert d[i - 8] == 1 and d[i - 1] == 0, "unexpected attribute message layout"
    d[i - 1] = 0xEE
    with open(os.path.join(out, "attr-dataspace-size.h5"), "wb") as f:
        f.write(d)


if __name__ == "__main__":
    main()
