/*
 * check_layout.c - the parallel layout (parallel/par_layout.h) against Megatron-Core:
 * the worked examples of its docstrings (megatron/core/parallel_state.py) verbatim,
 * a brute-force check of every kind on several shapes (the groups partition the
 * world, members agree in every coordinate but the group's own and are numbered by
 * those), the groups Megatron's own code prints (tests/layout_oracle.py, a copy of
 * generate_masked_orthogonal_rank_groups and RankGenerator, run by /usr/bin/python3
 * where it exists), each refusal's message, and the printed layout.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parallel/par_layout.h"
#include "test_util.h"

/* ck_assert records its place in the test's log on every pass, one write(2) each;
 * the loops over every rank of a 65536-GPU world check through this instead. */
#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* A shape every rule accepts, with DeepSeek-V3-like model facts (128 heads, 256
 * experts, hidden sizes 18432 and 2048) where they divide; layers and the batch are
 * sized so the pipeline and the interleaved schedule split them evenly. */
static par_shape make_shape(int world, int tp, int cp, int pp, int ep, int etp, int vpp)
{
	par_shape s;
	memset(&s, 0, sizeof s);
	s.world = world;
	s.tp = tp;
	s.cp = cp;
	s.pp = pp;
	s.vpp = vpp;
	s.ep = ep;
	s.etp = etp;
	s.layers = 4 * pp * vpp;
	s.experts = 256;
	s.heads = 128;
	s.kv_heads = 0;
	s.ffn_hidden = 18432;
	s.moe_ffn_hidden = 2048;
	s.seq_len = 4096;
	s.micro_batch = 1;
	s.global_batch = (int64_t)(world / (tp * cp * pp)) * pp * 3;
	return s;
}

static void init_ok(par_layout *l, const par_shape *s)
{
	ms_error err;
	ms_error_clear(&err);
	if (par_layout_init(l, s, &err) != MS_OK)
		ck_abort_msg("layout refused: %s", err.msg);
}

/* Group `group` of the kind is exactly want[0..n). */
static void expect_group(const par_layout *l, par_kind kind, int group, const int *want, int n)
{
	const int32_t *m;
	int size;
	par_group_members(l, kind, group, &m, &size);
	ck_assert_int_eq(size, n);
	for (int i = 0; i < n; i++)
		ck_assert_msg(m[i] == want[i], "%s group %d member %d: %d, want %d", par_kind_name(kind), group, i,
			      (int)m[i], want[i]);
}

/* Every group of the kind, listed row after row (ngroups rows of size). */
static void expect_groups(const par_layout *l, par_kind kind, const int *want, int ngroups, int size)
{
	ck_assert_int_eq(par_ngroups(l, kind), ngroups);
	for (int g = 0; g < ngroups; g++)
		expect_group(l, kind, g, want + g * size, size);
}

/* initialize_model_parallel's docstring: "16 GPUs ... 2 GPUs to parallelize the model
 * tensor, and 4 GPUs to parallelize the model pipeline". */
