/* SPDX-License-Identifier: MIT */
/*
 * ramp error codes. One X-macro table produces the enum, ramp_strerror()
 * and ramp_errname(). Not here: OpenFeature error codes for evaluation
 * results (see the evaluation API), which are a separate vocabulary.
 */
#ifndef RAMP_ERR_H
#define RAMP_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef RAMP_API
#define RAMP_API __attribute__((visibility("default")))
#endif

/* Append only. Values travel on the wire and are ABI: never renumber. */
#define RAMP_ERR_TABLE(X)                                                  \
    X(RAMP_OK, 0, "success")                                               \
    X(RAMP_ENOMEM, 1, "out of memory")                                     \
    X(RAMP_EINVAL, 2, "invalid argument")                                  \
    X(RAMP_ENOTFOUND, 3, "not found")                                      \
    X(RAMP_ETIMEDOUT, 4, "timed out")                                      \
    X(RAMP_EPROTO, 5, "malformed message")                                 \
    X(RAMP_EVERSION, 6, "unsupported protocol version")                    \
    X(RAMP_ESTALE, 7, "data older than its freshness bound")               \
    X(RAMP_ESTORE, 8, "storage failure")                                   \
    X(RAMP_ESIG, 9, "signature verification failed")                       \
    X(RAMP_EKEY, 10, "unknown or unusable key")                            \
    X(RAMP_EPERM, 11, "permission denied")                                 \
    X(RAMP_ETOOBIG, 12, "size limit exceeded")                             \
    X(RAMP_EIO, 13, "input/output error")                                  \
    X(RAMP_EEXIST, 14, "already exists")                                   \
    X(RAMP_ECONFLICT, 15, "version conflict")                              \
    X(RAMP_ETYPE, 16, "type mismatch")                                     \
    X(RAMP_ECLOSED, 17, "closed")                                          \
    X(RAMP_ESYSTEM, 18, "system error")                                    \
    X(RAMP_EAUTH, 19, "authentication required")                          \
    X(RAMP_EREPLAY, 20, "already applied (replay)")                        \
    X(RAMP_EGAP, 21, "sequence gap: resync needed")

typedef enum {
#define RAMP_ERR_ENUM(name, val, msg) name = val,
    RAMP_ERR_TABLE(RAMP_ERR_ENUM)
#undef RAMP_ERR_ENUM
} ramp_err;

/** Human text for err. Never NULL; unknown codes give "unknown error". */
RAMP_API const char *ramp_strerror(ramp_err err);

/** Symbolic name ("RAMP_EPROTO"). Never NULL; unknown gives "RAMP_E?". */
RAMP_API const char *ramp_errname(ramp_err err);

#ifdef __cplusplus
}
#endif
#endif /* RAMP_ERR_H */
