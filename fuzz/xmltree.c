/* libFuzzer target: protocol/xml.c alone (no Lua), against a reference tree built from
 * expat's own events by code written here.
 *
 * Input: 1 byte of mode, then the document. Every input is parsed once as is; then, when
 * the mode asks for it, once more with an allocation failing:
 *   bits 0–5  k ≠ 0: fail allocation number 1 + (k − 1)·N/63 of the N the first parse made
 *   bit 6     that one and every later one (memory gone), else that one only
 *   bit 7     among buf.c's reallocs (the tree's buffers), else among expat's (parser,
 *             its buffers and pools)
 * expat's allocations fail through XML_ParserCreate_MM (the link wraps xml.c's
 * XML_ParserCreate), buf.c's through a wrapped realloc; see mk/fuzz.mk.
 *
 * Checks, after every parse, finished or failed: each node's name and text inside the
 * strings buffer, child and sibling links inside the node array and pointing forward
 * (so no cycle), every node reached exactly once from the root, `last` the last child,
 * depth ≤ XML_MAX_DEPTH; node i is the reference's element i with the same name, its
 * children a prefix of the reference's, a closed leaf's text exactly the reference's.
 * A parse succeeds exactly when expat accepts the document, it has no DOCTYPE, nests no
 * deeper than XML_MAX_DEPTH and its root has a child; the reason for a failure is the
 * right one; a failed allocation always fails the parse, with "out of memory". Leaks and
 * memory errors: ASan/LSan. This covers the corner where expat calls the end handler of
 * an empty element after its start handler stopped the parser (at the depth limit, and
 * when the node or its name could not be stored, at the root too). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "protocol/xml.h"

#include "check.h"

/* ------------------------------------------------------ allocation failures --- */

enum { FZ_EXPAT = 0, FZ_BUF = 1 };

static struct {
    int           armed;        /* inside xml_parse */
    unsigned long n[2];         /* allocations so far, per family */
    unsigned long fail_at[2];   /* 0 = never */
    int           persistent;
    int           failed;
} fz;

static int fz_fails(int fam) {
    unsigned long k;
    if (!fz.armed) return 0;
    k = ++fz.n[fam];
    if (fz.fail_at[fam] && (fz.persistent ? k >= fz.fail_at[fam] : k == fz.fail_at[fam])) {
        fz.failed = 1;
        return 1;
    }
    return 0;
}

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
XML_Parser __wrap_XML_ParserCreate(const XML_Char *encoding);

/* buf.c grows its buffers with realloc (the only caller inside xml_parse). */
void *__wrap_realloc(void *p, size_t n) {
    if (fz_fails(FZ_BUF)) return NULL;
    return __real_realloc(p, n);
}

static void *fz_xmalloc(size_t n) { return fz_fails(FZ_EXPAT) ? NULL : malloc(n); }
static void *fz_xrealloc(void *p, size_t n) {
    return fz_fails(FZ_EXPAT) ? NULL : __real_realloc(p, n);
}
static void fz_xfree(void *p) { free(p); }
static const XML_Memory_Handling_Suite fz_suite = { fz_xmalloc, fz_xrealloc, fz_xfree };

/* xml.c's parser, with our allocator: the same parser XML_ParserCreate makes. */
XML_Parser __wrap_XML_ParserCreate(const XML_Char *encoding) {
    return XML_ParserCreate_MM(encoding, &fz_suite, NULL);
}

/* -------------------------------------------------------------- reference --- */

typedef struct ref_el {
    char  *name;
    size_t name_len;
    char  *text;          /* character data while it was innermost, before any child */
    size_t text_len, text_cap;
    long   parent, first, last, next;
    int    closed;
} ref_el_t;

typedef struct ref {
    ref_el_t *el;
    long      n, cap;
    long     *stack;
    long      depth, stack_cap, max_depth;
    int       doctype, ok;
    enum XML_Error code;
    XML_Parser p;
} ref_t;

static void *ref_grow(void *p, long *cap, long need, size_t size) {
    if (need <= *cap) return p;
    *cap = *cap ? *cap * 2 : 16;
    if (*cap < need) *cap = need;
    p = realloc(p, (size_t)*cap * size);
    CHECK(p != NULL, "out of memory in the reference");
    return p;
}

