/* Assembly of signed RPC requests (v1 and V3). */
#include <stdio.h>
#include <string.h>

#include "request.h"

void request_out_init(request_out_t *o) { memset(o, 0, sizeof *o); }

void request_out_free(request_out_t *o) {
    buf_free(&o->url);
    buf_free(&o->body);
    buf_free(&o->canon);
    buf_free(&o->sts);
    buf_free(&o->creq);
    buf_free(&o->signed_headers);
    buf_free(&o->authorization);
    buf_free(&o->tmp);
}

static void reset(request_out_t *o) {
    buf_reset(&o->url);
    buf_reset(&o->body);
    buf_reset(&o->canon);
    buf_reset(&o->sts);
    buf_reset(&o->creq);
    buf_reset(&o->signed_headers);
    buf_reset(&o->authorization);
    o->nsigned = o->nheaders = 0;
    o->signature[0] = o->payload_hash[0] = '\0';
}

static void add_kv(kv_t *kv, size_t *n, const char *k, const char *v, size_t vl) {
    kv[*n].k = k;
    kv[*n].kl = strlen(k);
    kv[*n].v = v;
    kv[*n].vl = vl;
    (*n)++;
}
#define ADD(kv, n, k, v) add_kv(kv, n, k, v, strlen(v))

/* The parameters go either after "?" in the URL or into the form body. */
static void place_params(const request_in_t *in, request_out_t *o, const char *q,
                         size_t ql, int v1_signature) {
    buf_t *dst = in->form ? &o->body : &o->url;
    buf_adds(&o->url, in->endpoint);
    buf_addc(&o->url, '/');
    if (!in->form && (ql || v1_signature)) buf_addc(&o->url, '?');
    buf_add(dst, q, ql);
    if (v1_signature) {
        buf_add(dst, ql ? "&Signature=" : "Signature=", ql ? 11 : 10);
        encode_pct(dst, o->signature, strlen(o->signature));
    }
}

static int build_v1(const request_in_t *in, request_out_t *o, sign_mac_t *mac,
                    char err[SIGN_ERRLEN]) {
    size_t i;
    if (in->nparams + 10 > ENCODE_MAX_PARAMS) {
        snprintf(err, SIGN_ERRLEN, "too many parameters");
        return -1;
    }
    for (i = 0; i < in->nparams; i++) o->signed_params[o->nsigned++] = in->params[i];
    ADD(o->signed_params, &o->nsigned, "Action", in->action);
    ADD(o->signed_params, &o->nsigned, "Version", in->version);
    ADD(o->signed_params, &o->nsigned, "Format", in->format);
    ADD(o->signed_params, &o->nsigned, "AccessKeyId", in->key_id);
    ADD(o->signed_params, &o->nsigned, "SignatureMethod", "HMAC-SHA1");
    ADD(o->signed_params, &o->nsigned, "SignatureVersion", "1.0");
    ADD(o->signed_params, &o->nsigned, "SignatureNonce", in->nonce);
    ADD(o->signed_params, &o->nsigned, "Timestamp", in->timestamp);
    if (in->token) ADD(o->signed_params, &o->nsigned, "SecurityToken", in->token);

    if (sign_v1(mac, in->method, o->signed_params, o->nsigned, in->secret, in->secret_len,
                &o->canon, &o->sts, &o->tmp, o->signature, err) != 0)
        return -1;
    place_params(in, o, o->canon.data, o->canon.len, 1);
    if (in->form)
        ADD(o->headers, &o->nheaders, "content-type", "application/x-www-form-urlencoded");
    return 0;
}

static int build_v3(const request_in_t *in, request_out_t *o, sign_mac_t *mac,
                    char err[SIGN_ERRLEN]) {
    kv_t signed_hdrs[REQUEST_MAX_HEADERS];
    size_t ns = 0, i;
    const kv_t *query = in->form ? NULL : in->params;
    size_t nq = in->form ? 0 : in->nparams;

    if (in->form && encode_canonical(&o->body, in->params, in->nparams, &o->tmp) != 0) {
        snprintf(err, SIGN_ERRLEN, "too many parameters");
        return -1;
    }
    if (sign_sha256_hex(mac, o->body.data ? o->body.data : "", o->body.len, o->payload_hash,
                        err) != 0)
        return -1;
    ADD(signed_hdrs, &ns, "host", in->host);
    ADD(signed_hdrs, &ns, "x-acs-action", in->action);
    ADD(signed_hdrs, &ns, "x-acs-content-sha256", o->payload_hash);
    ADD(signed_hdrs, &ns, "x-acs-date", in->timestamp);
    ADD(signed_hdrs, &ns, "x-acs-signature-nonce", in->nonce);
    ADD(signed_hdrs, &ns, "x-acs-version", in->version);
    /* With STS credentials the official SDKs send (and sign) the AccessKeyId too. */
    if (in->token) {
        ADD(signed_hdrs, &ns, "x-acs-accesskey-id", in->key_id);
        ADD(signed_hdrs, &ns, "x-acs-security-token", in->token);
    }
    if (in->form)
        ADD(signed_hdrs, &ns, "content-type", "application/x-www-form-urlencoded");

    if (sign_v3(mac, in->method, query, nq, signed_hdrs, ns, o->payload_hash, in->secret,
                in->secret_len, &o->canon, &o->creq, &o->sts, &o->signed_headers, &o->tmp,
                o->signature, err) != 0)
        return -1;
    buf_adds(&o->authorization, "ACS3-HMAC-SHA256 Credential=");
    buf_adds(&o->authorization, in->key_id);
    buf_adds(&o->authorization, ",SignedHeaders=");
    buf_add(&o->authorization, o->signed_headers.data, o->signed_headers.len);
    buf_adds(&o->authorization, ",Signature=");
    buf_adds(&o->authorization, o->signature);
    if (!buf_cstr(&o->authorization)) { snprintf(err, SIGN_ERRLEN, "out of memory"); return -1; }

    /* The form body (if any) is already in place; only the query goes in the URL. */
    buf_adds(&o->url, in->endpoint);
    buf_addc(&o->url, '/');
    if (o->canon.len) {
        buf_addc(&o->url, '?');
        buf_add(&o->url, o->canon.data, o->canon.len);
    }
    ADD(o->headers, &o->nheaders, "accept",
        strcmp(in->format, "XML") == 0 ? "application/xml" : "application/json");
    for (i = 0; i < ns; i++) o->headers[o->nheaders++] = signed_hdrs[i];
    ADD(o->headers, &o->nheaders, "authorization", o->authorization.data);
    return 0;
}

int request_build(const request_in_t *in, request_out_t *o, sign_mac_t *mac,
                  char err[SIGN_ERRLEN]) {
    request_in_t own = *in;
    int rc;
    reset(o);
    if (strlen(in->timestamp) > SIGN_TIMELEN || strlen(in->nonce) > REQUEST_MAX_NONCE) {
        snprintf(err, SIGN_ERRLEN, "timestamp or nonce too long");
        return -1;
    }
    strcpy(o->timestamp, in->timestamp);
    strcpy(o->nonce, in->nonce);
    own.timestamp = o->timestamp;
    own.nonce = o->nonce;
    in = &own;
    rc = in->v3 ? build_v3(in, o, mac, err) : build_v1(in, o, mac, err);
    if (rc != 0) return -1;
    if (!buf_cstr(&o->url) || !buf_cstr(&o->body)) {
        snprintf(err, SIGN_ERRLEN, "out of memory");
        return -1;
    }
    return 0;
}
