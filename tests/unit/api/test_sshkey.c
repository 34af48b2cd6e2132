/*
 * OpenSSH public keys: fingerprints against ssh-keygen's (OpenSSH 9.2
 * printed the vectors below for keys it made), and the forms that must
 * be refused: another type, a type the blob does not name, a truncated
 * or padded-wrong blob, a certificate, an auth-info file with no key or
 * with two.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/sshkey.h"
#include "base/err.h"

#define ED_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIAnxhsw2h7vhhJthAKBeOegcjKaJny3MyMqJrlhzM+NW"
#define ED_FP "SHA256:kxhnYQd+YzzZxr3SdR3PuysYv19ydVFoa+y6IRRT5po"
#define EC_B64                                                             \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBHYGJKFxBqWvxjqw" \
	"XbavlJteETYhaXTL/4P9OvrlknDDwvIEahBbB6hUpXsG+4NoHiUkF75G6i40/R4skImD" \
	"pdfkoaafoT5zIpW1ZYrjaMvgTPj6m499YLmGdQoUeejNdA=="
#define EC_B64_HEAD                                                        \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBHYGJKFxBqWvxjqw" \
	"XbavlJteETYhaXTL/4P9OvrlknDDwvIEahBbB6hUpXsG+4NoHiUkF75G6i40/R4skImD" \
	"pdfkoaafoT5zIpW1ZYrjaMvgTPj6m499YLmGdQoUeej"
#define EC_FP "SHA256:M1dOxBaEhBwGMWkk8YYnEH2pfuqjSZmKE6KuqmUd5fw"
#define RSA_B64                                                            \
	"AAAAB3NzaC1yc2EAAAADAQABAAABAQC/Ajr8X2sWKnIkceCTsYUtFd5ry5qER1JdobTm" \
	"0wre0+grcTn7pDZTS97HUUZ+J0Oddb9ptXlrB3vMjz67TPR5ZQMuFpYCCf26qaKf7WSH" \
	"pxtBLW/L5y80u3PW50z2grNwSjtCDndKAH17X2LF40VAkXzZR214oOxx+5XRpZTZNNrf" \
	"TvsNKtdsrpxQKZdu7P3GVTbCTGOszctzmWgLOhLmKqmpdIu2C+psjZPnkcENvVdM1XcC" \
	"eIK/J63YOSe/d+PxHx5qwZoK59NsOO3zu4Ep9WFYk7YPKYbg9cg3c1xLeJHhU1UkXXCl" \
	"QPdut7Ty8R0kCKOqPfEZISoHtdQXq6N9"
#define RSA_FP "SHA256:VhTc8fqoJfsb1ySYzdE/0z6TrxNJiRuV+vUUR9TWTko"

static void test_fingerprints(void **state)
{
	struct api_sshkey k;
	char why[256];

	(void)state;
	assert_int_equal(api_sshkey_parse("ssh-ed25519", ED_B64, &k, why,
					  sizeof(why)), 0);
	assert_string_equal(k.fingerprint, ED_FP);
	assert_string_equal(k.type, "ssh-ed25519");
	assert_int_equal(api_sshkey_parse("ecdsa-sha2-nistp384", EC_B64, &k,
					  why, sizeof(why)), 0);
	assert_string_equal(k.fingerprint, EC_FP);
	assert_int_equal(api_sshkey_parse("ssh-rsa", RSA_B64, &k, why,
					  sizeof(why)), 0);
	assert_string_equal(k.fingerprint, RSA_FP);
}

static void refused(const char *type, const char *b64, const char *want)
{
	struct api_sshkey k;
	char why[256] = "";

	assert_int_equal(api_sshkey_parse(type, b64, &k, why, sizeof(why)),
			 AL_E_PARSE);
	assert_non_null(strstr(why, want));
	assert_string_equal(k.fingerprint, "");
}

static void test_hostile_keys(void **state)
{
	char buf[sizeof(ED_B64)];

	(void)state;
	refused("ssh-dss", ED_B64, "not accepted");
	refused("ssh-ed25519-cert-v01@openssh.com", ED_B64, "not accepted");
	/* The blob names ed25519: it is no RSA key. */
	refused("ssh-rsa", ED_B64, "not a ssh-rsa key");
	refused("ssh-ed25519", "", "empty");
	refused("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5", "too short");
	/* One byte short of the 32-byte key. */
	refused("ssh-ed25519",
		"AAAAC3NzaC1lZDI1NTE5AAAAIAnxhsw2h7vhhJthAKBeOegcjKaJny3MyMqJrlhzMw==",
		"32 bytes");
	refused("ssh-ed25519", ED_B64 "=", "base64");
	refused("ssh-ed25519", ED_B64 "AAAA", "32 bytes");
	refused("ecdsa-sha2-nistp384", "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ=",
		"too short");
	/* Padding bits that are not zero: a second spelling of a blob. */
	refused("ecdsa-sha2-nistp384", EC_B64_HEAD "NdB==", "base64");
	memcpy(buf, ED_B64, sizeof(buf));
	buf[10] = '*';
	refused("ssh-ed25519", buf, "base64");
	buf[10] = ' ';
	refused("ssh-ed25519", buf, "base64");
}

/* Write text to a fresh file; its path into path. */
static void auth_file(char *path, size_t pathsz, const char *text)
{
	FILE *f;
	int fd;

	snprintf(path, pathsz, "/tmp/al-sshauth.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_auth_info(void **state)
{
	static const char *const bad[] = {
		"",
		"keyboard-interactive\n",
		"publickey ssh-ed25519 " ED_B64 "\npublickey ssh-ed25519 " ED_B64
		"\n",
		"publickey ssh-ed25519\n",
		"publickey ssh-ed25519 " ED_B64 " extra\n",
		"publickey ssh-ed25519-cert-v01@openssh.com " ED_B64 "\n",
	};
	struct api_sshkey k;
	char path[64], why[256];

	(void)state;
	auth_file(path, sizeof(path), "password\npublickey ssh-ed25519 " ED_B64
		  "\n");
	assert_int_equal(api_sshkey_from_auth_info(path, &k, why, sizeof(why)),
			 0);
	assert_string_equal(k.fingerprint, ED_FP);
	unlink(path);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		auth_file(path, sizeof(path), bad[i]);
		assert_int_not_equal(api_sshkey_from_auth_info(path, &k, why,
							       sizeof(why)),
				     0);
		assert_string_equal(k.fingerprint, "");
		unlink(path);
	}
	assert_int_equal(api_sshkey_from_auth_info("/nonexistent/x", &k, why,
						   sizeof(why)),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprints),
		cmocka_unit_test(test_hostile_keys),
		cmocka_unit_test(test_auth_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
