/* RPC v1 and V3 request signatures with OpenSSL 3.
 *
 * HMAC uses OpenSSL's low-level SHA-1/SHA-256 functions where the build still has them
 * (deprecated since 3.0, not removed): the keyed inner and outer states are computed
 * once per key and copied per request, with no allocation and no provider lookup. In
 * a busy client EVP_MAC cost about twice as much per request (a context duplicated,
 * allocated and freed inside each init; its code out of the cache between requests).
 * Builds without the deprecated API (OPENSSL_NO_DEPRECATED_3_0, or -DALIYUN_LIVE_EVP_HMAC
 * to test that path) use EVP_MAC and EVP_Digest. */
#define OPENSSL_SUPPRESS_DEPRECATED   /* before any OpenSSL header */
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "sign.h"

#if !defined(OPENSSL_NO_DEPRECATED_3_0) && !defined(ALIYUN_LIVE_EVP_HMAC)
#define LOWLEVEL 1
#else
#define LOWLEVEL 0
#endif

#define HMAC_BLOCK 64   /* SHA-1's and SHA-256's */

/* One HMAC per digest, each remembering the key it was set up with. */
typedef struct mac_slot {
    int            sha256;
    unsigned char *key;
    size_t         keylen;
    int            keyed;
#if LOWLEVEL
    union { SHA_CTX s1; SHA256_CTX s256; } in, out;   /* after the ipad / opad block */
#else
    EVP_MAC_CTX   *ctx;
#endif
} mac_slot_t;

struct sign_mac {
    mac_slot_t  sha1, sha256;
#if !LOWLEVEL
    EVP_MAC    *hmac;
    EVP_MD     *md_sha256;     /* fetched once: implicit fetches lock on every call */
    EVP_MD_CTX *md;
#endif
};

#if !LOWLEVEL
/* Format the OpenSSL error queue behind a failing step, then clear it so a stale error
 * cannot surface in the next request. */
static int ssl_fail(char err[SIGN_ERRLEN], const char *step) {
    unsigned long e = ERR_get_error();
    char detail[160] = "no detail";
    if (e) ERR_error_string_n(e, detail, sizeof detail);
    snprintf(err, SIGN_ERRLEN, "%s failed: %s", step, detail);
    ERR_clear_error();
    return -1;
}
#endif

#if LOWLEVEL
static int slot_init(sign_mac_t *m, mac_slot_t *s, const char *digest,
                     char err[SIGN_ERRLEN]) {
    (void)m; (void)err;
    s->sha256 = strcmp(digest, "SHA256") == 0;
    return 0;
}

static void slot_free(mac_slot_t *s) {
    if (s->key) OPENSSL_clear_free(s->key, s->keylen);
    OPENSSL_cleanse(s, sizeof *s);
}

sign_mac_t *sign_mac_new(char err[SIGN_ERRLEN]) {
    sign_mac_t *m = OPENSSL_zalloc(sizeof *m);
    if (!m) { snprintf(err, SIGN_ERRLEN, "out of memory"); return NULL; }
    slot_init(m, &m->sha1, "SHA1", err);
    slot_init(m, &m->sha256, "SHA256", err);
    return m;
}

void sign_mac_free(sign_mac_t *m) {
    if (!m) return;
    slot_free(&m->sha1);
    slot_free(&m->sha256);
    OPENSSL_free(m);
}

/* The inner and outer states of HMAC with key (RFC 2104: a key longer than the block is
 * hashed first). */
