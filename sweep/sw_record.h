/*
 * sw_record.h - what one sweep point gave: its status, the reason when it did not run,
 * and its output columns; and the text form a point's result travels in (from the
 * process that ran it, over MPI) and is kept on disk in (sw_store.h).
 *
 * The text is line-based ("out step_time_s 3.4159999999999999"), numbers with 17
 * significant digits so that a record read back gives the same bytes in the table as
 * the record written, whichever process wrote it. It ends with "end", so a record cut
 * short is told from a whole one.
 */
#ifndef SW_RECORD_H
#define SW_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"
#include "output/out_report.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"

/* ok: ran; refused: the scenario, its layout or the size estimate refused it; unfit: its
 * memory per GPU does not fit; failed: the run stopped with an error or its process died. */
typedef enum { SW_OK, SW_REFUSED, SW_UNFIT, SW_FAILED } sw_status;

const char *sw_status_name(sw_status st);

/* The output columns, in table order. */
enum {
	SW_O_GPUS,
	SW_O_STEP_TIME,
	SW_O_TOKENS_PER_S,
	SW_O_TOKENS_PER_S_PER_GPU,
	SW_O_TPOT,
	SW_O_MFU,
	SW_O_TFLOPS,
	SW_O_DROPPED_PAIRS,
	SW_O_DROPPED_TOKENS,
	SW_O_MEM_PEAK,
	SW_O_MEM_CAPACITY,
	SW_O_MEM_HEADROOM,
	SW_O_COST_PER_HOUR,
	SW_O_COST_PER_MTOKEN,
	SW_O_RANK_LOAD,
	SW_O_EXPERT_LOAD,
	SW_O_NVLINK_BYTES,
	SW_O_NIC_BYTES,
	SW_O_EVENTS,
	SW_O_PHASE0, /* then one per sim phase */
	SW_NOUT = SW_O_PHASE0 + SIM_NPHASES
};

/* Column i's name ("step_time_s", "phase_expert_s"), unit and meaning. */
const char *sw_out_name(int i);
const char *sw_out_unit(int i);
const char *sw_out_doc(int i);

#define SW_REASON_MAX 2048

typedef struct sw_record {
	int64_t point;
	sw_status status;
	char reason[SW_REASON_MAX];  /* one line; "" when ok */
	char warning[SW_REASON_MAX]; /* the run's first warning, "" for none */
	double out[SW_NOUT];         /* NaN where the point has no such number */
} sw_record;

/* A record of point i with every output unknown. */
void sw_record_init(sw_record *r, int64_t point);

/* Sets the status and the reason (kept one line: a newline becomes ";"). */
void sw_record_reason(sw_record *r, sw_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The outputs of a finished run. */
void sw_record_fill(sw_record *r, const scn_scenario *s, const sim_result *res, const out_summary *sum);

/* The outputs known before a run: GPUs, the memory estimate, the cost per hour. */
void sw_record_fill_static(sw_record *r, const scn_scenario *s, double peak_bytes, double capacity_bytes);

/* The record as text for sweep id; returns the bytes written (< len), or -1 when buf is too small. */
#define SW_RECORD_TEXT_MAX (2 * SW_REASON_MAX + 128 * SW_NOUT + 256)
int sw_record_write(const sw_record *r, uint64_t id, char *buf, size_t len);

/* Parses text (NUL-terminated); MS_EFORMAT unless it is a whole record of sweep id. */
int sw_record_read(sw_record *r, uint64_t id, const char *text, ms_error *err);

#endif
