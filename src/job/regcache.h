/*
 * regcache.h - the registry client's ETag cache, kept in the store.
 *
 * Packuments the registry sent with an ETag are kept sealed in the
 * "registry_cache" database (schema/lmdb.md), so that the next job asks
 * with If-None-Match and gets a 304 instead of the whole document again.
 * It is a cache: losing it costs bandwidth, never correctness, so every
 * failure here is logged and treated as a miss.
 *
 * Bounds (the cache shares the store's map with the job records): a
 * document over JOB_REGCACHE_MAX_BODY bytes is not kept, and when the
 * database holds JOB_REGCACHE_MAX_ENTRIES it is emptied before the next
 * document goes in.
 */
#ifndef AL_JOB_REGCACHE_H
#define AL_JOB_REGCACHE_H

#include "npm/registry.h"
#include "store/store.h"

#define JOB_REGCACHE_MAX_BODY ((size_t)1 << 20)
#define JOB_REGCACHE_MAX_ENTRIES 256

/*
 * Fill *out with callbacks that read and write st's registry cache. st
 * must stay open while out is in use; calls take their own transactions,
 * so the caller must not hold a write transaction (store.h).
 */
void job_regcache(struct store *st, struct npm_registry_cache *out);

#endif
