/* SPDX-License-Identifier: MIT */
/* Placeholder: filled in by the change that owns this file. */
typedef int ramp_placeholder_metrics;
