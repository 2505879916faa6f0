/* SPDX-License-Identifier: MIT */
/* LMDB error mapping (mdb.h): one table for every LMDB user. */
#include "mdb.h"

#include <errno.h>
#include <lmdb.h>

#include "log.h"

ramp_err
rp_mdb_err(int rc, const char *what)
{
    switch (rc) {
    case MDB_SUCCESS:
        return RAMP_OK;
    case MDB_NOTFOUND:
        return RAMP_ENOTFOUND;
    case MDB_KEYEXIST:
        return RAMP_EEXIST;
    case ENOMEM:
        return RAMP_ENOMEM;
    case EACCES:
    case EPERM:
        RAMP_LOG(RP_LOG_ERR, "RAMP-LMDB-PERM", "op=%s err=\"%s\"", what,
            mdb_strerror(rc));
        return RAMP_EPERM;
    case MDB_MAP_RESIZED:
        /* Only a read-only opener sees this: the writer was restarted
         * with a larger map. Adopting it (mdb_env_set_mapsize(env, 0))
         * is unsafe while other threads of this process hold read
         * transactions, so the caller reopens instead. */
        RAMP_LOG(RP_LOG_WARNING, "RAMP-LMDB-RESIZED",
            "op=%s hint=\"the writer grew the map; reopen\"", what);
        return RAMP_ESTORE;
    case MDB_MAP_FULL:
        RAMP_LOG(RP_LOG_WARNING, "RAMP-LMDB-FULL",
            "op=%s err=\"%s\" hint=\"raise the map size\"", what,
            mdb_strerror(rc));
        return RAMP_ETOOBIG;
    default:
        RAMP_LOG(RP_LOG_ERR, "RAMP-LMDB-FAIL", "op=%s rc=%d err=\"%s\"", what,
            rc, mdb_strerror(rc));
        return RAMP_ESTORE;
    }
}

ramp_err
rp_mdb_corrupt(ramp_err rv, const char *what)
{
    if (rv == RAMP_OK || rv == RAMP_ENOMEM) {
        return rv;
    }
    RAMP_LOG(RP_LOG_ERR, "RAMP-LMDB-CORRUPT", "what=%s err=%s", what,
        ramp_errname(rv));
    return RAMP_ESTORE;
}
