/*
 * sshkey.c - OpenSSH public keys and their SHA256 fingerprints
 * (sshkey.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "api/sshkey.h"
#include "base/err.h"
#include "base/util.h"

/* What sshd writes for ExposeAuthInfo is small; anything larger is not
 * its file. */
#define SSHKEY_AUTH_INFO_MAX (64 * 1024)

static const char *const sshkey_types[] = {
	"ssh-ed25519",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
	"ssh-rsa",
	NULL,
};

bool api_sshkey_type_ok(const char *type)
{
	for (size_t i = 0; sshkey_types[i]; i++)
		if (!strcmp(type, sshkey_types[i]))
			return true;
	return false;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Strict base64 (RFC 4648 section 4): whole quads, '=' only as the last
 * one or two characters, unused bits zero, so that one blob has one
 * spelling and two lines cannot name one key differently. out holds at
 * least len / 4 * 3 bytes.
 */
static int b64_decode(const char *s, size_t len, uint8_t *out, size_t *outlen)
{
	size_t n = 0, pad = 0;

	if (len == 0 || len % 4)
		return AL_E_PARSE;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		int q = (i + 4 == len) ? 4 - (int)pad : 4;

		for (int j = 0; j < 4; j++) {
			int d = j < q ? b64_value(s[i + j]) : 0;
			if (d < 0 || (j >= q && s[i + j] != '='))
				return AL_E_PARSE;
			v = v << 6 | (uint32_t)d;
		}
		if ((q == 3 && (v & 0xff)) || (q == 2 && (v & 0xffff)))
			return AL_E_PARSE;
		out[n++] = (uint8_t)(v >> 16);
		if (q > 2)
			out[n++] = (uint8_t)(v >> 8);
		if (q > 3)
			out[n++] = (uint8_t)v;
	}
	*outlen = n;
	return 0;
}

/* The blob's first string (RFC 4253 section 5) must be type. */
static int sshkey_check_blob(const char *type, const uint8_t *b, size_t n,
			     char *why, size_t whysz)
{
	size_t tl = strlen(type);
	uint32_t l;

	if (n < 4)
		goto short_blob;
	l = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
	    b[3];
	if (l != tl || n - 4 < l || memcmp(b + 4, type, tl)) {
		snprintf(why, whysz, "the key's data is not a %s key", type);
		return AL_E_PARSE;
	}
	if (n - 4 - l == 0)
		goto short_blob;
	/* ed25519: one string of 32 bytes, and nothing after it. */
	if (!strcmp(type, "ssh-ed25519") &&
	    (n - 4 - l != 36 ||
	     memcmp(b + 4 + l, "\0\0\0\x20", 4) != 0)) {
		snprintf(why, whysz, "an ssh-ed25519 key holds 32 bytes");
		return AL_E_PARSE;
	}
	return 0;
short_blob:
	snprintf(why, whysz, "the key's data is too short");
	return AL_E_PARSE;
}

/* "SHA256:" and unpadded base64 of the digest, as OpenSSH prints it. */
static int sshkey_fingerprint(const uint8_t *blob, size_t n, char *out,
			      size_t outsz)
{
	unsigned char md[EVP_MAX_MD_SIZE], b64[64];
	unsigned int mdlen = 0;
	int len;

	if (!EVP_Digest(blob, n, md, &mdlen, EVP_sha256(), NULL))
		return -ENOMEM;
	len = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (len > 0 && b64[len - 1] == '=')
		len--;
	if (outsz < 7 + (size_t)len + 1)
		return -ERANGE;
	snprintf(out, outsz, "SHA256:%.*s", len, (const char *)b64);
	return 0;
}

int api_sshkey_parse(const char *type, const char *b64,
		     struct api_sshkey *out, char *why, size_t whysz)
{
	size_t len = strlen(b64), n = 0;
	uint8_t *blob = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!api_sshkey_type_ok(type)) {
		snprintf(why, whysz, "key type '%.64s' is not accepted "
			 "(ssh-ed25519, ecdsa-sha2-nistp256/384/521, "
			 "ssh-rsa, or a security key's sk- type)", type);
		rc = AL_E_PARSE;
		goto out;
	}
	if (len == 0 || len > API_SSHKEY_B64_MAX) {
		snprintf(why, whysz, "the key's base64 is empty or longer "
			 "than %d characters", API_SSHKEY_B64_MAX);
		rc = AL_E_PARSE;
		goto out;
	}
	blob = malloc(len / 4 * 3 + 3);
	if (!blob) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = b64_decode(b64, len, blob, &n))) {
		snprintf(why, whysz, "the key is not valid base64");
		goto out;
	}
	if ((rc = sshkey_check_blob(type, blob, n, why, whysz)))
		goto out;
	al_strlcpy(out->type, type, sizeof(out->type));
	rc = sshkey_fingerprint(blob, n, out->fingerprint,
				sizeof(out->fingerprint));
out:
	free(blob);
	return rc;
}

/* One "publickey TYPE BASE64" line (line is changed). */
static int sshkey_auth_line(char *line, struct api_sshkey *out, char *why,
			    size_t whysz)
{
	char *type = line + strlen("publickey "), *sp = strchr(type, ' ');

	if (!sp) {
		snprintf(why, whysz, "the publickey line has no key");
		return AL_E_PARSE;
	}
	*sp = '\0';
	/* Anything after the blob would be a certificate's or a newer
	 * sshd's addition: not a plain key. */
	if (strchr(sp + 1, ' ')) {
		snprintf(why, whysz, "the publickey line has more than a key");
		return AL_E_PARSE;
	}
	return api_sshkey_parse(type, sp + 1, out, why, whysz);
}

int api_sshkey_from_auth_info(const char *path, struct api_sshkey *out,
			      char *why, size_t whysz)
{
	struct al_buf b = {0};
	unsigned found = 0;
	char *save = NULL;
	int rc = al_read_file(path, SSHKEY_AUTH_INFO_MAX, &b);

	memset(out, 0, sizeof(*out));
	if (rc) {
		snprintf(why, whysz, "cannot read the session's key (%s)",
			 al_strerror(rc));
		goto out;
	}
	for (char *line = b.p; line && *line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		if (strncmp(line, "publickey ", 10))
			continue;
		if (++found > 1)
			break;
		if ((rc = sshkey_auth_line(line, out, why, whysz)))
			goto out;
	}
	if (found != 1) {
		snprintf(why, whysz, "%s public keys in the session's "
			 "authentication (exactly one is needed)",
			 found ? "several" : "no");
		memset(out, 0, sizeof(*out));
		rc = AL_E_PARSE;
	}
out:
	al_buf_free(&b);
	return rc;
}
