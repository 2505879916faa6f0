/* SPDX-License-Identifier: MIT */
/* Error strings from the one table in include/ramp/err.h. */
#include "ramp/err.h"

const char *
ramp_strerror(ramp_err err)
{
    switch (err) {
#define RAMP_ERR_STR(name, val, msg)                                       \
    case name:                                                             \
        return msg;
        RAMP_ERR_TABLE(RAMP_ERR_STR)
#undef RAMP_ERR_STR
    }
    return "unknown error";
}

const char *
ramp_errname(ramp_err err)
{
    switch (err) {
#define RAMP_ERR_NAME(name, val, msg)                                      \
    case name:                                                             \
        return #name;
        RAMP_ERR_TABLE(RAMP_ERR_NAME)
#undef RAMP_ERR_NAME
    }
    return "RAMP_E?";
}
