/* SPDX-License-Identifier: MIT */
/* placeholder */
typedef int rp_placeholder_json;
