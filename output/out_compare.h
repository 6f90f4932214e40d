/*
 * out_compare.h - `moesim report`'s text: one stored run's summary (the lines moesim
 * run printed for it, from what the file holds), or several side by side: what differs
 * in their resolved scenarios, key by key, and how throughput, drops, memory and each
 * phase moved against the first run.
 */
#ifndef OUT_COMPARE_H
#define OUT_COMPARE_H

#include <stdio.h>

#include "output/out_read.h"

/* One run (n == 1) or n runs compared with the first. */
void out_report_print(FILE *f, const out_run *runs, int n);

#endif
