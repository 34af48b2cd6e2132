/*
 * tls.c - the proxy's TLS end for a credential on an https origin.
 *
 * To add a registry credential to requests the payload sends over TLS,
 * the proxy has to read them: it ends the payload's TLS itself with a
 * certificate for the registry host, issued by a CA made for this one
 * object, and opens a TLS connection of its own to the registry, which
 * checks the registry's real certificate. sandbox.h has the contract.
 *
 * Key handling: the CA's private key exists only inside sbx_tls_create,
 * in memory, and is freed (OpenSSL clears it) as soon as it has signed
 * the one leaf certificate; nothing is ever written out but the CA's
 * certificate. The CA carries name constraints naming the registry host
 * only, so even a leaked CA could not vouch for another site. The leaf's
 * key lives in the server context until sbx_tls_free.
 *
 * The proxy reaches the connections through sbx_tls.ops only, so that
 * proxy.c references no libssl symbol (internal.h says why).
 */
#include "sandbox/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

/* ---- the certificates ---- */

static int tls_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return AL_E_CRYPTO;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : AL_E_CRYPTO;
}

/* A new certificate for key: random serial, valid from a minute ago
 * (clocks drift a little) for valid_s seconds, subject CN=cn. */
static X509 *tls_cert_new(EVP_PKEY *key, const char *cn, long valid_s)
{
	unsigned char serial[16];
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *bn = NULL;
	int ok = 0;

	if (!x || !name || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* a positive INTEGER */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
	     X509_set_version(x, X509_VERSION_3) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), valid_s) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1,
					0) &&
	     X509_set_subject_name(x, name) && X509_set_pubkey(x, key);
out:
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* "DNS:host" or "IP:addr", and the same as a one-name subtree. */
static int tls_names(const char *host, bool ip, char *san, size_t sansz,
		     char *nc, size_t ncsz)
{
	bool v6 = strchr(host, ':') != NULL;
	int a, b;

	/* Name constraints bind the CA to the host in both name types (a
	 * type with no permitted subtree would be unconstrained): a DNS
	 * host allows one IP subtree that no server has (0.0.0.0/32). An
	 * address also gets the name localhost: npm's proxy agent
	 * (https-proxy-agent) checks the certificate of a registry given
	 * as an address against "localhost", the host it leaves out. */
	a = snprintf(san, sansz, "%s:%s%s", ip ? "IP" : "DNS", host,
		     ip ? ",DNS:localhost" : "");
	if (!ip)
		b = snprintf(nc, ncsz, "critical,permitted;DNS:%s,"
			     "permitted;IP:0.0.0.0/255.255.255.255", host);
	else
		b = snprintf(nc, ncsz, "critical,permitted;IP:%s/%s,"
			     "permitted;DNS:localhost", host,
			     v6 ? "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
				: "255.255.255.255");
	return a > 0 && (size_t)a < sansz && b > 0 && (size_t)b < ncsz
		       ? 0
		       : -ENAMETOOLONG;
}

/*
 * A new P-256 key and its certificate for host: the job's CA when
 * issuer is NULL (self-signed, name-constrained to host), else a leaf
 * for host signed by issuer with issuer_key. On error both are NULL.
 */
static int tls_make(const char *host, bool ip, long valid_s, X509 *issuer,
		    EVP_PKEY *issuer_key, X509 **cert, EVP_PKEY **key)
{
	char san[300], nc[400];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int rc = tls_names(host, ip, san, sizeof(san), nc, sizeof(nc));

	if (rc)
		goto out;
	rc = AL_E_CRYPTO;
	k = EVP_EC_gen("P-256");
	/* The CNs are not host names (they have spaces), so that no
	 * verifier reads them as one: the SAN alone names the host. */
	x = k ? tls_cert_new(k, issuer ? "airlock registry proxy"
				       : "airlock registry proxy CA",
			     valid_s)
	      : NULL;
	if (!x || !X509_set_issuer_name(x, X509_get_subject_name(
						   issuer ? issuer : x)))
		goto out;
	if (!issuer &&
	    (tls_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	     tls_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	     tls_ext(x, x, NID_subject_key_identifier, "hash") ||
	     tls_ext(x, x, NID_name_constraints, nc)))
		goto out;
	if (issuer &&
	    (tls_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
	     tls_ext(x, issuer, NID_key_usage, "critical,digitalSignature") ||
	     tls_ext(x, issuer, NID_ext_key_usage, "serverAuth") ||
	     tls_ext(x, issuer, NID_authority_key_identifier, "keyid:always") ||
	     tls_ext(x, issuer, NID_subject_alt_name, san)))
		goto out;
	if (X509_sign(x, issuer ? issuer_key : k, EVP_sha256()) <= 0)
		goto out;
	rc = 0;
out:
	if (rc) {
		X509_free(x);
		EVP_PKEY_free(k);
		x = NULL;
		k = NULL;
	}
	*cert = x;
	*key = k;
	return rc;
}

