/* SPDX-License-Identifier: MIT */
/*
 * The signed envelope and Ed25519 key files (layout in envelope.h).
 * Everything cryptographic is libsodium's; this file only frames bytes,
 * checks shapes and moves files into place safely. Not here: decoding
 * payloads (codec.c), key rotation policy (the controller), or trust
 * decisions beyond "this key id is in the list the caller gave".
 */
#include "envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "bucket.h"
#include "mp.h"

#define ENV_CTX "ramp/1"
#define ENV_CTX_LEN 6
#define ENV_SIGHDR_LEN (ENV_CTX_LEN + 1 + 8 + 8)
/*
 * Encoded overhead of the seven-element array around the payload is at
 * most 102 bytes (fixarray, version, kind, two uint64, a bin32 header,
 * bin8 key id, bin8 signature); 128 leaves room and is a round number.
 */
#define ENV_OVERHEAD 128
/*
 * Signature inputs up to this size are built on the stack: heartbeats
 * and single-flag updates are small and frequent, and should not pay for
 * an allocation. Larger ones (snapshots) go through rp_alloc.
 */
#define ENV_STACK_SIGIN 1024
/* Largest key file we read; real ones are about 112 bytes. */
#define KEY_FILE_MAX 4096

#define KEY_SECRET_PREFIX "ramp-ed25519-secret-v1 "
#define KEY_PUBLIC_PREFIX "ramp-ed25519-public-v1 "
/* base64 text sizes including the NUL: 88 + 1 and 44 + 1 */
#define KEY_SK_B64                                                             \
    sodium_base64_ENCODED_LEN(RP_SK_LEN, sodium_base64_VARIANT_ORIGINAL)
#define KEY_PK_B64                                                             \
    sodium_base64_ENCODED_LEN(RP_PK_LEN, sodium_base64_VARIANT_ORIGINAL)

const char *
rp_kind_name(unsigned kind)
{
    switch (kind) {
#define RP_KIND_STR(name, val, str)                                            \
    case val:                                                                  \
        return str;
        RP_KIND_TABLE(RP_KIND_STR)
#undef RP_KIND_STR
    }
    return "?";
}

static void
env_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
}

size_t
rp_env_sig_input(unsigned kind, uint64_t seq, uint64_t ts_ms,
    const void *payload, size_t payload_len, uint8_t *out)
{
    memcpy(out, ENV_CTX, ENV_CTX_LEN);
    out[ENV_CTX_LEN] = (uint8_t) kind;
    env_put_be64(out + ENV_CTX_LEN + 1, seq);
    env_put_be64(out + ENV_CTX_LEN + 9, ts_ms);
    if (payload_len > 0) {
        memcpy(out + ENV_SIGHDR_LEN, payload, payload_len);
    }
    return ENV_SIGHDR_LEN + payload_len;
}

/*
 * Build the signature input in stack (if it fits) or in a fresh
 * allocation. *heap is what the caller must rp_free (NULL if stack).
 */
static ramp_err
env_sigin(uint8_t stack[ENV_STACK_SIGIN], unsigned kind, uint64_t seq,
    uint64_t ts_ms, const void *payload, size_t payload_len, uint8_t **inp,
    size_t *lenp, uint8_t **heap)
{
    uint8_t *in = stack;

    *heap = NULL;
    /* Callers cap payload_len well below SIZE_MAX, so this cannot wrap. */
    if (payload_len > ENV_STACK_SIGIN - ENV_SIGHDR_LEN) {
        in = rp_alloc(ENV_SIGHDR_LEN + payload_len);
        if (in == NULL) {
            return RAMP_ENOMEM;
        }
        *heap = in;
    }
    *lenp = rp_env_sig_input(kind, seq, ts_ms, payload, payload_len, in);
    *inp = in;
    return RAMP_OK;
}