START_TEST(docstring_16_gpus_tp2_pp4)
{
	par_layout l;
	par_shape s = make_shape(16, 2, 1, 4, 1, 0, 1);
	init_ok(&l, &s);
	ck_assert_int_eq(l.shape.dp, 2);
	static const int dp[] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
	static const int tp[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	static const int pp[] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
	expect_groups(&l, PAR_DP, dp, 8, 2);
	expect_groups(&l, PAR_TP, tp, 8, 2);
	expect_groups(&l, PAR_PP, pp, 4, 4);
	/* cp = 1: the gradient group with cp is the dp group. */
	expect_groups(&l, PAR_DP_CP, dp, 8, 2);
	for (int r = 0; r < 16; r++)
		ck_assert_int_eq(par_stage_of(&l, r), r / 4);
	par_layout_fini(&l);
}
END_TEST

/* generate_masked_orthogonal_rank_groups' docstring: parallel_size = [tp, dp, pp] =
 * [2, 3, 4], mask = [False, True, False]: dp_group[0] = [0, 2, 4], dp_group[1] =
 * [1, 3, 5], dp_group[7] = [19, 21, 23]. moesim's order with cp = ep = 1 is tp-dp-pp. */
START_TEST(docstring_24_gpus_dp_groups)
{
	par_layout l;
	par_shape s = make_shape(24, 2, 1, 4, 1, 0, 1);
	init_ok(&l, &s);
	ck_assert_int_eq(l.shape.dp, 3);
	ck_assert_int_eq(par_ngroups(&l, PAR_DP), 8);
	expect_group(&l, PAR_DP, 0, (const int[]){0, 2, 4}, 3);
	expect_group(&l, PAR_DP, 1, (const int[]){1, 3, 5}, 3);
	expect_group(&l, PAR_DP, 7, (const int[]){19, 21, 23}, 3);
	par_layout_fini(&l);
}
END_TEST

/* initialize_model_parallel's docstring of context_parallel_size: 8 GPUs, tp 4, cp 2:
 * one chunk on GPU0-3, the other on GPU4-7, cp groups [GPU0, GPU4], [GPU1, GPU5],
 * [GPU2, GPU6], [GPU3, GPU7]. */
START_TEST(docstring_8_gpus_tp4_cp2)
{
	par_layout l;
	par_shape s = make_shape(8, 4, 2, 1, 1, 0, 1);
	init_ok(&l, &s);
	static const int cp[] = {0, 4, 1, 5, 2, 6, 3, 7};
	static const int tp[] = {0, 1, 2, 3, 4, 5, 6, 7};
	expect_groups(&l, PAR_CP, cp, 4, 2);
	expect_groups(&l, PAR_TP, tp, 2, 4);
	/* dp = 1: the gradient group spans the cp ranks only. */
	expect_groups(&l, PAR_DP_CP, cp, 4, 2);
	par_layout_fini(&l);
}
END_TEST

/* The shapes of the brute-force and oracle checks. */
static const struct {
	const char *what;
	int world, tp, cp, pp, ep, etp, vpp;
	int oracle; /* also against tests/layout_oracle.py */
} SHAPES[] = {
	{"16 GPUs, tp 2, pp 4, dp 2", 16, 2, 1, 4, 1, 0, 1, 1},
	{"16 GPUs, tp 2, cp 2, pp 2, ep 2", 16, 2, 2, 2, 2, 0, 1, 1},
	{"64 GPUs, tp 2, pp 2, ep 8, etp 1", 64, 2, 1, 2, 8, 1, 1, 1},
	{"2048 GPUs, tp 1, pp 16, ep 64, etp 1 (DeepSeek-V3)", 2048, 1, 1, 16, 64, 1, 1, 1},
	{"64 GPUs, tp 1, pp 4, ep 8, vpp 2", 64, 1, 1, 4, 8, 1, 2, 1},
	{"48 GPUs, tp 2, cp 2, pp 3, ep 4, etp 1", 48, 2, 2, 3, 4, 1, 1, 1},
	{"96 GPUs, tp 4, cp 2, pp 2, ep 4, etp 2", 96, 4, 2, 2, 4, 2, 1, 1},
	{"65536 GPUs, tp 2, cp 2, pp 16, ep 64, etp 1", 65536, 2, 2, 16, 64, 1, 1, 0},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

static par_shape shape_at(int i)
{
	return make_shape(SHAPES[i].world, SHAPES[i].tp, SHAPES[i].cp, SHAPES[i].pp, SHAPES[i].ep, SHAPES[i].etp,
			  SHAPES[i].vpp);
}

/*
 * The brute-force oracle. A rank's coordinates on a grid (tp, cp, ep, dp, pp, tp
 * fastest) are read straight off the rank; a group of a kind must be the ranks that
 * agree in every coordinate outside the kind's axes, its index the mixed-radix number
 * of those coordinates, and a member's position the number of its own coordinates.
 * Written from the rank outwards, where par_layout.c (and Megatron) go from the group
 * index inwards.
 */
enum { TP, CP, EP, DP, PP, NAX };
static const unsigned AXES[PAR_NKINDS] = {
	[PAR_TP] = 1u << TP,
	[PAR_CP] = 1u << CP,
	[PAR_DP] = 1u << DP,
	[PAR_PP] = 1u << PP,
	[PAR_DP_CP] = 1u << DP | 1u << CP,
	[PAR_TP_CP] = 1u << TP | 1u << CP,
	[PAR_TP_DP_CP] = 1u << TP | 1u << DP | 1u << CP,
	[PAR_MP] = 1u << TP | 1u << PP,
	[PAR_EP] = 1u << EP,
	[PAR_ETP] = 1u << TP,
	[PAR_EDP] = 1u << DP,
	[PAR_TP_EP] = 1u << TP | 1u << EP,
	[PAR_TP_EP_PP] = 1u << TP | 1u << EP | 1u << PP,
};

static void check_kind(const par_layout *l, par_kind k, int *seen)
{
	const par_shape *s = &l->shape;
	int expert = k >= PAR_EP;
	const int grid[NAX] = {expert ? s->etp : s->tp, expert ? 1 : s->cp, expert ? s->ep : 1, expert ? l->edp : s->dp,
			       s->pp};
	int size = 1;
	for (int a = 0; a < NAX; a++)
		if (AXES[k] & 1u << a)
			size *= grid[a];
	ck_assert_int_eq(par_group_size(l, k), size);
	ck_assert_int_eq(par_ngroups(l, k) * size, s->world);
	memset(seen, 0, (size_t)s->world * sizeof *seen);
	for (int g = 0; g < par_ngroups(l, k); g++) {
		const int32_t *m;
		int n;
		par_group_members(l, k, g, &m, &n);
		for (int i = 0; i < n; i++) {
			int r = m[i], q = r, gidx = 0, gmul = 1, pidx = 0, pmul = 1;
			CHECK(r >= 0 && r < s->world, "%s group %d: rank %d", par_kind_name(k), g, r);
			CHECK(seen[r]++ == 0, "%s: rank %d in two groups", par_kind_name(k), r);
			CHECK(i == 0 || m[i - 1] < r, "%s group %d: members not ascending", par_kind_name(k), g);
			CHECK(par_group_of(l, k, r) == g && par_coord(l, k, r) == i, "%s: rank %d: group %d index %d, listed %d %d",
			      par_kind_name(k), r, par_group_of(l, k, r), par_coord(l, k, r), g, i);
			for (int a = 0; a < NAX; a++) {
				int c = q % grid[a];
				q /= grid[a];
				if (AXES[k] & 1u << a) {
					pidx += c * pmul;
					pmul *= grid[a];
				} else {
					gidx += c * gmul;
					gmul *= grid[a];
				}
			}
			CHECK(gidx == g && pidx == i, "%s: rank %d is member %d of group %d, want %d of %d", par_kind_name(k),
			      r, i, g, pidx, gidx);
		}
	}
}

START_TEST(brute_force_every_kind)
{
	par_layout l;
	par_shape s = shape_at(_i);
	init_ok(&l, &s);
	int *seen = malloc((size_t)s.world * sizeof *seen);
	ck_assert_ptr_nonnull(seen);
	for (int k = 0; k < PAR_NKINDS; k++)
		check_kind(&l, k, seen);
	free(seen);

	/* What the kinds mean, in the rank arithmetic a reader of Megatron expects. */
	int w = s.world, tp = s.tp, cp = s.cp, pp = s.pp, dp = l.shape.dp, etp = l.shape.etp;
	ck_assert_int_eq(l.edp, w / (etp * s.ep * pp));
	ck_assert_int_eq(par_group_size(&l, PAR_DP_CP), dp * cp);
	ck_assert_int_eq(par_group_size(&l, PAR_EDP), l.edp);
	for (int r = 0; r < w; r++) {
		int c_tp = par_coord(&l, PAR_TP, r), c_cp = par_coord(&l, PAR_CP, r), c_dp = par_coord(&l, PAR_DP, r);
		int stage = par_stage_of(&l, r);
		CHECK(c_tp == r % tp && c_cp == r / tp % cp && c_dp == r / (tp * cp) % dp && stage == r / (w / pp),
		      "rank %d: tp %d cp %d dp %d stage %d", r, c_tp, c_cp, c_dp, stage);
		int c_etp = par_coord(&l, PAR_ETP, r), c_ep = par_coord(&l, PAR_EP, r), c_edp = par_coord(&l, PAR_EDP, r);
		CHECK(c_etp == r % etp && c_ep == r / etp % s.ep && c_edp == r / (etp * s.ep) % l.edp,
		      "rank %d: etp %d ep %d edp %d", r, c_etp, c_ep, c_edp);
		/* dp-cp holds cp fastest: a rank's index is cp rank + cp * dp rank. */
		CHECK(par_coord(&l, PAR_DP_CP, r) == c_cp + cp * c_dp, "rank %d: dp-cp index %d", r,
		      par_coord(&l, PAR_DP_CP, r));
		/* One pipeline stage for the dense and the expert layers. */
		CHECK(par_coord(&l, PAR_TP_EP_PP, r) / (etp * s.ep) == stage, "rank %d: tp-ep-pp index %d", r,
		      par_coord(&l, PAR_TP_EP_PP, r));
	}
	par_layout_fini(&l);
}
END_TEST

/* The groups Megatron's own code builds, through tests/layout_oracle.py. */
START_TEST(megatron_oracle)
{
	const char *python = "/usr/bin/python3";
	if (!SHAPES[_i].oracle)
		return;
	if (access(python, X_OK) != 0) {
		fprintf(stderr, "check_layout: skipping the Megatron oracle (no %s)\n", python);
		return;
	}
	par_layout l;
	par_shape s = shape_at(_i);
	init_ok(&l, &s);
	const char *src = getenv("MOESIM_SRC") ? getenv("MOESIM_SRC") : ".";
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s %s/tests/layout_oracle.py %d %d %d %d %d %d", python, src, s.world, s.tp, s.cp,
		 s.pp, s.ep, l.shape.etp);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);

	int lines[PAR_NKINDS] = {0};
	size_t cap = 0;
	char *line = NULL;
	while (getline(&line, &cap, p) > 0) {
		char name[32];
		int g, used;
		CHECK(sscanf(line, "%31s %d:%n", name, &g, &used) == 2, "oracle line: %s", line);
		int k = par_kind_parse(name);
		CHECK(k >= 0, "oracle kind '%s'", name);
		CHECK(g == lines[k], "oracle %s group %d, expected %d", name, g, lines[k]);
		const int32_t *m;
		int n, i = 0;
		par_group_members(&l, k, g, &m, &n);
		for (char *c = line + used, *end;; c = end, i++) {
			long r = strtol(c, &end, 10);
			if (end == c)
				break;
			CHECK(i < n && r == m[i], "%s: %s group %d member %d: oracle %ld, layout %d",
				      SHAPES[_i].what, name, g, i, r, i < n ? (int)m[i] : -1);
		}
		CHECK(i == n, "%s: %s group %d: oracle %d members, layout %d", SHAPES[_i].what, name, g, i, n);
		lines[k]++;
	}
	free(line);
	ck_assert_int_eq(pclose(p), 0);
	for (int k = 0; k < PAR_NKINDS; k++)
		ck_assert_msg(lines[k] == par_ngroups(&l, k), "%s: %s: oracle %d groups, layout %d", SHAPES[_i].what,
			      par_kind_name(k), lines[k], par_ngroups(&l, k));
	par_layout_fini(&l);
}
END_TEST