static void XMLCALL ref_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    ref_t *r = ud;
    ref_el_t *e;
    long i = r->n;
    (void)attrs;
    r->el = ref_grow(r->el, &r->cap, r->n + 1, sizeof *r->el);
    r->stack = ref_grow(r->stack, &r->stack_cap, r->depth + 1, sizeof *r->stack);
    e = &r->el[r->n++];
    memset(e, 0, sizeof *e);
    e->name_len = strlen(name);
    e->name = malloc(e->name_len + 1);
    CHECK(e->name != NULL, "out of memory in the reference");
    memcpy(e->name, name, e->name_len + 1);
    e->first = e->last = e->next = -1;
    e->parent = r->depth ? r->stack[r->depth - 1] : -1;
    if (e->parent >= 0) {
        ref_el_t *pa = &r->el[e->parent];
        if (pa->last >= 0) r->el[pa->last].next = i;
        else pa->first = i;
        pa->last = i;
    }
    r->stack[r->depth++] = i;
    if (r->depth > r->max_depth) r->max_depth = r->depth;
}

static void XMLCALL ref_end(void *ud, const XML_Char *name) {
    ref_t *r = ud;
    (void)name;
    CHECK(r->depth > 0, "expat ended an element it never started");
    r->el[r->stack[--r->depth]].closed = 1;
}

static void XMLCALL ref_text(void *ud, const XML_Char *s, int len) {
    ref_t *r = ud;
    ref_el_t *e;
    long need;
    if (r->depth == 0) return;
    e = &r->el[r->stack[r->depth - 1]];
    if (e->first >= 0) return;
    need = (long)(e->text_len + (size_t)len + 1);
    {
        long cap = (long)e->text_cap;
        e->text = ref_grow(e->text, &cap, need, 1);
        e->text_cap = (size_t)cap;
    }
    memcpy(e->text + e->text_len, s, (size_t)len);
    e->text_len += (size_t)len;
}

static void XMLCALL ref_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                const XML_Char *pubid, int has_internal_subset) {
    ref_t *r = ud;
    (void)name; (void)sysid; (void)pubid; (void)has_internal_subset;
    r->doctype = 1;
    XML_StopParser(r->p, XML_FALSE);
}

static void ref_parse(ref_t *r, const char *doc, size_t len) {
    memset(r, 0, sizeof *r);
    /* The parser xml.c makes, default memory (not the failing suite). */
    r->p = XML_ParserCreate_MM("UTF-8", NULL, NULL);
    CHECK(r->p != NULL, "no parser");
    XML_SetUserData(r->p, r);
    XML_SetElementHandler(r->p, ref_start, ref_end);
    XML_SetCharacterDataHandler(r->p, ref_text);
    XML_SetStartDoctypeDeclHandler(r->p, ref_doctype);
    r->ok = XML_Parse(r->p, doc, (int)len, XML_TRUE) == XML_STATUS_OK;
    r->code = XML_GetErrorCode(r->p);
    XML_ParserFree(r->p);
    r->p = NULL;
}

static void ref_free(ref_t *r) {
    long i;
    for (i = 0; i < r->n; i++) { free(r->el[i].name); free(r->el[i].text); }
    free(r->el);
    free(r->stack);
}

/* ------------------------------------------------------------ tree checks --- */

