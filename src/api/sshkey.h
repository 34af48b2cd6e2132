/*
 * sshkey.h - OpenSSH public keys as the admin shell and the daemon see
 * them: a key type, its base64 blob, and the fingerprint OpenSSH prints
 * for it ("SHA256:" and the unpadded base64 of SHA-256 over the blob,
 * as `ssh-keygen -lf` shows it; the format is in OpenSSH's sshkey.c and
 * PROTOCOL.key, the blob layout in RFC 4253 section 6.6 and RFC 8709).
 *
 * Only plain keys of the types listed in api_sshkey_type_ok are taken:
 * no certificates (their identity is the CA's, which airlock does not
 * manage), no DSA (OpenSSH no longer accepts it).
 */
#ifndef AL_API_SSHKEY_H
#define AL_API_SSHKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"

#define API_SSHKEY_TYPE_MAX 64
#define API_SSHKEY_B64_MAX 8192 /* a 4096-bit RSA key is 716 */

struct api_sshkey {
	char type[API_SSHKEY_TYPE_MAX];
	char fingerprint[API_FP_MAX]; /* "SHA256:..." */
};

/* Whether type is a key type an admin key may have. */
bool api_sshkey_type_ok(const char *type);

/*
 * Check the key type and base64 blob b64 and compute the fingerprint.
 * The blob must be canonical base64 (padding where due, nothing else),
 * name type as its first string, and for ssh-ed25519 hold exactly one
 * 32-byte key after it. Returns 0, AL_E_PARSE (with a reason in why:
 * what is wrong, never the key itself) or -ENOMEM.
 */
int api_sshkey_parse(const char *type, const char *b64,
		     struct api_sshkey *out, char *why, size_t whysz);

/*
 * The key sshd accepted for this session, from the file it names in
 * SSH_USER_AUTH (ExposeAuthInfo: one line per method, "publickey TYPE
 * BASE64" for a key). Exactly one publickey line must be there; other
 * methods' lines are ignored. Returns 0, AL_E_PARSE with why, or a
 * negative errno from reading the file.
 */
int api_sshkey_from_auth_info(const char *path, struct api_sshkey *out,
			      char *why, size_t whysz);

#endif