/* What a 0 resolves to, and the derived numbers. */
START_TEST(defaults_and_derived)
{
	par_layout l;
	par_shape s = make_shape(64, 2, 1, 4, 8, 0, 0);
	s.layers = 24;
	s.moe_ffn_hidden = 0;
	s.global_batch = 8 * 3 * 5; /* dp 8, micro_batch 3: 5 microbatches */
	s.micro_batch = 3;
	init_ok(&l, &s);
	ck_assert_int_eq(l.shape.dp, 8);
	ck_assert_int_eq(l.shape.etp, 2);   /* etp 0 -> tp */
	ck_assert_int_eq(l.shape.vpp, 1);   /* vpp 0 -> no interleaving */
	ck_assert_int_eq(l.shape.kv_heads, 128); /* kv_heads 0 -> heads */
	ck_assert_int_eq(l.shape.moe_ffn_hidden, 18432); /* moe_ffn_hidden 0 -> ffn_hidden */
	ck_assert_int_eq(l.edp, 64 / (2 * 8 * 4));
	ck_assert_int_eq(l.microbatches, 5);
	ck_assert_int_eq(l.layers_per_chunk, 6);
	par_layout_fini(&l);
	par_layout_fini(&l); /* twice is harmless */

	/* Fewer KV heads than tp ranks are replicated: a divisor of tp is accepted. */
	s = make_shape(16, 8, 1, 1, 1, 0, 1);
	s.kv_heads = 2;
	init_ok(&l, &s);
	par_layout_fini(&l);
	/* A dp that matches is accepted. */
	s = make_shape(16, 2, 1, 4, 1, 0, 1);
	s.dp = 2;
	init_ok(&l, &s);
	par_layout_fini(&l);
}
END_TEST