static void check_tree(const xml_tree_t *t, const ref_t *r, int complete) {
    size_t sl = t->strings.len;
    long n, i;
    unsigned char *seen;
    long *stack, *depth, top = 0;

    CHECK(t->nodes.len % sizeof(xml_node_t) == 0, "node array of %zu bytes", t->nodes.len);
    CHECK(t->nodes.len <= t->nodes.cap || !t->nodes.data, "nodes past capacity");
    CHECK(sl <= t->strings.cap || !t->strings.data, "strings past capacity");
    n = (long)(t->nodes.len / sizeof(xml_node_t));
    CHECK(n <= r->n, "%ld nodes, the document has %ld elements", n, r->n);
    if (complete) CHECK(n == r->n, "%ld nodes for %ld elements", n, r->n);
    if (n == 0) return;
    CHECK(t->nodes.data && t->strings.data, "nodes without buffers");

    for (i = 0; i < n; i++) {
        const xml_node_t *x = &XML_NODE(t, i);
        const ref_el_t *e = &r->el[i];
        CHECK(x->name_off <= sl && x->name_len <= sl - x->name_off, "node %ld: name outside", i);
        CHECK(x->text_off <= sl && x->text_len <= sl - x->text_off, "node %ld: text outside", i);
        CHECK(x->name_len > 0, "node %ld without a name", i);
        CHECK(x->first == -1 || (x->first > i && x->first < n), "node %ld: first %ld", i,
              x->first);
        CHECK(x->next == -1 || (x->next > i && x->next < n), "node %ld: next %ld", i, x->next);
        CHECK(x->last == -1 || (x->last > i && x->last < n), "node %ld: last %ld", i, x->last);
        CHECK((x->first < 0) == (x->last < 0), "node %ld: first %ld, last %ld", i, x->first,
              x->last);
        CHECK(x->name_len == e->name_len && memcmp(XML_NAME(t, i), e->name, e->name_len) == 0,
              "node %ld is <%.*s>, the element <%s>", i, (int)x->name_len, XML_NAME(t, i),
              e->name);
        if (x->first >= 0) {
            long c, rc, last = -1;
            CHECK(x->text_len == 0, "node %ld with children has text", i);
            /* Its children: the reference's, in order (a prefix when unfinished). */
            for (c = x->first, rc = e->first; c >= 0; last = c, c = XML_NODE(t, c).next,
                 rc = r->el[rc].next) {
                CHECK(rc >= 0, "node %ld has more children than <%s>", i, e->name);
                CHECK(c == rc, "node %ld: child %ld, the element's %ld", i, c, rc);
            }
            CHECK(x->last == last, "node %ld: last %ld, its last child %ld", i, x->last, last);
            if (complete) CHECK(rc == -1, "node %ld lacks children", i);
        } else {
            CHECK(x->text_off == x->name_off + x->name_len, "leaf %ld: text not after name", i);
            if (complete) CHECK(e->first < 0, "leaf %ld, the element has children", i);
            /* A leaf's text is set when it closes: then it is the whole text. */
            if (x->text_len > 0 || complete) {
                CHECK(e->first < 0 && e->closed, "leaf %ld with text, not a closed leaf", i);
                CHECK(x->text_len == e->text_len &&
                      (e->text_len == 0 || memcmp(XML_TEXT(t, i), e->text, e->text_len) == 0),
                      "leaf %ld: text differs", i);
            }
        }
    }

    /* Every node once from the root, no deeper than the limit. */
    seen = calloc((size_t)n, 1);
    stack = malloc((size_t)n * sizeof *stack);
    depth = malloc((size_t)n * sizeof *depth);
    CHECK(seen && stack && depth, "out of memory");
    stack[top] = 0;
    depth[top++] = 1;
    while (top > 0) {
        long v = stack[--top], d = depth[top], c;
        CHECK(!seen[v], "node %ld reached twice", v);
        seen[v] = 1;
        CHECK(d <= XML_MAX_DEPTH, "node %ld at depth %ld", v, d);
        for (c = XML_NODE(t, v).first; c >= 0; c = XML_NODE(t, c).next) {
            CHECK(top < n, "more links than nodes");
            stack[top] = c;
            depth[top++] = d + 1;
        }
    }
    for (i = 0; i < n; i++) CHECK(seen[i], "node %ld not reachable from the root", i);
    free(seen);
    free(stack);
    free(depth);
}

/* ----------------------------------------------------------------- target --- */

/* One xml_parse of doc with an error buffer of exactly errlen bytes; the tree is checked
 * and freed. Returns what xml_parse returned; the reason goes to why. */