ramp_err
rp_env_seal(struct rp_buf *out, const struct rp_keypair *kp, unsigned kind,
    uint64_t seq, uint64_t ts_ms, const void *payload, size_t payload_len)
{
    uint8_t stack[ENV_STACK_SIGIN];
    uint8_t sig[RP_SIG_LEN];
    uint8_t *heap = NULL;
    uint8_t *in;
    size_t inlen;
    size_t start = out->len;
    struct rp_pack p;
    ramp_err rv;

    if (kind < RP_KIND_MIN || kind > RP_KIND_MAX ||
        payload_len > RP_ENV_MAX - ENV_OVERHEAD ||
        (payload == NULL && payload_len > 0)) {
        return RAMP_EINVAL;
    }
    rv = rp_crypto_init();
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = env_sigin(
        stack, kind, seq, ts_ms, payload, payload_len, &in, &inlen, &heap);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (crypto_sign_detached(sig, NULL, in, inlen, kp->sk) != 0) {
        rv = RAMP_ESYSTEM; /* libsodium documents no failure here */
        goto out;
    }

    rp_pack_init(&p, out);
    rp_pack_array(&p, 7);
    rp_pack_u64(&p, RP_ENV_VERSION);
    rp_pack_u64(&p, kind);
    rp_pack_u64(&p, seq);
    rp_pack_u64(&p, ts_ms);
    rp_pack_bin(&p, payload, payload_len);
    rp_pack_bin(&p, kp->id, RP_KEYID_LEN);
    rp_pack_bin(&p, sig, RP_SIG_LEN);
    rv = p.err;
    if (rv != RAMP_OK) {
        out->len = start; /* leave no half envelope behind */
    }

out:
    rp_free(heap);
    return rv;
}

/*
 * A msgpack packer over a small fixed buffer, so rp_env_open can rebuild
 * the framing bytes an envelope must have without allocating.
 */
struct env_frame {
    uint8_t b[96]; /* the tail: bin8 key id and bin8 sig, 76 bytes */
    size_t len;
    bool over;
};

static int
env_frame_write(void *data, const char *buf, size_t len)
{
    struct env_frame *fr = data;

    if (fr->over || len > sizeof(fr->b) - fr->len) {
        fr->over = true;
        return -1;
    }
    memcpy(fr->b + fr->len, buf, len);
    fr->len += len;
    return 0;
}

/* True if buf[0..len) starts with exactly the bytes in fr. */
static bool
env_frame_matches(const struct env_frame *fr, const uint8_t *buf, size_t len)
{
    return !fr->over && fr->len <= len && memcmp(fr->b, buf, fr->len) == 0;
}

/*
 * MessagePack can encode one value several ways (uint 5 as a fixint, a
 * uint8, ..., an int64), and the signature covers values, not bytes. So
 * a valid envelope with one integer re-encoded would still verify: a
 * second byte string for the same signed message. Accept only the bytes
 * rp_env_seal writes (smallest forms, as msgpack-c packs them) for the
 * framing around the payload and for key id and signature; the payload's
 * own bytes are signed, so they cannot vary. Trailing elements past the
 * seventh are not signed and not compared (forward compatibility).
 */
static bool
env_is_canonical(const uint8_t *buf, size_t len, size_t n, uint64_t kind,
    uint64_t seq, uint64_t ts_ms, const msgpack_object *pl,
    const uint8_t id[RP_KEYID_LEN], const uint8_t sig[RP_SIG_LEN])
{
    struct env_frame fr = {.len = 0, .over = false};
    msgpack_packer pk;
    size_t plen = pl->via.bin.size;
    size_t tail;

    msgpack_packer_init(&pk, &fr, env_frame_write);
    (void) msgpack_pack_array(&pk, n);
    (void) msgpack_pack_uint64(&pk, RP_ENV_VERSION);
    (void) msgpack_pack_uint64(&pk, kind);
    (void) msgpack_pack_uint64(&pk, seq);
    (void) msgpack_pack_uint64(&pk, ts_ms);
    (void) msgpack_pack_bin(&pk, plen);
    if (!env_frame_matches(&fr, buf, len) || plen > len - fr.len) {
        return false;
    }
    /*
     * msgpack-c points bin objects into the input (zero copy), so the
     * payload must start right after its header (an empty one may point
     * anywhere).
     */
    if (plen > 0 && (const uint8_t *) pl->via.bin.ptr != buf + fr.len) {
        return false;
    }
    tail = fr.len + plen;
    fr.len = 0;
    (void) msgpack_pack_bin(&pk, RP_KEYID_LEN);
    (void) msgpack_pack_bin_body(&pk, id, RP_KEYID_LEN);
    (void) msgpack_pack_bin(&pk, RP_SIG_LEN);
    (void) msgpack_pack_bin_body(&pk, sig, RP_SIG_LEN);
    return env_frame_matches(&fr, buf + tail, len - tail);
}

