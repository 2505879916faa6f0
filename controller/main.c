/* SPDX-License-Identifier: MIT */
/*
 * ramp-controller: everything is in the ramp_ctl library (cmd.c), so the
 * tests run the same code in-process.
 */
#include "daemon.h"

int
main(int argc, char **argv)
{
    return ctl_main(argc, argv);
}
