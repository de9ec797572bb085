/* expat callbacks building an xml_tree_t. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <expat.h>

#include "xml.h"

typedef struct builder {
    XML_Parser  p;
    xml_tree_t *t;
    long        stack[XML_MAX_DEPTH];
    int         depth;
    const char *error;         /* set when a callback stopped the parser */
} builder_t;

#define NODE(b, i) (((xml_node_t *)(b)->t->nodes.data)[i])

/* After a stop expat may still deliver the end tag being processed: every handler
 * checks `error` first, so nothing is pushed or popped once the tree is abandoned. */
static void stop(builder_t *b, const char *why) {
    if (!b->error) b->error = why;
    XML_StopParser(b->p, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    builder_t *b = ud;
    xml_node_t n;
    long idx = (long)(b->t->nodes.len / sizeof(xml_node_t));
    (void)attrs;
    if (b->error) return;
    if (b->depth >= XML_MAX_DEPTH) { stop(b, "XML nested too deeply"); return; }
    n.name_off = b->t->strings.len;
    n.name_len = strlen(name);
    n.text_off = n.name_off + n.name_len;
    n.text_len = 0;
    n.first = n.last = n.next = -1;
    if (buf_add(&b->t->strings, name, n.name_len) != 0 ||
        buf_add(&b->t->nodes, &n, sizeof n) != 0) {
        stop(b, "out of memory");
        return;
    }
    if (b->depth > 0) {
        long parent = b->stack[b->depth - 1];
        if (NODE(b, parent).last >= 0) NODE(b, NODE(b, parent).last).next = idx;
        else NODE(b, parent).first = idx;
        NODE(b, parent).last = idx;
    }
    b->stack[b->depth++] = idx;
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
    builder_t *b = ud;
    long idx;
    (void)name;
    if (b->error || b->depth == 0) return;
    idx = b->stack[--b->depth];
    /* Only a leaf's text is kept, and nothing else was appended since its start. */
    if (NODE(b, idx).first < 0)
        NODE(b, idx).text_len = b->t->strings.len - NODE(b, idx).text_off;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
    builder_t *b = ud;
    if (b->error || b->depth == 0) return;
    /* Text between child elements is not kept (a parent's value is its children), so
     * only a leaf's own text lands where its text_off points. */
    if (NODE(b, b->stack[b->depth - 1]).first >= 0) return;
    if (buf_add(&b->t->strings, s, (size_t)len) != 0) stop(b, "out of memory");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset) {
    (void)name; (void)sysid; (void)pubid; (void)has_internal_subset;
    stop(ud, "XML with a DOCTYPE is not accepted");
}

int xml_parse(xml_tree_t *t, const char *body, size_t len, char *err, size_t errlen) {
    builder_t b;
    int ok;
    memset(&b, 0, sizeof b);
    b.t = t;
    if (len > (size_t)INT_MAX) { snprintf(err, errlen, "XML body too large"); return -1; }
    b.p = XML_ParserCreate("UTF-8");
    if (!b.p) { snprintf(err, errlen, "out of memory"); return -1; }
    XML_SetUserData(b.p, &b);
    XML_SetElementHandler(b.p, on_start, on_end);
    XML_SetCharacterDataHandler(b.p, on_text);
    XML_SetStartDoctypeDeclHandler(b.p, on_doctype);
    ok = XML_Parse(b.p, body, (int)len, XML_TRUE) == XML_STATUS_OK && !b.error;
    if (!ok) {
        if (b.error) snprintf(err, errlen, "%s", b.error);
        else snprintf(err, errlen, "malformed XML at line %lu: %s",
                      (unsigned long)XML_GetCurrentLineNumber(b.p),
                      XML_ErrorString(XML_GetErrorCode(b.p)));
    } else if (t->nodes.len == 0 || XML_NODE(t, 0).first < 0) {
        snprintf(err, errlen, "XML document has no fields");
        ok = 0;
    }
    XML_ParserFree(b.p);
    return ok ? 0 : -1;
}

void xml_free(xml_tree_t *t) {
    buf_free(&t->nodes);
    buf_free(&t->strings);
}