static const struct rp_pubkey *
env_find_key(
    const struct rp_pubkey *keys, size_t nkeys, const uint8_t id[RP_KEYID_LEN])
{
    /* Key ids are public: no need for a constant-time compare. */
    for (size_t i = 0; i < nkeys; i++) {
        if (memcmp(keys[i].id, id, RP_KEYID_LEN) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

/*
 * The order of checks is part of the contract: size, msgpack shape,
 * version (so a newer sender learns that, whatever else changed), field
 * types, canonical encoding, key, signature. Nothing is written to *env before the
 * signature verifies.
 */
ramp_err
rp_env_open(const uint8_t *buf, size_t len, const struct rp_pubkey *keys,
    size_t nkeys, struct rp_envelope *env)
{
    uint8_t stack[ENV_STACK_SIGIN];
    uint8_t *heap = NULL;
    uint8_t *in;
    size_t inlen;
    msgpack_unpacked u;
    const msgpack_object *f;
    const msgpack_object *pl;
    const struct rp_pubkey *key;
    size_t n;
    uint64_t version;
    uint64_t kind;
    uint64_t seq;
    uint64_t ts_ms;
    uint8_t id[RP_KEYID_LEN];
    uint8_t sig[RP_SIG_LEN];
    ramp_err rv;

    rv = rp_mp_unpack(buf, len, RP_ENV_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, 1, 0, &f, &n);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_obj_u64(&f[0], &version);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (version != RP_ENV_VERSION) {
        rv = RAMP_EVERSION;
        goto out;
    }
    if (n < 7) {
        rv = RAMP_EPROTO;
        goto out;
    }
    rv = rp_obj_u64(&f[1], &kind);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (kind < RP_KIND_MIN || kind > RP_KIND_MAX) {
        rv = RAMP_EPROTO;
        goto out;
    }
    rv = rp_obj_u64(&f[2], &seq);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_obj_u64(&f[3], &ts_ms);
    if (rv != RAMP_OK) {
        goto out;
    }
    pl = &f[4];
    if (pl->type != MSGPACK_OBJECT_BIN) {
        rv = RAMP_EPROTO;
        goto out;
    }
    rv = rp_obj_bin_exact(&f[5], id, RP_KEYID_LEN);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_obj_bin_exact(&f[6], sig, RP_SIG_LEN);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (!env_is_canonical(buf, len, n, kind, seq, ts_ms, pl, id, sig)) {
        rv = RAMP_EPROTO;
        goto out;
    }
    key = env_find_key(keys, nkeys, id);
    if (key == NULL) {
        rv = RAMP_EKEY;
        goto out;
    }
    rv = rp_crypto_init();
    if (rv != RAMP_OK) {
        goto out;
    }
    /* pl->via.bin.size <= len <= RP_ENV_MAX, so the input size is sane. */
    rv = env_sigin(stack, (unsigned) kind, seq, ts_ms, pl->via.bin.ptr,
        pl->via.bin.size, &in, &inlen, &heap);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (crypto_sign_verify_detached(sig, in, inlen, key->pk) != 0) {
        rv = RAMP_ESIG;
        goto out;
    }

    env->version = (uint32_t) version;
    env->kind = (uint32_t) kind;
    env->seq = seq;
    env->ts_ms = ts_ms;
    /* msgpack-c points bin objects into the input (zero copy). */
    env->payload = (const uint8_t *) pl->via.bin.ptr;
    env->payload_len = pl->via.bin.size;
    memcpy(env->key_id, id, RP_KEYID_LEN);
    memcpy(env->sig, sig, RP_SIG_LEN);

out:
    rp_free(heap);
    rp_mp_done(&u);
    return rv;
}

ramp_err
rp_env_peek(const uint8_t *buf, size_t len, unsigned *kind,
    uint8_t key_id[RP_KEYID_LEN], const uint8_t **payload,
    size_t *payload_len)
{
    msgpack_unpacked u;
    const msgpack_object *f;
    size_t n;
    uint64_t version, k;
    uint8_t id[RP_KEYID_LEN];
    ramp_err rv;

    rv = rp_mp_unpack(buf, len, RP_ENV_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, 1, 0, &f, &n);
    if (rv == RAMP_OK) {
        rv = rp_obj_u64(&f[0], &version);
    }
    if (rv == RAMP_OK && version != RP_ENV_VERSION) {
        rv = RAMP_EVERSION;
    }
    if (rv == RAMP_OK && n < 7) {
        rv = RAMP_EPROTO;
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_u64(&f[1], &k);
    }
    if (rv == RAMP_OK && (k < RP_KIND_MIN || k > RP_KIND_MAX ||
                             f[4].type != MSGPACK_OBJECT_BIN)) {
        rv = RAMP_EPROTO;
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_bin_exact(&f[5], id, RP_KEYID_LEN);
    }
    if (rv == RAMP_OK) {
        *kind = (unsigned) k;
        memcpy(key_id, id, RP_KEYID_LEN);
        /* bin objects point into buf (zero copy), not into u's zone */
        *payload = (const uint8_t *) f[4].via.bin.ptr;
        *payload_len = f[4].via.bin.size;
    }
    rp_mp_done(&u);
    return rv;
}

/* Keys */

void
rp_key_id(const uint8_t pk[RP_PK_LEN], uint8_t id[RP_KEYID_LEN])
{
    /*
     * BLAKE2b with an 8-byte digest length (not a truncated 32-byte
     * hash: the length is a BLAKE2 parameter, so the values differ).
     * libsodium cannot fail for these sizes.
     */
    (void) crypto_generichash(id, RP_KEYID_LEN, pk, RP_PK_LEN, NULL, 0);
}

void
rp_key_id_hex(const uint8_t id[RP_KEYID_LEN], char out[17])
{
    sodium_bin2hex(out, 17, id, RP_KEYID_LEN);
}

void
rp_key_public(const struct rp_keypair *kp, struct rp_pubkey *pub)
{
    memcpy(pub->pk, kp->pk, RP_PK_LEN);
    memcpy(pub->id, kp->id, RP_KEYID_LEN);
}

ramp_err
rp_key_generate(struct rp_keypair *kp)
{
    ramp_err rv;

    rv = rp_crypto_init();
    if (rv != RAMP_OK) {
        return rv;
    }
    if (crypto_sign_keypair(kp->pk, kp->sk) != 0) {
        return RAMP_ESYSTEM;
    }
    rp_key_id(kp->pk, kp->id);
    return RAMP_OK;
}

/*
 * Strict base64 (standard alphabet, padding required, no whitespace, no
 * stray bits) of exactly n bytes. RAMP_EKEY otherwise.
 */
static ramp_err
key_b64_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    const char *end = NULL;
    size_t got = 0;

    if (len == 0 || memchr(s, '\0', len) != NULL) {
        return RAMP_EKEY;
    }
    if (sodium_base642bin(out, n, s, len, NULL, &got, &end,
            sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + len || got != n) {
        sodium_memzero(out, n);
        return RAMP_EKEY;
    }
    return RAMP_OK;
}

/*
 * Parse "<prefix><base64>\n" (the final newline is optional, since some
 * tools strip it; nothing else may follow).
 */
static ramp_err
key_parse(
    const char *text, size_t len, const char *prefix, uint8_t *out, size_t n)
{
    size_t plen = strlen(prefix);

    if (len < plen || memcmp(text, prefix, plen) != 0) {
        return RAMP_EKEY;
    }
    text += plen;
    len -= plen;
    if (len > 0 && text[len - 1] == '\n') {
        len--;
    }
    return key_b64_decode(text, len, out, n);
}

/*
 * Read a whole small key file. Refuses anything but a regular file and,
 * when private, any group/other permission bit, before reading a byte.
 * Symlinks are followed: Kubernetes mounts Secrets and ConfigMaps through
 * them, and the checks run on the file actually opened (fstat), which is
 * what protects the key. O_NONBLOCK keeps a FIFO planted at the path from
 * hanging us in open().
 */
static ramp_err
key_read(const char *path, bool private, char *text, size_t *lenp)
{
    struct stat st;
    size_t len = 0;
    const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    int fd;
    ramp_err rv = RAMP_OK;

    fd = open(path, flags);
    if (fd < 0) {
        return errno == EACCES ? RAMP_EPERM : RAMP_EIO;
    }
    if (fstat(fd, &st) != 0) {
        rv = RAMP_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (private && (st.st_mode & 077) != 0)) {
        rv = RAMP_EPERM;
        goto out;
    }
    if (st.st_size > KEY_FILE_MAX) {
        rv = RAMP_EKEY;
        goto out;
    }
    /* Read to EOF rather than trusting st_size: the file may change. */
    for (;;) {
        ssize_t r;

        if (len > KEY_FILE_MAX) {
            rv = RAMP_EKEY;
            goto out;
        }
        r = read(fd, text + len, KEY_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rv = RAMP_EIO;
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t) r;
    }
    *lenp = len;

out:
    (void) close(fd);
    return rv;
}

ramp_err
rp_key_load(const char *path, struct rp_keypair *kp)
{
    char text[KEY_FILE_MAX + 1];
    uint8_t sk[RP_SK_LEN];
    uint8_t seed[crypto_sign_SEEDBYTES];
    uint8_t pk[RP_PK_LEN];
    uint8_t pk2[RP_PK_LEN];
    uint8_t sk2[RP_SK_LEN];
    size_t len = 0;
    ramp_err rv;

    rv = rp_crypto_init();
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = key_read(path, true, text, &len);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = key_parse(text, len, KEY_SECRET_PREFIX, sk, RP_SK_LEN);
    if (rv != RAMP_OK) {
        goto out;
    }
    /*
     * A libsodium secret key is seed || pk. crypto_sign_ed25519_sk_to_pk
     * only copies the second half, so derive the public key from the
     * seed and require that it matches: a corrupted or spliced file
     * would otherwise sign with one key and advertise another.
     */
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    if (crypto_sign_seed_keypair(pk2, sk2, seed) != 0) {
        rv = RAMP_ESYSTEM;
        goto out;
    }
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    if (sodium_memcmp(pk2, pk, RP_PK_LEN) != 0) {
        rv = RAMP_EKEY;
        goto out;
    }
    memcpy(kp->pk, pk, RP_PK_LEN);
    memcpy(kp->sk, sk, RP_SK_LEN);
    rp_key_id(kp->pk, kp->id);

out:
    sodium_memzero(text, sizeof(text));
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(sk2, sizeof(sk2));
    return rv;
}

ramp_err
rp_pubkey_load(const char *path, struct rp_pubkey *pub)
{
    char text[KEY_FILE_MAX + 1];
    uint8_t pk[RP_PK_LEN];
    size_t len = 0;
    ramp_err rv;

    /*
     * Public keys are not secret, so any mode is fine, and symlinks are
     * followed: configuration systems (Kubernetes ConfigMaps) deliver
     * files as symlinks. It still has to be a regular file.
     */
    rv = key_read(path, false, text, &len);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = key_parse(text, len, KEY_PUBLIC_PREFIX, pk, RP_PK_LEN);
    if (rv != RAMP_OK) {
        return rv;
    }
    memcpy(pub->pk, pk, RP_PK_LEN);
    rp_key_id(pub->pk, pub->id);
    return RAMP_OK;
}

ramp_err
rp_pubkey_from_b64(const char *s, struct rp_pubkey *pub)
{
    uint8_t pk[RP_PK_LEN];
    ramp_err rv;

    rv = key_b64_decode(s, strlen(s), pk, RP_PK_LEN);
    if (rv != RAMP_OK) {
        return rv;
    }
    memcpy(pub->pk, pk, RP_PK_LEN);
    rp_key_id(pub->pk, pub->id);
    return RAMP_OK;
}

/* out must hold 45 bytes (44 characters and a NUL): else RAMP_EINVAL. */
ramp_err
rp_pubkey_to_b64(const struct rp_pubkey *pub, char *out, size_t outsz)
{
    if (outsz < KEY_PK_B64) {
        return RAMP_EINVAL;
    }
    sodium_bin2base64(
        out, outsz, pub->pk, RP_PK_LEN, sodium_base64_VARIANT_ORIGINAL);
    return RAMP_OK;
}

static ramp_err
key_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return RAMP_EIO;
        }
        p += w;
        n -= (size_t) w;
    }
    return RAMP_OK;
}