/* Each refusal: a shape make_shape would accept, one edit, the code and the words
 * the message must hold (the rule, the numbers, the fix). */
typedef void (*shape_edit)(par_shape *s);
#define EDIT(name, ...) \
	static void name(par_shape *s) \
	{ \
		__VA_ARGS__; \
	}
EDIT(e_world_model, *s = make_shape(12, 2, 1, 4, 1, 0, 1))
EDIT(e_dp, s->dp = 3)
EDIT(e_world_expert, s->ep = 32)
EDIT(e_vpp_pp, s->pp = 1; s->vpp = 2; s->global_batch = 64; s->layers = 8)
EDIT(e_experts, s->experts = 60)
EDIT(e_heads, s->heads = 13)
EDIT(e_kv_heads, *s = make_shape(64, 4, 1, 4, 8, 1, 1); s->kv_heads = 6)
EDIT(e_ffn, s->ffn_hidden = 1001)
EDIT(e_moe_ffn, *s = make_shape(64, 2, 1, 4, 4, 2, 1); s->moe_ffn_hidden = 1001)
EDIT(e_layers, s->layers = 61)
EDIT(e_global_batch, s->global_batch = 8 * 12 + 4)
EDIT(e_micro_batch, s->micro_batch = 20)
EDIT(e_interleaved, *s = make_shape(64, 1, 1, 4, 8, 1, 2); s->global_batch = 16 * 6)
EDIT(e_seq_cp, *s = make_shape(64, 2, 2, 2, 8, 1, 1); s->seq_len = 4098)
EDIT(e_seq_sp, s->seq_len = 4097)
EDIT(e_seq_sp_cp, *s = make_shape(64, 4, 2, 2, 8, 1, 1); s->seq_len = 4100)
EDIT(e_degree, s->tp = 128)
EDIT(e_positive, s->cp = 0)
EDIT(e_batch_positive, s->micro_batch = -1)
EDIT(e_world_zero, s->world = 0)
EDIT(e_world_max, s->world = 1 << 21)
EDIT(e_dp_negative, s->dp = -2)
EDIT(e_batch_max, s->global_batch = INT64_MAX)

