/* SPDX-License-Identifier: MIT */
/*
 * LMDB error mapping shared by every process that opens an LMDB
 * environment (the controller's store, the agent's cache, libramp's
 * direct mode). Not here: any database layout.
 */
#ifndef RP_MDB_H
#define RP_MDB_H

#include "ramp/err.h"

/*
 * LMDB mixes its own codes with errno values. Translate once, here, and
 * log the original (id RAMP-LMDB-*, with op=what), because the mapping
 * loses detail. MDB_NOTFOUND -> RAMP_ENOTFOUND and MDB_KEYEXIST ->
 * RAMP_EEXIST are answers, not failures, and are not logged. ENOMEM ->
 * RAMP_ENOMEM; EACCES/EPERM -> RAMP_EPERM; MDB_MAP_FULL -> RAMP_ETOOBIG;
 * anything else (MDB_MAP_RESIZED included) -> RAMP_ESTORE.
 */
ramp_err rp_mdb_err(int rc, const char *what);

/*
 * A stored value that does not decode: the file was damaged or written
 * by something else. RAMP_OK and RAMP_ENOMEM pass through; any other
 * decode error is logged (RAMP-LMDB-CORRUPT) and becomes RAMP_ESTORE,
 * not a protocol error, which would blame the caller.
 */
ramp_err rp_mdb_corrupt(ramp_err rv, const char *what);

#endif