static void slot_key(mac_slot_t *s, const unsigned char *key, size_t kl) {
    unsigned char pad[2][HMAC_BLOCK], hashed[SHA256_DIGEST_LENGTH];
    size_t i;
    if (kl > HMAC_BLOCK) {
        if (s->sha256) {
            SHA256_CTX c;
            SHA256_Init(&c);
            SHA256_Update(&c, key, kl);
            SHA256_Final(hashed, &c);
        } else {
            SHA_CTX c;
            SHA1_Init(&c);
            SHA1_Update(&c, key, kl);
            SHA1_Final(hashed, &c);
        }
        key = hashed;
        kl = s->sha256 ? SHA256_DIGEST_LENGTH : SHA_DIGEST_LENGTH;
    }
    memset(pad[0], 0x36, HMAC_BLOCK);
    memset(pad[1], 0x5c, HMAC_BLOCK);
    for (i = 0; i < kl; i++) { pad[0][i] ^= key[i]; pad[1][i] ^= key[i]; }
    if (s->sha256) {
        SHA256_Init(&s->in.s256);
        SHA256_Update(&s->in.s256, pad[0], HMAC_BLOCK);
        SHA256_Init(&s->out.s256);
        SHA256_Update(&s->out.s256, pad[1], HMAC_BLOCK);
    } else {
        SHA1_Init(&s->in.s1);
        SHA1_Update(&s->in.s1, pad[0], HMAC_BLOCK);
        SHA1_Init(&s->out.s1);
        SHA1_Update(&s->out.s1, pad[1], HMAC_BLOCK);
    }
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(hashed, sizeof hashed);
}

static void slot_run(mac_slot_t *s, const void *data, size_t n, unsigned char *out,
                     size_t *outlen) {
    unsigned char inner[SHA256_DIGEST_LENGTH];
    if (s->sha256) {
        SHA256_CTX c = s->in.s256;
        SHA256_Update(&c, data, n);
        SHA256_Final(inner, &c);
        c = s->out.s256;
        SHA256_Update(&c, inner, SHA256_DIGEST_LENGTH);
        SHA256_Final(out, &c);
        OPENSSL_cleanse(&c, sizeof c);
        *outlen = SHA256_DIGEST_LENGTH;
    } else {
        SHA_CTX c = s->in.s1;
        SHA1_Update(&c, data, n);
        SHA1_Final(inner, &c);
        c = s->out.s1;
        SHA1_Update(&c, inner, SHA_DIGEST_LENGTH);
        SHA1_Final(out, &c);
        OPENSSL_cleanse(&c, sizeof c);
        *outlen = SHA_DIGEST_LENGTH;
    }
}
#else
static int slot_init(sign_mac_t *m, mac_slot_t *s, const char *digest,
                     char err[SIGN_ERRLEN]) {
    OSSL_PARAM params[2];
    s->sha256 = strcmp(digest, "SHA256") == 0;
    s->ctx = EVP_MAC_CTX_new(m->hmac);
    if (!s->ctx) return ssl_fail(err, "EVP_MAC_CTX_new");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(s->ctx, params)) return ssl_fail(err, "EVP_MAC_CTX_set_params");
    return 0;
}

static void slot_free(mac_slot_t *s) {
    EVP_MAC_CTX_free(s->ctx);
    if (s->key) OPENSSL_clear_free(s->key, s->keylen);
    memset(s, 0, sizeof *s);
}

sign_mac_t *sign_mac_new(char err[SIGN_ERRLEN]) {
    sign_mac_t *m = OPENSSL_zalloc(sizeof *m);
    if (!m) { snprintf(err, SIGN_ERRLEN, "out of memory"); return NULL; }
    m->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!m->hmac) { ssl_fail(err, "EVP_MAC_fetch(HMAC)"); sign_mac_free(m); return NULL; }
    if (slot_init(m, &m->sha1, "SHA1", err) != 0 ||
        slot_init(m, &m->sha256, "SHA256", err) != 0) {
        sign_mac_free(m);
        return NULL;
    }
    if (!(m->md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) || !(m->md = EVP_MD_CTX_new())) {
        ssl_fail(err, "EVP_MD_fetch(SHA256)");
        sign_mac_free(m);
        return NULL;
    }
    return m;
}

void sign_mac_free(sign_mac_t *m) {
    if (!m) return;
    slot_free(&m->sha1);
    slot_free(&m->sha256);
    EVP_MD_CTX_free(m->md);
    EVP_MD_free(m->md_sha256);
    EVP_MAC_free(m->hmac);
    OPENSSL_free(m);
}
#endif

/* key = k1 + k2 (v1 appends "&" to the secret). Re-keys only when the key changed;
 * otherwise starts from the saved inner/outer states. */