static const struct {
	shape_edit edit;
	int code;
	const char *want[3];
} REFUSALS[] = {
	{e_world_model, MS_EINVAL,
	 {"parallel: tp x cp x pp = 2 x 1 x 4 = 8 does not divide the 12 GPUs", "world_size % (tp*cp*pp) == 0",
	  "change the layout or the cluster"}},
	{e_dp, MS_EINVAL, {"dp = 3 but world / (tp x cp x pp) = 64 / (2 x 1 x 4) = 8", "set dp = 8, or 0"}},
	{e_world_expert, MS_EINVAL,
	 {"etp x ep x pp = 2 x 32 x 4 = 256 does not divide the 64 GPUs", "world_size % (etp*ep*pp) == 0",
	  "change ep, etp or the cluster"}},
	{e_vpp_pp, MS_EINVAL,
	 {"vpp = 2 needs pp > 1 but pp = 1", "pipeline-model-parallel size > 1", "set vpp = 1 or pp >= 2"}},
	{e_experts, MS_EINVAL,
	 {"experts = 60 is not a multiple of ep = 8", "num_experts % expert_model_parallel_size == 0",
	  "an ep that divides 60"}},
	{e_heads, MS_EINVAL,
	 {"heads = 13 is not a multiple of tp = 2", "num_attention_heads % tensor_model_parallel_size == 0",
	  "a tp that divides 13"}},
	{e_kv_heads, MS_EINVAL,
	 {"kv_heads = 6 is neither a multiple nor a divisor of tp = 4",
	  "num_query_groups % tp == 0 or tp % num_query_groups == 0"}},
	{e_ffn, MS_EINVAL, {"ffn_hidden = 1001 is not a multiple of tp = 2", "RowParallelLinear", "divides 1001"}},
	{e_moe_ffn, MS_EINVAL,
	 {"moe_ffn_hidden = 1001 is not a multiple of etp = 2", "expert tensor-parallel group",
	  "an etp that divides 1001"}},
	{e_layers, MS_EINVAL,
	 {"layers = 61 is not a multiple of pp x vpp = 4 x 1 = 4", "num_layers % (pp*vpp) == 0",
	  "uneven first and last stages"}},
	{e_global_batch, MS_EINVAL,
	 {"global_batch = 100 is not a multiple of micro_batch x dp = 1 x 8 = 8",
	  "global_batch_size % (micro_batch_size*data_parallel_size) == 0", "use global_batch = 96 or 104"}},
	{e_micro_batch, MS_EINVAL, {"micro_batch x dp = 20 x 8 is more than global_batch = 96", "at least one microbatch"}},
	{e_interleaved, MS_EINVAL,
	 {"the interleaved schedule (vpp = 2) needs microbatches a multiple of pp = 4",
	  "global_batch / (micro_batch x dp) = 96 / (1 x 16) = 6",
	  "make global_batch a multiple of micro_batch x dp x pp = 1 x 16 x 4"}},
	{e_seq_cp, MS_EINVAL,
	 {"seq_len = 4098 is not a multiple of 2 x cp = 4", "seq_length % (2*context_parallel_size) == 0",
	  "load-balanced causal context parallelism"}},
	{e_seq_sp, MS_EINVAL,
	 {"seq_len = 4097 is not a multiple of tp x cp = 2 x 1 = 2", "needs sequence parallelism",
	  "change seq_len, tp or cp"}},
	{e_seq_sp_cp, MS_EINVAL, {"seq_len = 4100 is not a multiple of tp x cp = 4 x 2 = 8", "seq_len / cp"}},
	{e_degree, MS_EINVAL, {"tp = 128 is more than the 64 GPUs", "lower tp or grow the cluster"}},
	{e_positive, MS_EINVAL, {"parallel: cp = 0 must be at least 1"}},
	{e_batch_positive, MS_EINVAL, {"parallel: micro_batch = -1 must be at least 1"}},
	{e_world_zero, MS_EINVAL, {"world = 0 GPUs"}},
	{e_world_max, MS_ERANGE, {"world = 2097152 GPUs is more than the 1048576"}},
	{e_dp_negative, MS_EINVAL, {"dp = -2 must be at least 1, or 0 to derive it"}},
	{e_batch_max, MS_ERANGE, {"global_batch = 9223372036854775807 is more than the 281474976710656"}},
};
#define NREFUSALS ((int)(sizeof REFUSALS / sizeof REFUSALS[0]))

