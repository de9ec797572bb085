/* XML answers → a tree in C memory, through expat. Pure: no Lua, no I/O. The binding
 * turns the tree into Lua values after the parser is gone, so no Lua error can ever jump
 * over expat's cleanup. Only elements and text matter (API answers carry no attributes
 * worth keeping); a DOCTYPE is refused (no entity tricks). */
#ifndef ALIYUN_LIVE_XML_H
#define ALIYUN_LIVE_XML_H

#include <stddef.h>
#include "buf.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#define XML_MAX_DEPTH 64

typedef struct xml_node {
    size_t name_off, name_len;
    size_t text_off, text_len;   /* leaves only */
    long   first, next;          /* first child, next sibling; -1 = none */
    long   last;                 /* last child, while building */
} xml_node_t;

typedef struct xml_tree {
    buf_t nodes;                 /* xml_node_t[]; node 0 is the root element */
    buf_t strings;               /* names and texts */
} xml_tree_t;

#define XML_TREE_INIT { BUF_INIT, BUF_INIT }
#define XML_NODE(t, i) (((const xml_node_t *)(t)->nodes.data)[i])
#define XML_NAME(t, i) ((t)->strings.data + XML_NODE(t, i).name_off)
#define XML_TEXT(t, i) ((t)->strings.data + XML_NODE(t, i).text_off)

/* Parse body into t (empty on entry). Returns 0, or -1 with a reason in err; on failure
 * t may hold a partial tree, which xml_free releases like a complete one. */
int  xml_parse(xml_tree_t *t, const char *body, size_t len, char *err, size_t errlen);
void xml_free(xml_tree_t *t);

#pragma GCC visibility pop

#endif