/* fsync the directory holding path, so the new name survives a crash. */
static ramp_err
key_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd;
    ramp_err rv = RAMP_OK;

    if (slash == NULL) {
        dir = rp_strdup(".");
    } else if (slash == path) {
        dir = rp_strdup("/");
    } else {
        dir = rp_strndup(path, (size_t) (slash - path));
    }
    if (dir == NULL) {
        return RAMP_ENOMEM;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rv = RAMP_EIO;
        goto out;
    }
    if (fsync(fd) != 0) {
        rv = RAMP_EIO;
    }
    (void) close(fd);

out:
    rp_free(dir);
    return rv;
}

/*
 * Write text to a temp file next to path (so rename/link stay within
 * one filesystem), with the mode set by fchmod so the umask cannot widen
 * or narrow it, fsync it, then put it in place. Without overwrite,
 * link() is the atomic "create only if absent" (rename() would replace
 * silently, and a check-then-rename races); the temp name is unlinked
 * afterwards either way.
 */
static ramp_err
key_write_file(
    const char *path, const char *text, size_t len, mode_t mode, bool overwrite)
{
    uint8_t rnd[8];
    char hex[17];
    size_t plen = strlen(path);
    char *tmp;
    int fd = -1;
    bool created = false;
    ramp_err rv;

    tmp = rp_alloc(plen + sizeof(".tmp.") - 1 + sizeof(hex));
    if (tmp == NULL) {
        return RAMP_ENOMEM;
    }
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.", 5);
    memcpy(tmp + plen + 5, hex, sizeof(hex));

    fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        rv = RAMP_EIO;
        goto out;
    }
    created = true;
    if (fchmod(fd, mode) != 0) {
        rv = RAMP_EIO;
        goto out;
    }
    rv = key_write_all(fd, text, len);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (fsync(fd) != 0) {
        rv = RAMP_EIO;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rv = RAMP_EIO;
        goto out;
    }
    fd = -1;
    if (overwrite) {
        if (rename(tmp, path) != 0) {
            rv = RAMP_EIO;
            goto out;
        }
        created = false; /* the temp name is gone */
    } else if (link(tmp, path) != 0) {
        rv = errno == EEXIST ? RAMP_EEXIST : RAMP_EIO;
        goto out;
    }
    rv = key_sync_dir(path);

