/*
 * keys.c - the key map, from CON_KEY_TABLE (internal.h): what each key
 * does, in which views, and the help text the help view shows.
 */
#include <ncurses.h>

#include "base/util.h"
#include "console/internal.h"

const struct con_keydef con_keys[] = {
#define CON_X_DEF(a, v, l, h, k1, k2) {a, v, l, h, {k1, k2}},
	CON_KEY_TABLE(CON_X_DEF)
#undef CON_X_DEF
};
const size_t con_nkeys = AL_ARRAY_LEN(con_keys);
