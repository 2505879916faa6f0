/* SPDX-License-Identifier: MIT */
/* placeholder */
typedef int agt_placeholder_view;