static int slot_mac(mac_slot_t *s, const char *k1, size_t l1, const char *k2, size_t l2,
                    const void *data, size_t n, unsigned char *out, size_t outsize,
                    size_t *outlen, char err[SIGN_ERRLEN]) {
    size_t kl = l1 + l2;
    int same = s->keyed && s->keylen == kl && CRYPTO_memcmp(s->key, k1, l1) == 0 &&
               CRYPTO_memcmp(s->key + l1, k2, l2) == 0;
    if (!same) {
        unsigned char *key = OPENSSL_malloc(kl ? kl : 1);
        if (!key) { snprintf(err, SIGN_ERRLEN, "out of memory"); return -1; }
        memcpy(key, k1, l1);
        memcpy(key + l1, k2, l2);
        if (s->key) OPENSSL_clear_free(s->key, s->keylen);
        s->key = key;
        s->keylen = kl;
        s->keyed = 0;
#if LOWLEVEL
        slot_key(s, key, kl);
#else
        if (!EVP_MAC_init(s->ctx, key, kl, NULL)) return ssl_fail(err, "EVP_MAC_init");
#endif
        s->keyed = 1;
    }
#if LOWLEVEL
    (void)outsize; (void)err;
    slot_run(s, data, n, out, outlen);
#else
    else if (!EVP_MAC_init(s->ctx, NULL, 0, NULL)) {
        return ssl_fail(err, "EVP_MAC_init");
    }
    if (!EVP_MAC_update(s->ctx, data, n)) return ssl_fail(err, "EVP_MAC_update");
    if (!EVP_MAC_final(s->ctx, out, outlen, outsize)) return ssl_fail(err, "EVP_MAC_final");
#endif
    return 0;
}

static void hex_encode(const unsigned char *p, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int sign_v1(sign_mac_t *m, const char *method, const kv_t *kv, size_t n,
            const char *secret, size_t secret_len,
            buf_t *canon, buf_t *sts, buf_t *tmp,
            char sig[SIGN_V1_B64LEN + 1], char err[SIGN_ERRLEN]) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    buf_adds(sts, method);
    buf_add(sts, "&%2F&", 5);
    /* The string to sign carries the canonical query encoded once more: both at once. */
    if (encode_canonical_twice(canon, sts, kv, n, tmp) != 0) {
        snprintf(err, SIGN_ERRLEN, n > ENCODE_MAX_PARAMS ? "too many parameters"
                                                         : "out of memory");
        return -1;
    }
    if (slot_mac(&m->sha1, secret, secret_len, "&", 1, sts->data, sts->len,
                 mac, sizeof mac, &maclen, err) != 0)
        return -1;
    EVP_EncodeBlock((unsigned char *)sig, mac, (int)maclen);
    return 0;
}

#define SHA256_OF_NOTHING "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

int sign_sha256_hex(sign_mac_t *m, const void *data, size_t n, char out[SIGN_HEXLEN + 1],
                    char err[SIGN_ERRLEN]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (n == 0) {   /* every GET and every empty POST */
        memcpy(out, SHA256_OF_NOTHING, SIGN_HEXLEN + 1);
        return 0;
    }
#if LOWLEVEL
    SHA256_CTX c;   /* not SHA256(): in OpenSSL 3 it fetches the algorithm on each call */
    (void)m; (void)err;
    SHA256_Init(&c);
    SHA256_Update(&c, data, n);
    SHA256_Final(md, &c);
    mdlen = SHA256_DIGEST_LENGTH;
#else
    if (!EVP_DigestInit_ex(m->md, m->md_sha256, NULL) || !EVP_DigestUpdate(m->md, data, n) ||
        !EVP_DigestFinal_ex(m->md, md, &mdlen))
        return ssl_fail(err, "SHA-256");
#endif
    hex_encode(md, mdlen, out);
    return 0;
}