out:
    if (fd >= 0) {
        (void) close(fd);
    }
    if (created) {
        (void) unlink(tmp);
    }
    rp_free(tmp);
    return rv;
}

/*
 * One key file: "<prefix><base64(key)>\n", written with the given mode.
 * The text buffer is sized for the larger (secret) key and wiped after.
 */
static ramp_err
key_save_text(const char *path, const char *prefix, const uint8_t *key,
    size_t keylen, mode_t mode, bool overwrite)
{
    /* prefix, base64 with its NUL, and room for the newline */
    char text[sizeof(KEY_SECRET_PREFIX) - 1 + KEY_SK_B64 + 1];
    size_t plen = strlen(prefix);
    size_t len;
    ramp_err rv;

    rv = rp_crypto_init();
    if (rv != RAMP_OK) {
        return rv;
    }
    memcpy(text, prefix, plen);
    sodium_bin2base64(text + plen, sizeof(text) - plen, key, keylen,
        sodium_base64_VARIANT_ORIGINAL);
    len = strlen(text);
    text[len++] = '\n';
    rv = key_write_file(path, text, len, mode, overwrite);
    sodium_memzero(text, sizeof(text));
    return rv;
}

ramp_err
rp_key_save(const char *path, const struct rp_keypair *kp, bool overwrite)
{
    return key_save_text(path, KEY_SECRET_PREFIX, kp->sk, RP_SK_LEN, 0600,
        overwrite);
}

ramp_err
rp_pubkey_save(const char *path, const struct rp_pubkey *pub, bool overwrite)
{
    return key_save_text(path, KEY_PUBLIC_PREFIX, pub->pk, RP_PK_LEN, 0644,
        overwrite);
}
