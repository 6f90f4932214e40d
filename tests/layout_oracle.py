#!/usr/bin/python3
"""layout_oracle.py - Megatron-Core's parallel groups, for tests/check_layout.c.

generate_masked_orthogonal_rank_groups and RankGenerator below are copied from
NVIDIA/Megatron-LM, megatron/core/parallel_state.py (commit d98e8a64, BSD-3-Clause,
Copyright (c) 2022-2025 NVIDIA CORPORATION), with docstrings shortened, the
gtp_remat axis (size 1 in moesim, a no-op) and rank_offset (0) dropped. The kinds
are the get_ranks() calls of initialize_model_parallel in that file.

usage: layout_oracle.py WORLD TP CP PP EP ETP
Prints one line per group, "<kind> <index>: <rank> <rank> ...", kinds in the order
of par_kind (parallel/par_layout.h), groups in Megatron's order.
"""
import sys
from typing import List


def generate_masked_orthogonal_rank_groups(
    world_size: int, parallel_size: List[int], mask: List[bool]
) -> List[List[int]]:
    def prefix_product(a: List[int], init=1) -> List[int]:
        r = [init]
        for v in a:
            init = init * v
            r.append(init)
        return r

    def inner_product(a: List[int], b: List[int]) -> int:
        return sum([x * y for x, y in zip(a, b)])

    def decompose(index, shape, stride=None):
        if stride is None:
            stride = prefix_product(shape)
        idx = [(index // d) % s for s, d in zip(shape, stride)]
        # stride is a prefix_product result. And the value of stride[-1]
        # is not used.
        assert (
            sum([x * y for x, y in zip(idx, stride[:-1])]) == index
        ), "idx {} with shape {} mismatch the return idx {}".format(index, shape, idx)
        return idx

    masked_shape = [s for s, m in zip(parallel_size, mask) if m]
    unmasked_shape = [s for s, m in zip(parallel_size, mask) if not m]

    global_stride = prefix_product(parallel_size)
    masked_stride = [d for d, m in zip(global_stride, mask) if m]
    unmasked_stride = [d for d, m in zip(global_stride, mask) if not m]

    group_size = prefix_product(masked_shape)[-1]
    num_of_group = world_size // group_size

    ranks = []
    for group_index in range(num_of_group):
        # get indices from unmaksed for group_index.
        decomposed_group_idx = decompose(group_index, unmasked_shape)
        rank = []
        for rank_in_group in range(group_size):
            # get indices from masked for rank_in_group.
            decomposed_rank_idx = decompose(rank_in_group, masked_shape)
            rank.append(
                inner_product(decomposed_rank_idx, masked_stride)
                + inner_product(decomposed_group_idx, unmasked_stride)
            )
        ranks.append(rank)
    return ranks


class RankGenerator(object):
    def __init__(self, tp: int, ep: int, dp: int, pp: int, cp: int, order: str) -> None:
        assert (
            ep == 1 or cp == 1
        ), "Both EP and CP > 1 in not allow in one rank generator. \
            CP is only included in default RankGenerator, and EP only in expert RankGenerator."

        self.tp = tp
        self.ep = ep
        self.dp = dp
        self.pp = pp
        self.cp = cp
        self.world_size = tp * dp * pp * cp * ep

        self.name_to_size = {
            "tp": self.tp,
            "pp": self.pp,
            "dp": self.dp,
            "ep": self.ep,
            "cp": self.cp,
        }
        self.order = order
        order = order.lower()

        for name in self.name_to_size.keys():
            if name not in order and self.name_to_size[name] != 1:
                raise RuntimeError(
                    f"The size of ({name}) is ({self.name_to_size[name]}), but you haven't"
                    f"specified the order ({self.order})."
                )
            elif name not in order:
                order = order + "-" + name

        self.order = order
        self.ordered_size = []

        for token in order.split("-"):
            self.ordered_size.append(self.name_to_size[token])

    def get_mask(self, order: str, token: str):
        ordered_token = order.split("-")
        token_list = token.split("-")
        mask = [False] * len(ordered_token)
        for t in token_list:
            mask[ordered_token.index(t)] = True
        return mask

    def get_ranks(self, token):
        mask = self.get_mask(self.order, token)
        ranks = generate_masked_orthogonal_rank_groups(self.world_size, self.ordered_size, mask)
        return ranks


def main(argv):
    if len(argv) != 7:
        sys.exit("usage: layout_oracle.py WORLD TP CP PP EP ETP")
    world, tp, cp, pp, ep, etp = (int(a) for a in argv[1:])
    order = "tp-cp-ep-dp-pp"
    # initialize_model_parallel: the decoder and expert generators.
    dp = world // (tp * pp * cp)
    edp = world // (etp * ep * pp)
    decoder = RankGenerator(tp=tp, ep=1, dp=dp, pp=pp, cp=cp, order=order)
    expert = RankGenerator(tp=etp, ep=ep, dp=edp, pp=pp, cp=1, order=order)
    assert decoder.get_ranks("pp") == expert.get_ranks("pp"), "pp groups differ"
    kinds = [
        ("tp", decoder, "tp"),
        ("cp", decoder, "cp"),
        ("dp", decoder, "dp"),
        ("pp", decoder, "pp"),
        ("dp-cp", decoder, "dp-cp"),
        ("tp-cp", decoder, "tp-cp"),
        ("tp-dp-cp", decoder, "tp-dp-cp"),
        ("mp", decoder, "tp-pp"),
        ("ep", expert, "ep"),
        ("etp", expert, "tp"),
        ("edp", expert, "dp"),
        ("tp-ep", expert, "tp-ep"),
        ("tp-ep-pp", expert, "tp-ep-pp"),
    ]
    out = []
    for name, gen, token in kinds:
        for i, ranks in enumerate(gen.get_ranks(token)):
            out.append("%s %d: %s\n" % (name, i, " ".join(str(r) for r in ranks)))
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main(sys.argv)
