/*
 * err.h - airlock's error codes.
 *
 * Functions return int: 0 on success, a negative errno value, or a negative
 * airlock code from the reserved range below AL_ERR_BASE. al_strerror()
 * names both kinds. Codes come from one table so names never drift.
 */
#ifndef AL_BASE_ERR_H
#define AL_BASE_ERR_H

#define AL_ERR_BASE (-20000)

/* X(name, text) */
#define AL_ERR_TABLE(X)                                                    \
	X(AL_E_USAGE, "bad usage")                                             \
	X(AL_E_PARSE, "malformed input")                                       \
	X(AL_E_LIMIT, "input exceeds a size or depth limit")                   \
	X(AL_E_NOTFOUND, "not found")                                          \
	X(AL_E_EXISTS, "already exists")                                       \
	X(AL_E_CRYPTO, "cryptographic operation failed")                       \
	X(AL_E_AUTH, "authentication failed: sealed value rejected")           \
	X(AL_E_STORE, "store error")                                           \
	X(AL_E_CHAIN, "audit chain broken")                                    \
	X(AL_E_SANDBOX, "sandbox setup failed")                                \
	X(AL_E_REGISTRY, "registry request failed")                            \
	X(AL_E_GIT, "git operation failed")                                    \
	X(AL_E_SEMVER, "invalid version or range")                             \
	X(AL_E_UNSAFE, "unsafe path or input refused")                         \
	X(AL_E_INTERRUPTED, "interrupted")                                     \
	X(AL_E_JOB, "job failed")                                              \
	X(AL_E_STALE, "sealed value is an older version of its record")        \
	X(AL_E_ROLLBACK, "store is behind state kept outside it")          \
	X(AL_E_UNAVAILABLE, "server unreachable or failing; may work later")

enum al_err {
	AL_E__FIRST = AL_ERR_BASE + 1,
#define AL_X_ENUM(name, text) name,
	AL_ERR_TABLE(AL_X_ENUM)
#undef AL_X_ENUM
	AL_E__LAST
};

/* Text for err: an airlock code, a negative errno, or 0. Never NULL. */
const char *al_strerror(int err);

#endif