int sbx_tls_make_ca(const char *host, bool ip, long valid_s, X509 **ca,
		    EVP_PKEY **key)
{
	return tls_make(host, ip, valid_s, NULL, NULL, ca, key);
}

int sbx_tls_issue(X509 *ca, EVP_PKEY *ca_key, const char *host, bool ip,
		  long valid_s, X509 **leaf, EVP_PKEY **leaf_key)
{
	return tls_make(host, ip, valid_s, ca, ca_key, leaf, leaf_key);
}

/* ---- connections (the proxy's side of sbx_tls.ops) ---- */

/* One OpenSSL error as text, for a message; the queue is emptied. */
static void tls_why(SSL *ssl, int ret, char *why, size_t whysz)
{
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();

	if (vr != X509_V_OK)
		snprintf(why, whysz, "certificate verify failed: %s",
			 X509_verify_cert_error_string(vr));
	else if (e)
		snprintf(why, whysz, "%s", ERR_reason_error_string(e)
						   ? ERR_reason_error_string(e)
						   : "TLS error");
	else
		snprintf(why, whysz, "%s", ret == 0 ? "the peer closed the "
				     "connection" : "TLS error");
	ERR_clear_error();
}

static void *tls_open(const struct sbx_tls *t, int fd, bool server)
{
	SSL *ssl = SSL_new(server ? t->server : t->client);

	if (!ssl || !SSL_set_fd(ssl, fd))
		goto fail;
	if (server) {
		SSL_set_accept_state(ssl);
		return ssl;
	}
	SSL_set_connect_state(ssl);
	/* The registry's own name (SNI, unless an address) and the check
	 * of its certificate against it: a chain to a trusted root alone
	 * would accept any site's certificate. */
	if (t->ip) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
						   t->host))
			goto fail;
	} else if (!SSL_set_tlsext_host_name(ssl, t->host) ||
		   !SSL_set1_host(ssl, t->host)) {
		goto fail;
	}
	return ssl;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

/* -EAGAIN with the poll event OpenSSL waits for, 0 at a clean close,
 * or -EPIPE. */
static ssize_t tls_result(SSL *ssl, int ret, short *want)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return -EPIPE;
	}
}

static int tls_handshake(void *c, short *want, char *why, size_t whysz)
{
	SSL *ssl = c;
	int ret = SSL_do_handshake(ssl);

	if (ret == 1)
		return 0;
	int e = SSL_get_error(ssl, ret);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return -EAGAIN;
	}
	tls_why(ssl, ret, why, whysz);
	return -EPROTO;
}

static ssize_t tls_read(void *c, void *buf, size_t len, short *want)
{
	size_t got = 0;
	int ret = SSL_read_ex(c, buf, len, &got);

	return ret == 1 ? (ssize_t)got : tls_result(c, ret, want);
}

static ssize_t tls_write(void *c, const void *buf, size_t len, short *want)
{
	size_t put = 0;
	int ret = SSL_write_ex(c, buf, len, &put);

	if (ret == 1)
		return (ssize_t)put;
	ssize_t r = tls_result(c, ret, want);
	return r == 0 ? -EPIPE : r;
}

static bool tls_pending(void *c)
{
	return SSL_pending(c) > 0;
}

/* Say close_notify once, without waiting for the peer's. */
static void tls_shutdown(void *c)
{
	if (!(SSL_get_shutdown(c) & SSL_SENT_SHUTDOWN))
		SSL_shutdown(c);
	ERR_clear_error();
}

static void tls_close(void *c)
{
	SSL_free(c);
}

static const struct sbx_tls_ops tls_ops = {
	.open = tls_open,
	.handshake = tls_handshake,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
};

