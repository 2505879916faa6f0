/* SPDX-License-Identifier: MIT */
/*
 * The signed envelope (DESIGN §5) and Ed25519 keys (libsodium).
 *
 * Envelope: msgpack array
 *   [version=1, kind, seq, ts_ms, payload(bin), key_id(bin 8), sig(bin 64)]
 * sig = Ed25519(sk, "ramp/1" || kind(u8) || seq(u64 BE) || ts_ms(u64 BE)
 *               || payload)
 * key_id = BLAKE2b-64(pk) (crypto_generichash with an 8-byte output, no key).
 * Unknown trailing array elements are tolerated (forward compatibility)
 * but are not covered by the signature, so nothing may depend on them.
 *
 * Key files are one line of text:
 *   secret: "ramp-ed25519-secret-v1 <base64(sk 64 bytes)>\n"   mode 0600
 *   public: "ramp-ed25519-public-v1 <base64(pk 32 bytes)>\n"
 * (standard base64 with padding, sodium_base64_VARIANT_ORIGINAL). A secret
 * key file readable or writable by group or others is refused.
 */
#ifndef RP_ENVELOPE_H
#define RP_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ramp/err.h"

#define RP_ENV_VERSION 1
#define RP_KEYID_LEN 8
#define RP_PK_LEN 32
#define RP_SK_LEN 64
#define RP_SIG_LEN 64
#define RP_ENV_MAX (16u << 20) /* largest envelope anyone accepts: 16 MiB */

/* Kinds. Wire values: append only. */
#define RP_KIND_TABLE(X)                                                    \
    X(RP_KIND_FLAG_PUT, 1, "FLAG_PUT")                                      \
    X(RP_KIND_FLAG_DEL, 2, "FLAG_DEL")                                      \
    X(RP_KIND_ROLLOUT_PUT, 3, "ROLLOUT_PUT")                                \
    X(RP_KIND_SNAPSHOT, 4, "SNAPSHOT")                                      \
    X(RP_KIND_HEARTBEAT, 5, "HEARTBEAT")                                    \
    X(RP_KIND_KEY_ROTATE, 6, "KEY_ROTATE")                                  \
    X(RP_KIND_HEALTH, 7, "HEALTH")                                          \
    X(RP_KIND_ENROLL, 8, "ENROLL")

enum rp_kind {
#define RP_KIND_ENUM(name, val, str) name = val,
    RP_KIND_TABLE(RP_KIND_ENUM)
#undef RP_KIND_ENUM
};
#define RP_KIND_MIN 1
#define RP_KIND_MAX 8
const char *rp_kind_name(unsigned kind); /* "FLAG_PUT"; "?" if unknown */

struct rp_keypair {
    uint8_t pk[RP_PK_LEN];
    uint8_t sk[RP_SK_LEN];  /* never logged */
    uint8_t id[RP_KEYID_LEN];
};

struct rp_pubkey {
    uint8_t pk[RP_PK_LEN];
    uint8_t id[RP_KEYID_LEN];
};

/* A verified envelope. payload points into the buffer given to
 * rp_env_open() and lives as long as it does. */
struct rp_envelope {
    uint32_t version;
    uint32_t kind;
    uint64_t seq;
    uint64_t ts_ms;
    const uint8_t *payload;
    size_t payload_len;
    uint8_t key_id[RP_KEYID_LEN];
    uint8_t sig[RP_SIG_LEN];
};

ramp_err rp_key_generate(struct rp_keypair *kp);          /* RAMP_ESYSTEM */
void rp_key_id(const uint8_t pk[RP_PK_LEN], uint8_t id[RP_KEYID_LEN]);
void rp_key_public(const struct rp_keypair *kp, struct rp_pubkey *pub);
/* 16 lowercase hex chars + NUL into out[17] */
void rp_key_id_hex(const uint8_t id[RP_KEYID_LEN], char out[17]);

/*
 * Write a secret key file with mode 0600 (created with O_EXCL unless
 * overwrite; written to a temp file and renamed). RAMP_EEXIST, RAMP_EIO.
 */
ramp_err rp_key_save(const char *path, const struct rp_keypair *kp,
    bool overwrite);
/* RAMP_EPERM (group/world bits set, or not a regular file), RAMP_EIO,
 * RAMP_EKEY (malformed content, or pk does not match sk). */
ramp_err rp_key_load(const char *path, struct rp_keypair *kp);
ramp_err rp_pubkey_save(const char *path, const struct rp_pubkey *pub,
    bool overwrite);
ramp_err rp_pubkey_load(const char *path, struct rp_pubkey *pub);
/* Parse/format the base64 text forms (no prefix): RAMP_EKEY; to_b64
 * needs outsz >= 45, else RAMP_EINVAL. Public key files may be any mode
 * and may be symlinks (ConfigMap mounts). */
ramp_err rp_pubkey_from_b64(const char *s, struct rp_pubkey *pub);
ramp_err rp_pubkey_to_b64(const struct rp_pubkey *pub, char *out, size_t outsz);

/* Sign and encode an envelope, appending to out (unchanged on error).
 * RAMP_EINVAL (bad kind, payload > RP_ENV_MAX - 128, the room the outer
 * fields need), RAMP_ETOOBIG, RAMP_ENOMEM. */
ramp_err rp_env_seal(struct rp_buf *out, const struct rp_keypair *kp,
    unsigned kind, uint64_t seq, uint64_t ts_ms, const void *payload,
    size_t payload_len);

/*
 * Decode the outer array (size cap and shape first), find the key by id
 * among keys[0..nkeys), verify the signature, and only then fill *env.
 * Never decodes the payload. RAMP_ETOOBIG, RAMP_EPROTO (malformed),
 * RAMP_EVERSION (version != 1; checked before the length, so a shorter
 * array from a newer version is reported as a version problem),
 * RAMP_EKEY (no key with that id), RAMP_ESIG (signature does not
 * verify), RAMP_ENOMEM. env is untouched on error.
 */
ramp_err rp_env_open(const uint8_t *buf, size_t len,
    const struct rp_pubkey *keys, size_t nkeys, struct rp_envelope *env);

/*
 * Read the outer array's kind, key id and payload WITHOUT verifying
 * anything (same size cap, shape and version checks as rp_env_open).
 * For a receiver that must choose the key from the message itself (an
 * ENROLL carries its own public key: the signature is then a proof of
 * possession, checked with rp_env_open against that key before anything
 * is trusted). *payload points into buf. RAMP_ETOOBIG, RAMP_EPROTO,
 * RAMP_EVERSION, RAMP_ENOMEM; outputs untouched on error.
 */
ramp_err rp_env_peek(const uint8_t *buf, size_t len, unsigned *kind,
    uint8_t key_id[RP_KEYID_LEN], const uint8_t **payload,
    size_t *payload_len);

/* The exact bytes that are signed; out must hold 6+1+8+8+payload_len. */
size_t rp_env_sig_input(unsigned kind, uint64_t seq, uint64_t ts_ms,
    const void *payload, size_t payload_len, uint8_t *out);

#endif