int sign_v3(sign_mac_t *m, const char *method, const kv_t *query, size_t nq,
            const kv_t *headers, size_t nh, const char *payload_hash,
            const char *secret, size_t secret_len,
            buf_t *canon_query, buf_t *creq, buf_t *sts, buf_t *signed_headers,
            buf_t *tmp, char sig[SIGN_HEXLEN + 1], char err[SIGN_ERRLEN]) {
    const kv_t *sorted[ENCODE_MAX_PARAMS];
    unsigned char mac[EVP_MAX_MD_SIZE];
    char hash[SIGN_HEXLEN + 1];
    size_t maclen = 0, qstart = canon_query->len, i, j;

    if (nh > ENCODE_MAX_PARAMS) { snprintf(err, SIGN_ERRLEN, "too many headers"); return -1; }
    if (encode_canonical(canon_query, query, nq, tmp) != 0) {
        snprintf(err, SIGN_ERRLEN, nq > ENCODE_MAX_PARAMS ? "too many parameters"
                                                          : "out of memory");
        return -1;
    }
    /* Header names are already lower-case; sort them by name (byte order). */
    for (i = 0; i < nh; i++) {
        const kv_t *h = &headers[i];
        for (j = i; j > 0; j--) {
            const kv_t *p = sorted[j - 1];
            size_t l = p->kl < h->kl ? p->kl : h->kl;
            int c = memcmp(p->k, h->k, l);
            if (c < 0 || (c == 0 && p->kl <= h->kl)) break;
            sorted[j] = p;
        }
        sorted[j] = h;
    }
    buf_adds(creq, method);
    buf_add(creq, "\n/\n", 3);
    if (canon_query->len > qstart)   /* an empty query may have no buffer at all */
        buf_add(creq, canon_query->data + qstart, canon_query->len - qstart);
    buf_addc(creq, '\n');
    for (i = 0; i < nh; i++) {
        buf_add(creq, sorted[i]->k, sorted[i]->kl);
        buf_addc(creq, ':');
        buf_add(creq, sorted[i]->v, sorted[i]->vl);
        buf_addc(creq, '\n');
        if (i) buf_addc(signed_headers, ';');
        buf_add(signed_headers, sorted[i]->k, sorted[i]->kl);
    }
    buf_addc(creq, '\n');
    buf_add(creq, signed_headers->data, signed_headers->len);
    buf_addc(creq, '\n');
    buf_adds(creq, payload_hash);
    if (creq->oom || signed_headers->oom) { snprintf(err, SIGN_ERRLEN, "out of memory"); return -1; }

    if (sign_sha256_hex(m, creq->data, creq->len, hash, err) != 0) return -1;
    buf_add(sts, "ACS3-HMAC-SHA256\n", 17);
    buf_add(sts, hash, SIGN_HEXLEN);
    if (sts->oom) { snprintf(err, SIGN_ERRLEN, "out of memory"); return -1; }
    if (slot_mac(&m->sha256, secret, secret_len, "", 0, sts->data, sts->len,
                 mac, sizeof mac, &maclen, err) != 0)
        return -1;
    hex_encode(mac, maclen, sig);
    return 0;
}

int sign_timestamp(int64_t unix_seconds, char out[SIGN_TIMELEN + 1]) {
    struct tm tm;
    time_t t = (time_t)unix_seconds;
    if ((int64_t)t != unix_seconds || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 ||
        tm.tm_year + 1900 < 0)
        return -1;
    return strftime(out, SIGN_TIMELEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) == SIGN_TIMELEN ? 0 : -1;
}

void sign_nonce(const unsigned char rnd[16], char out[SIGN_NONCELEN + 1]) {
    unsigned char u[16];
    char hex[33];
    memcpy(u, rnd, 16);
    u[6] = (unsigned char)((u[6] & 0x0F) | 0x40);   /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3F) | 0x80);   /* RFC 4122 variant */
    hex_encode(u, 16, hex);
    memcpy(out, hex, 8);            out[8] = '-';
    memcpy(out + 9, hex + 8, 4);    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);  out[18] = '-';
    memcpy(out + 19, hex + 16, 4);  out[23] = '-';
    memcpy(out + 24, hex + 20, 12); out[36] = '\0';
}
