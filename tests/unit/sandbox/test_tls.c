/*
 * test_tls.c - the per-job CA of the proxy's TLS end (tls.c).
 *
 * The CA's certificate is all that leaves sbx_tls_create (no private
 * key in what the payload gets); the leaf it signed verifies for the
 * registry host only; the CA's name constraints refuse a certificate it
 * would sign for any other name or address, of either type, so that even
 * a leaked CA vouches for nothing else; validity is what was asked; a
 * registry CA file that cannot be loaded is named in the error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

/* X509_V_OK, or why leaf does not verify under ca for ip or host. */
static int verify(X509 *ca, X509 *leaf, const char *ip, const char *host)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int err;

	assert_int_equal(X509_STORE_add_cert(st, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, NULL), 1);
	X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
	if (ip)
		assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(p, ip), 1);
	if (host)
		assert_int_equal(X509_VERIFY_PARAM_set1_host(p, host, 0), 1);
	err = X509_verify_cert(ctx) == 1 ? X509_V_OK
					 : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return err;
}

static X509 *ca_of(const struct sbx_tls *t)
{
	const char *pem = sbx_tls_ca_pem(t);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(ca);
	return ca;
}

static void test_job_ca_and_leaf(void **state)
{
	static const struct {
		const char *origin, *ip, *host, *other_ip, *other_host;
	} cases[] = {
		{ "127.0.0.1:4873", "127.0.0.1", NULL, "127.0.0.2", NULL },
		{ "[::1]:4873", "::1", NULL, "::2", NULL },
		{ "registry.test:443", NULL, "registry.test", NULL,
		  "evil.test" },
	};
	char err[256];

	for (size_t i = 0; i < AL_ARRAY_LEN(cases); i++) {
		struct sbx_tls *t = NULL;
		assert_int_equal(sbx_tls_create(cases[i].origin, NULL, 7200,
						&t, err, sizeof(err)), 0);
		const char *pem = sbx_tls_ca_pem(t);
		/* A certificate, one, and nothing private. */
		assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
		assert_null(strstr(strstr(pem, "-----END") + 1, "BEGIN"));
		assert_null(strstr(pem, "PRIVATE"));

		X509 *ca = ca_of(t);
		X509 *leaf = SSL_CTX_get0_certificate(t->server);
		assert_int_equal(verify(ca, leaf, cases[i].ip, cases[i].host),
				 X509_V_OK);
		assert_int_not_equal(verify(ca, leaf, cases[i].other_ip,
					    cases[i].other_host), X509_V_OK);
		/* The key the proxy serves with is the leaf's, not the CA's. */
		assert_int_equal(X509_check_private_key(
					 leaf, SSL_CTX_get0_privatekey(t->server)),
				 1);
		assert_int_equal(X509_check_private_key(
					 ca, SSL_CTX_get0_privatekey(t->server)),
				 0);
		/* Valid from about now for the 7200 s asked. */
		time_t now = time(NULL), soon = now + 7000, late = now + 7400;
		assert_true(X509_cmp_time(X509_get0_notBefore(ca), &now) < 0);
		assert_true(X509_cmp_time(X509_get0_notAfter(ca), &soon) > 0);
		assert_true(X509_cmp_time(X509_get0_notAfter(ca), &late) < 0);
		assert_true(X509_cmp_time(X509_get0_notAfter(leaf), &late) < 0);
		X509_free(ca);
		sbx_tls_free(t);
	}
}

/*
 * What the CA would sign for another place: refused by any verifier
 * that reads name constraints (OpenSSL, and node's with it), even
 * without a host check, and in both name types.
 */
static void test_name_constraints(void **state)
{
	static const struct {
		const char *ca_host;
		bool ca_ip;
		const char *leaf;
		bool leaf_ip;
		bool ok;
	} cases[] = {
		{ "registry.test", false, "registry.test", false, true },
		{ "registry.test", false, "evil.test", false, false },
		{ "registry.test", false, "127.0.0.1", true, false },
		{ "registry.test", false, "::1", true, false },
		{ "127.0.0.1", true, "127.0.0.1", true, true },
		{ "127.0.0.1", true, "127.0.0.2", true, false },
		{ "127.0.0.1", true, "::1", true, false },
		{ "127.0.0.1", true, "evil.test", false, false },
		{ "::1", true, "::1", true, true },
		{ "::1", true, "127.0.0.1", true, false },
		{ "::1", true, "evil.test", false, false },
	};

	for (size_t i = 0; i < AL_ARRAY_LEN(cases); i++) {
		X509 *ca, *leaf;
		EVP_PKEY *ca_key, *leaf_key;
		assert_int_equal(sbx_tls_make_ca(cases[i].ca_host,
						 cases[i].ca_ip, 600, &ca,
						 &ca_key), 0);
		assert_int_equal(sbx_tls_issue(ca, ca_key, cases[i].leaf,
					       cases[i].leaf_ip, 600, &leaf,
					       &leaf_key), 0);
		int err = verify(ca, leaf, NULL, NULL);
		print_message("%s -> %s: %s\n", cases[i].ca_host,
			      cases[i].leaf, X509_verify_cert_error_string(err));
		if (cases[i].ok)
			assert_int_equal(err, X509_V_OK);
		else
			assert_int_equal(err, X509_V_ERR_PERMITTED_VIOLATION);
		X509_free(ca);
		X509_free(leaf);
		EVP_PKEY_free(ca_key);
		EVP_PKEY_free(leaf_key);
	}
}

static void test_refusals(void **state)
{
	struct sbx_tls *t = (struct sbx_tls *)1;
	char err[256];

	assert_int_equal(sbx_tls_create("no-port", NULL, 600, &t, err,
					sizeof(err)), -EINVAL);
	assert_null(t);
	assert_int_equal(sbx_tls_create("bad host!:443", NULL, 600, &t, err,
					sizeof(err)), -EINVAL);
	assert_int_not_equal(sbx_tls_create("127.0.0.1:443",
					    "/nonexistent/ca.pem", 600, &t,
					    err, sizeof(err)), 0);
	assert_null(t);
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_ca_and_leaf),
		cmocka_unit_test(test_name_constraints),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