START_TEST(refusal_names_the_rule)
{
	par_layout l;
	ms_error err;
	par_shape s = make_shape(64, 2, 1, 4, 8, 0, 1); /* dp 8; 12 microbatches */
	ms_error_clear(&err);
	REFUSALS[_i].edit(&s);
	ck_assert_int_eq(par_layout_init(&l, &s, &err), REFUSALS[_i].code);
	ck_assert_int_eq(err.code, REFUSALS[_i].code);
	for (int j = 0; j < 3 && REFUSALS[_i].want[j]; j++)
		ck_assert_msg(strstr(err.msg, REFUSALS[_i].want[j]), "no '%s' in: %s", REFUSALS[_i].want[j], err.msg);
	ck_assert_msg(strncmp(err.msg, "parallel: ", 10) == 0, "%s", err.msg);
	par_layout_fini(&l); /* a failed init leaves nothing behind; fini is still safe */
}
END_TEST

static char *print_to_string(const par_layout *l, const int *gpn)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	par_layout_print(f, l, gpn);
	fclose(f);
	return text;
}

/*
 * 8 GPUs, tp 2, pp 2 (dp 2), ep 2, etp 1 (edp 2), worked by hand: dense rank = tp +
 * 2 dp + 4 pp, expert rank = ep + 2 edp + 4 pp.
 */