static int run(const char *doc, size_t len, const ref_t *r, size_t errlen, char *why,
               size_t whylen) {
    xml_tree_t t = XML_TREE_INIT;
    char *err = malloc(errlen);
    int rc;
    CHECK(err != NULL, "out of memory");
    memset(err, 'X', errlen);
    fz.armed = 1;
    fz.failed = 0;
    fz.n[0] = fz.n[1] = 0;
    rc = xml_parse(&t, doc, len, err, errlen);
    fz.armed = 0;
    CHECK(rc == 0 || rc == -1, "xml_parse returned %d", rc);
    if (rc == -1) {
        CHECK(memchr(err, '\0', errlen) != NULL, "reason not terminated");
        CHECK(err[0] != '\0', "no reason");
        snprintf(why, whylen, "%s", err);
    }
    check_tree(&t, r, rc == 0);
    xml_free(&t);
    CHECK(t.nodes.data == NULL && t.strings.data == NULL && t.nodes.len == 0 &&
          t.strings.len == 0, "xml_free left something");
    xml_free(&t);   /* twice is harmless (the box's __gc may follow decode.c's own) */
    free(err);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ref_t r;
    char *doc, why[512];
    size_t len;
    uint8_t mode;
    int rc, want_ok;
    static int once;

    if (size < 1) return 0;
    if (!once) {
        /* A body expat cannot take in one call is refused before a byte is read (doc
         * is 1 byte long: ASan sees any read). */
        xml_tree_t t = XML_TREE_INIT;
        char err[64];
        once = 1;
        CHECK(xml_parse(&t, (const char *)data, (size_t)INT_MAX + 1, err, sizeof err) == -1 &&
              strcmp(err, "XML body too large") == 0 && t.nodes.len == 0, "a huge body");
        xml_free(&t);
    }
    mode = data[0];
    len = size - 1;
    doc = malloc(len);   /* exactly len bytes (none for 0): ASan sees a read past them */
    CHECK(doc != NULL, "out of memory");
    if (len) memcpy(doc, data + 1, len);
    ref_parse(&r, doc, len);

    /* As is. */
    memset(&fz, 0, sizeof fz);
    why[0] = '\0';
    rc = run(doc, len, &r, 256, why, sizeof why);
    want_ok = r.ok && !r.doctype && r.max_depth <= XML_MAX_DEPTH && r.n > 0 &&
              r.el[0].first >= 0;
    CHECK((rc == 0) == want_ok, "xml_parse %s (%s); expat %s, DOCTYPE %d, depth %ld, %ld "
          "elements", rc == 0 ? "accepted" : "refused", why, r.ok ? "accepts" : "refuses",
          r.doctype, r.max_depth, r.n);
    if (rc != 0) {
        const char *want;
        if (r.doctype) want = "XML with a DOCTYPE is not accepted";
        else if (r.max_depth > XML_MAX_DEPTH) want = "XML nested too deeply";
        else if (!r.ok) want = NULL;
        else want = "XML document has no fields";
        if (want) CHECK(strcmp(why, want) == 0, "reason \"%s\", wanted \"%s\"", why, want);
        else CHECK(strncmp(why, "malformed XML at line ", 22) == 0 &&
                   strstr(why, XML_ErrorString(r.code)) != NULL,
                   "reason \"%s\" for expat's \"%s\"", why, XML_ErrorString(r.code));
    }

    /* Once more with an allocation failing. */
    if (mode & 63) {
        int fam = (mode & 0x80) ? FZ_BUF : FZ_EXPAT;
        unsigned long total = fz.n[fam];
        size_t errlen = 8 + (size_t)(mode % 4) * 40;
        if (total > 0) {
            memset(&fz, 0, sizeof fz);
            fz.fail_at[fam] = 1 + ((unsigned long)((mode & 63) - 1) * total) / 63;
            fz.persistent = (mode & 0x40) != 0;
            why[0] = '\0';
            rc = run(doc, len, &r, errlen, why, sizeof why);
            /* The same allocations as before, so the one chosen came, and failed it. */
            CHECK(fz.failed, "allocation %lu of %lu (%s) never came", fz.fail_at[fam], total,
                  fam == FZ_BUF ? "buf" : "expat");
            CHECK(rc == -1, "xml_parse succeeded without allocation %lu (%s)", fz.fail_at[fam],
                  fam == FZ_BUF ? "buf" : "expat");
            {
                /* "out of memory", or "malformed XML at line N: out of memory" when expat
                 * ran out, unless cut to fit errlen. */
                size_t wl = strlen(why);
                int cut = wl == errlen - 1;
                CHECK(strstr(why, "out of memory") != NULL ||
                      (cut && (strncmp(why, "out of memory", wl) == 0 ||
                               strncmp(why, "malformed XML at line ", wl < 22 ? wl : 22) == 0)),
                      "reason \"%s\"", why);
            }
        }
    }
    ref_free(&r);
    free(doc);
    return 0;
}