/* ---- the object ---- */

/* "host:port" or "[v6]:port" -> host, and whether it is an address. */
static int tls_origin_host(const char *origin, char *host, size_t hostsz,
			   bool *ip)
{
	const char *s = origin, *end;
	unsigned char tmp[sizeof(struct in6_addr)];

	if (*s == '[') {
		s++;
		end = strchr(s, ']');
	} else {
		end = strrchr(s, ':');
	}
	if (!end || end == s || (size_t)(end - s) >= hostsz)
		return -EINVAL;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	*ip = inet_pton(AF_INET, host, tmp) == 1 ||
	      inet_pton(AF_INET6, host, tmp) == 1;
	for (const char *p = host; !*ip && *p; p++)
		if (!(*p == '.' || *p == '-' || (*p >= '0' && *p <= '9') ||
		      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
			return -EINVAL;
	return 0;
}

static SSL_CTX *tls_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method()
					  : TLS_client_method());

	if (ctx && !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	/* SSL_write may then return after part of a buffer, which the
	 * proxy's write loop handles; a moved buffer is fine too. */
	if (ctx)
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

static int tls_ca_pem(X509 *ca, char **out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	int rc = AL_E_CRYPTO;

	if (!b || !PEM_write_bio_X509(b, ca))
		goto out;
	n = BIO_get_mem_data(b, &p);
	*out = malloc((size_t)n + 1);
	if (!*out) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

/* The registry's trust: ca_file, else the system's roots. */
static int tls_client_trust(SSL_CTX *ctx, const char *ca_file, char *err,
			    size_t errsz)
{
	int ok = ca_file ? SSL_CTX_load_verify_file(ctx, ca_file)
			 : SSL_CTX_set_default_verify_paths(ctx);

	if (!ok) {
		char why[160];
		tls_why(NULL, -1, why, sizeof(why));
		snprintf(err, errsz, "registry_ca_file %s: cannot load: %s",
			 ca_file ? ca_file : "(system)", why);
		return AL_E_CRYPTO;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

int sbx_tls_create(const char *origin, const char *ca_file, long valid_s,
		   struct sbx_tls **out, char *err, size_t errsz)
{
	struct sbx_tls *t = calloc(1, sizeof(*t));
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *leaf_key = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!t) {
		snprintf(err, errsz, "registry TLS: out of memory");
		goto out;
	}
	t->ops = &tls_ops;
	rc = tls_origin_host(origin, t->host, sizeof(t->host), &t->ip);
	if (rc) {
		snprintf(err, errsz, "registry TLS: bad origin %s", origin);
		goto out;
	}
	rc = sbx_tls_make_ca(t->host, t->ip, valid_s, &ca, &ca_key);
	if (rc == 0)
		rc = sbx_tls_issue(ca, ca_key, t->host, t->ip, valid_s, &leaf,
				   &leaf_key);
	/* The CA has signed all it ever will: its key goes now. */
	EVP_PKEY_free(ca_key);
	ca_key = NULL;
	if (rc == 0)
		rc = tls_ca_pem(ca, &t->ca_pem);
	if (rc) {
		snprintf(err, errsz, "registry TLS: cannot make the job's CA "
			 "for %s: %s", t->host, al_strerror(rc));
		goto out;
	}
	rc = AL_E_CRYPTO;
	t->server = tls_ctx(true);
	t->client = tls_ctx(false);
	if (!t->server || !t->client ||
	    SSL_CTX_use_certificate(t->server, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(t->server, leaf_key) != 1 ||
	    SSL_CTX_check_private_key(t->server) != 1) {
		snprintf(err, errsz, "registry TLS: cannot set up the "
			 "proxy's TLS contexts");
		goto out;
	}
	rc = tls_client_trust(t->client, ca_file, err, errsz);
out:
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(leaf_key);
	ERR_clear_error();
	if (rc)
		sbx_tls_free(t);
	else
		*out = t;
	return rc;
}

const char *sbx_tls_ca_pem(const struct sbx_tls *t)
{
	return t->ca_pem;
}

void sbx_tls_free(struct sbx_tls *t)
{
	if (!t)
		return;
	/* Frees the leaf's key with it (OpenSSL clears key memory). */
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	free(t->ca_pem);
	free(t);
}