START_TEST(print_small_layout)
{
	par_layout l;
	par_shape s = make_shape(8, 2, 1, 2, 2, 1, 1);
	s.global_batch = 2 * 2 * 3;
	s.micro_batch = 2;
	init_ok(&l, &s);
	int gpn = 4;
	char *t = print_to_string(&l, &gpn);
	static const char *want[] = {
		"layout: 8 GPUs = tp 2 x cp 1 x dp 2 x pp 2 (dense); etp 1 x ep 2 x edp 2 x pp 2 (experts)\n",
		"layout: vpp 1, 4 layers per model chunk, 3 microbatches of 2 sequences per DP rank",
		"\ntp: 4 groups of 2\n  tp 0: ranks 0 1; nodes 0 (1)\n  tp 1: ranks 2 3; nodes 0 (1)\n"
		"  tp 2: ranks 4 5; nodes 1 (1)\n  tp 3: ranks 6 7; nodes 1 (1)\ncp: 8 groups of 1\n",
		"\ndp: 4 groups of 2\n  dp 0: ranks 0 2; nodes 0 (1)\n  dp 1: ranks 1 3; nodes 0 (1)\n"
		"  dp 2: ranks 4 6; nodes 1 (1)\n  dp 3: ranks 5 7; nodes 1 (1)\n",
		"\npp: 4 groups of 2\n  pp 0: ranks 0 4; nodes 0-1 (2)\n",
		"\ntp-dp-cp: 2 groups of 4\n  tp-dp-cp 0: ranks 0 1 2 3; nodes 0 (1)\n",
		"\nmp: 2 groups of 4\n  mp 0: ranks 0 1 4 5; nodes 0-1 (2)\n  mp 1: ranks 2 3 6 7; nodes 0-1 (2)\n",
		"\nep: 4 groups of 2\n  ep 0: ranks 0 1; nodes 0 (1)\n",
		"\netp: 8 groups of 1\n  etp 0: ranks 0; nodes 0 (1)\n",
		"\nedp: 4 groups of 2\n  edp 0: ranks 0 2; nodes 0 (1)\n  edp 1: ranks 1 3; nodes 0 (1)\n",
		"\ntp-ep-pp: 2 groups of 4\n  tp-ep-pp 0: ranks 0 1 4 5; nodes 0-1 (2)\n"
		"  tp-ep-pp 1: ranks 2 3 6 7; nodes 0-1 (2)\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_msg(strstr(t, want[i]), "no\n%s\nin\n%s", want[i], t);
	free(t);

	/* Two GPUs a node: pp 0 = ranks 0 and 4 sit on nodes 0 and 2, not a run. */
	gpn = 2;
	t = print_to_string(&l, &gpn);
	ck_assert_msg(strstr(t, "  pp 0: ranks 0 4; nodes 0,2 (2)\n"), "%s", t);
	ck_assert_msg(strstr(t, "  tp-dp-cp 1: ranks 4 5 6 7; nodes 2-3 (2)\n"), "%s", t);
	free(t);

	/* No node size: ranks only. */
	t = print_to_string(&l, NULL);
	ck_assert_msg(strstr(t, "  pp 0: ranks 0 4\n") && !strstr(t, "nodes"), "%s", t);
	free(t);
	gpn = 0;
	t = print_to_string(&l, &gpn);
	ck_assert_msg(!strstr(t, "nodes"), "%s", t);
	free(t);
	par_layout_fini(&l);
}
END_TEST

START_TEST(kind_names)
{
	for (int k = 0; k < PAR_NKINDS; k++)
		ck_assert_int_eq(par_kind_parse(par_kind_name(k)), k);
	ck_assert_int_eq(par_kind_parse("dp-cp"), PAR_DP_CP);
	ck_assert_int_eq(par_kind_parse("edp"), PAR_EDP);
	ck_assert_int_eq(par_kind_parse("bogus"), -1);
	ck_assert_str_eq(par_kind_name(PAR_NKINDS), "?");
}
END_TEST

Suite *layout_suite(void)
{
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, docstring_16_gpus_tp2_pp4);
	tcase_add_test(tc, docstring_24_gpus_dp_groups);
	tcase_add_test(tc, docstring_8_gpus_tp4_cp2);
	tcase_add_loop_test(tc, brute_force_every_kind, 0, NSHAPES);
	tcase_add_loop_test(tc, megatron_oracle, 0, NSHAPES);
	tcase_add_test(tc, defaults_and_derived);
	tcase_add_loop_test(tc, refusal_names_the_rule, 0, NREFUSALS);
	tcase_add_test(tc, print_small_layout);
	tcase_add_test(tc, kind_names);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
