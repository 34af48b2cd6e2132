/*
 * Sealing: round trips, tampering anywhere in a sealed value, values moved
 * between slots, and the key file's refusal rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "seal/seal.h"

/* Load the key file at path, creating it when there is none. */
static int load_or_create(const char *path, struct seal_key *k)
{
	int rc = seal_key_load(path, SEAL_KEY_DATA, k);

	if (rc == -ENOENT)
		rc = seal_key_create(path, SEAL_KEY_DATA, k);
	return rc;
}

struct fix {
	char dir[64];
	char path[128];
	struct seal_key key;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/al-seal-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/data.key", f->dir);
	if (load_or_create(f->path, &f->key) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	seal_key_wipe(&f->key);
	al_rm_tree(f->dir);
	free(f);
	return 0;
}

static const char secret[] = "customer record: acme/private-repo";

static void test_round_trip(void **state)
{
	struct fix *f = *state;
	struct al_buf s = { 0 }, p = { 0 };

	assert_int_equal(seal_value(&f->key, "jobs", "k1", 2, 7, secret,
				    sizeof(secret), &s), 0);
	assert_int_equal(s.len, sizeof(secret) + SEAL_OVERHEAD);
	assert_int_equal((uint8_t)s.p[0], SEAL_VERSION);
	assert_memory_equal(s.p + 1, f->key.id, SEAL_KEY_ID_LEN);
	assert_null(memmem(s.p, s.len, "acme", 4));

	uint64_t ver = 0;
	assert_int_equal(seal_open(&f->key, "jobs", "k1", 2, s.p, s.len, &p,
				   &ver), 0);
	assert_int_equal(ver, 7);
	assert_int_equal(p.len, sizeof(secret));
	assert_memory_equal(p.p, secret, sizeof(secret));

	/* An empty value and an empty record key seal and open too. */
	assert_int_equal(seal_value(&f->key, "meta", "", 0, 7, "", 0, &s), 0);
	assert_int_equal(s.len, SEAL_OVERHEAD);
	assert_int_equal(seal_open(&f->key, "meta", "", 0, s.p, s.len, &p,
				   NULL), 0);
	assert_int_equal(p.len, 0);
	al_buf_free(&s);
	al_buf_free(&p);
}

static void test_nonce_fresh(void **state)
{
	struct fix *f = *state;
	struct al_buf a = { 0 }, b = { 0 };

	assert_int_equal(seal_value(&f->key, "jobs", "k", 1, 7, "x", 1, &a), 0);
	assert_int_equal(seal_value(&f->key, "jobs", "k", 1, 7, "x", 1, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_not_equal(a.p + SEAL_HEADER_LEN - SEAL_NONCE_LEN,
				b.p + SEAL_HEADER_LEN - SEAL_NONCE_LEN,
				SEAL_NONCE_LEN);
	al_buf_free(&a);
	al_buf_free(&b);
}

/* A context's values open with seal_open and the other way round. */
static void test_ctx_interchangeable(void **state)
{
	struct fix *f = *state;
	struct al_buf s = { 0 }, p = { 0 };
	struct seal_ctx *c = NULL;
	uint64_t ver = 0;

	assert_int_equal(seal_ctx_new(&f->key, &c), 0);
	assert_memory_equal(seal_ctx_id(c), f->key.id, SEAL_KEY_ID_LEN);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(seal_ctx_seal(c, "jobs", "k1", 2, 9 + i,
					       secret, strlen(secret), &s), 0);
		assert_int_equal(s.len, strlen(secret) + SEAL_OVERHEAD);
		assert_int_equal(seal_open(&f->key, "jobs", "k1", 2, s.p, s.len,
					   &p, &ver), 0);
		assert_int_equal(ver, 9 + i);
		assert_memory_equal(p.p, secret, strlen(secret));
		/* The slot is still bound: another record key fails, and
		 * the context opens the next value after that failure. */
		assert_int_equal(seal_ctx_open(c, "jobs", "k2", 2, s.p, s.len,
					       &p, NULL), AL_E_AUTH);
		assert_int_equal(p.len, 0);
		assert_int_equal(seal_ctx_open(c, "jobs", "k1", 2, s.p, s.len,
					       &p, &ver), 0);
		assert_memory_equal(p.p, secret, strlen(secret));
	}
	assert_int_equal(seal_value(&f->key, "audit", "\0\0\0\0\0\0\0\1", 8,
				    4, "", 0, &s), 0);
	assert_int_equal(seal_ctx_open(c, "audit", "\0\0\0\0\0\0\0\1", 8, s.p,
				       s.len, &p, &ver), 0);
	assert_int_equal(p.len, 0);
	seal_ctx_free(c);
	al_buf_free(&s);
	al_buf_free(&p);
}

static int nonce_cmp(const void *a, const void *b)
{
	return memcmp(a, b, SEAL_NONCE_LEN);
}

/* Many values from one context (past several refills of its nonce
 * block): every nonce differs. */
static void test_ctx_nonces_unique(void **state)
{
	struct fix *f = *state;
	enum { N = 2000 };
	uint8_t (*nonces)[SEAL_NONCE_LEN] = calloc(N, SEAL_NONCE_LEN);
	struct al_buf s = { 0 };
	struct seal_ctx *c = NULL;

	assert_non_null(nonces);
	assert_int_equal(seal_ctx_new(&f->key, &c), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(seal_ctx_seal(c, "jobs", "k", 1, 1, "x", 1,
					       &s), 0);
		memcpy(nonces[i], s.p + SEAL_HEADER_LEN - SEAL_NONCE_LEN,
		       SEAL_NONCE_LEN);
	}
	qsort(nonces, N, SEAL_NONCE_LEN, nonce_cmp);
	for (int i = 1; i < N; i++)
		assert_memory_not_equal(nonces[i - 1], nonces[i],
					SEAL_NONCE_LEN);
	seal_ctx_free(c);
	al_buf_free(&s);
	free(nonces);
}

/* A child forked with a live nonce block must not take the parent's
 * next nonce: both seal once after the fork and the nonces differ. */
static void test_ctx_fork_nonces(void **state)
{
	struct fix *f = *state;
	uint8_t mine[SEAL_NONCE_LEN], theirs[SEAL_NONCE_LEN];
	struct al_buf s = { 0 };
	struct seal_ctx *c = NULL;
	int pfd[2], st = 0;
	pid_t pid;

	assert_int_equal(seal_ctx_new(&f->key, &c), 0);
	assert_int_equal(seal_ctx_seal(c, "jobs", "k", 1, 1, "x", 1, &s), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = seal_ctx_seal(c, "jobs", "k", 1, 1, "x", 1, &s) == 0 &&
			 write(pfd[1], s.p + SEAL_HEADER_LEN - SEAL_NONCE_LEN,
			       SEAL_NONCE_LEN) == SEAL_NONCE_LEN;
		_exit(ok ? 0 : 1);
	}
	close(pfd[1]);
	assert_int_equal(seal_ctx_seal(c, "jobs", "k", 1, 1, "x", 1, &s), 0);
	memcpy(mine, s.p + SEAL_HEADER_LEN - SEAL_NONCE_LEN, SEAL_NONCE_LEN);
	assert_int_equal(read(pfd[0], theirs, sizeof(theirs)),
			 (ssize_t)sizeof(theirs));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_memory_not_equal(mine, theirs, SEAL_NONCE_LEN);
	seal_ctx_free(c);
	al_buf_free(&s);
}

/* The keyed-hash context gives seal_hmac's results, message after
 * message. */
static void test_mac_ctx(void **state)
{
	struct fix *f = *state;
	uint8_t a[32], b[32], other[SEAL_KEY_LEN] = { 1 };
	struct seal_mac *m = NULL;

	assert_int_equal(seal_mac_new(f->key.key, &m), 0);
	assert_true(seal_mac_has_key(m, f->key.key));
	assert_false(seal_mac_has_key(m, other));
	for (size_t n = 0; n < sizeof(secret); n += 7) {
		assert_int_equal(seal_mac_run(m, secret, n, a), 0);
		assert_int_equal(seal_hmac(f->key.key, secret, n, b), 0);
		assert_memory_equal(a, b, 32);
	}
	seal_mac_free(m);
}

static void test_flip_every_byte(void **state)
{
	struct fix *f = *state;
	struct al_buf s = { 0 }, p = { 0 };

	assert_int_equal(seal_value(&f->key, "audit", "\0\0\0\0\0\0\0\1", 8,
				    7,
				    secret, sizeof(secret), &s), 0);
	for (size_t i = 0; i < s.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			s.p[i] ^= (char)(1 << bit);
			int rc = seal_open(&f->key, "audit",
					   "\0\0\0\0\0\0\0\1", 8, s.p, s.len,
					   &p, NULL);
			/* The version byte is refused before the tag. */
			assert_int_equal(rc, i == 0 ? AL_E_PARSE : AL_E_AUTH);
			assert_int_equal(p.len, 0);
			s.p[i] ^= (char)(1 << bit);
		}
	}
	assert_int_equal(seal_open(&f->key, "audit", "\0\0\0\0\0\0\0\1", 8,
				   s.p, s.len, &p, NULL), 0);

	/* Truncation and extension are refused as well. */
	assert_int_equal(seal_open(&f->key, "audit", "\0\0\0\0\0\0\0\1", 8,
				   s.p, s.len - 1, &p, NULL), AL_E_AUTH);
	assert_int_equal(seal_open(&f->key, "audit", "\0\0\0\0\0\0\0\1", 8,
				   s.p, SEAL_OVERHEAD - 1, &p, NULL), AL_E_PARSE);
	assert_int_equal(al_buf_append(&s, "x", 1), 0);
	assert_int_equal(seal_open(&f->key, "audit", "\0\0\0\0\0\0\0\1", 8,
				   s.p, s.len, &p, NULL), AL_E_AUTH);
	al_buf_free(&s);
	al_buf_free(&p);
}

static void test_moved_value(void **state)
{
	struct fix *f = *state;
	struct al_buf s = { 0 }, p = { 0 };

	assert_int_equal(seal_value(&f->key, "jobs", "job-1", 5, 7, secret,
				    sizeof(secret), &s), 0);
	assert_int_equal(seal_open(&f->key, "jobs", "job-2", 5, s.p, s.len,
				   &p, NULL), AL_E_AUTH);
	assert_int_equal(seal_open(&f->key, "jobs", "job-1x", 6, s.p, s.len,
				   &p, NULL), AL_E_AUTH);
	assert_int_equal(seal_open(&f->key, "repos", "job-1", 5, s.p, s.len,
				   &p, NULL), AL_E_AUTH);
	/* The length prefix keeps "jobs"+"job-1" apart from "job"+"sjob-1". */
	assert_int_equal(seal_open(&f->key, "job", "sjob-1", 6, s.p, s.len,
				   &p, NULL), AL_E_AUTH);
	assert_int_equal(seal_open(&f->key, "jobs", "job-1", 5, s.p, s.len,
				   &p, NULL), 0);
	al_buf_free(&s);
	al_buf_free(&p);
}

static void test_other_key(void **state)
{
	struct fix *f = *state;
	struct al_buf s = { 0 }, p = { 0 };
	struct seal_key other = f->key;
	struct seal_header h;

	assert_int_equal(seal_value(&f->key, "jobs", "a", 1, 7, "v", 1, &s), 0);
	assert_int_equal(seal_peek(s.p, s.len, &h), 0);
	assert_memory_equal(h.id, f->key.id, SEAL_KEY_ID_LEN);
	assert_int_equal(h.version, 7);

	/* Same id, different key bytes: the tag fails. */
	other.key[0] ^= 1;
	assert_int_equal(seal_open(&other, "jobs", "a", 1, s.p, s.len, &p,
				   NULL),
			 AL_E_AUTH);
	/* Different id: refused before decrypting. */
	other = f->key;
	other.id[3] ^= 1;
	assert_int_equal(seal_open(&other, "jobs", "a", 1, s.p, s.len, &p,
				   NULL),
			 AL_E_AUTH);
	seal_key_wipe(&other);
	al_buf_free(&s);
	al_buf_free(&p);
}

static void test_bad_names(void **state)
{
	struct fix *f = *state;
	struct al_buf s = { 0 };
	char longname[SEAL_DB_NAME_MAX + 2];

	memset(longname, 'd', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(seal_value(&f->key, "", "a", 1, 7, "v", 1, &s),
			 AL_E_USAGE);
	assert_int_equal(seal_value(&f->key, longname, "a", 1, 7, "v", 1,
				    &s),
			 AL_E_USAGE);
	al_buf_free(&s);
}

static void test_key_file_created(void **state)
{
	struct fix *f = *state;
	struct seal_key again;
	struct stat st;

	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SEAL_KEY_LEN);

	assert_int_equal(load_or_create(f->path, &again), 0);
	assert_memory_equal(again.key, f->key.key, SEAL_KEY_LEN);
	assert_memory_equal(again.id, f->key.id, SEAL_KEY_ID_LEN);
	seal_key_wipe(&again);
	for (size_t i = 0; i < sizeof(again); i++)
		assert_int_equal(((uint8_t *)&again)[i], 0);
}

static void test_key_mode_refused(void **state)
{
	struct fix *f = *state;
	struct seal_key k;

	assert_int_equal(chmod(f->path, 0644), 0);
	memset(&k, 0xaa, sizeof(k));
	assert_int_equal(load_or_create(f->path, &k), AL_E_UNSAFE);
	for (size_t i = 0; i < sizeof(k); i++)
		assert_int_equal(((uint8_t *)&k)[i], 0);
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(load_or_create(f->path, &k), AL_E_UNSAFE);
	assert_int_equal(chmod(f->path, 0602), 0);
	assert_int_equal(load_or_create(f->path, &k), AL_E_UNSAFE);
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(load_or_create(f->path, &k), 0);
	seal_key_wipe(&k);
}

static void test_key_symlink_refused(void **state)
{
	struct fix *f = *state;
	char link[160];
	struct seal_key k;

	/* A symlink to a perfectly good key is still refused. */
	snprintf(link, sizeof(link), "%s/link.key", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	assert_int_equal(load_or_create(link, &k), AL_E_UNSAFE);

	/* A dangling one must not be followed to create a key elsewhere. */
	char target[160], dangling[160];
	snprintf(target, sizeof(target), "%s/elsewhere.key", f->dir);
	snprintf(dangling, sizeof(dangling), "%s/dangling.key", f->dir);
	assert_int_equal(symlink(target, dangling), 0);
	assert_int_equal(load_or_create(dangling, &k), AL_E_UNSAFE);
	assert_int_equal(access(target, F_OK), -1);
}

static void test_key_wrong_size_refused(void **state)
{
	struct fix *f = *state;
	char path[160];
	struct seal_key k;
	int fd;

	snprintf(path, sizeof(path), "%s/short.key", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdef", 16), 16);
	close(fd);
	assert_int_equal(load_or_create(path, &k), AL_E_PARSE);

	/* A directory in the key's place is not a key. */
	snprintf(path, sizeof(path), "%s/dir.key", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(load_or_create(path, &k), AL_E_UNSAFE);

	/* A missing parent directory is reported, not created. */
	snprintf(path, sizeof(path), "%s/nope/data.key", f->dir);
	assert_int_equal(load_or_create(path, &k), -ENOENT);
}

/* The version is authenticated: relabelling it is a forgery. */
static void test_version_bound(void **state)
{
	struct fix *f = *state;
	struct al_buf s = { 0 }, p = { 0 };
	uint64_t ver = 0;

	assert_int_equal(seal_value(&f->key, "jobs", "j", 1, 0x0102030405ULL,
				    "v", 1, &s), 0);
	assert_int_equal(seal_open(&f->key, "jobs", "j", 1, s.p, s.len, &p,
				   &ver), 0);
	assert_int_equal(ver, 0x0102030405ULL);
	s.p[1 + SEAL_KEY_ID_LEN + 7] = 0x04; /* version 0x0102030404 */
	assert_int_equal(seal_open(&f->key, "jobs", "j", 1, s.p, s.len, &p,
				   &ver), AL_E_AUTH);
	assert_int_equal(ver, 0x0102030405ULL);
	/* A format 2 value is not a format 1 value, nor the reverse. */
	s.p[1 + SEAL_KEY_ID_LEN + 7] = 0x05;
	assert_int_equal(seal_open_v1(&f->key, "jobs", "j", 1, s.p, s.len,
				      &p), AL_E_PARSE);
	al_buf_free(&s);
	al_buf_free(&p);
}

/* A data key and a master key of the same bytes have different ids. */
static void test_kinds_apart(void **state)
{
	struct fix *f = *state;
	struct seal_key m;

	assert_int_equal(seal_key_from_bytes(SEAL_KEY_MASTER, f->key.key, &m),
			 0);
	assert_memory_equal(m.key, f->key.key, SEAL_KEY_LEN);
	assert_memory_not_equal(m.id, f->key.id, SEAL_KEY_ID_LEN);
	seal_key_wipe(&m);
}

/* 0400 is as private as 0600; create never replaces a key. */
static void test_key_readonly_and_exclusive(void **state)
{
	struct fix *f = *state;
	struct seal_key k;

	assert_int_equal(chmod(f->path, 0400), 0);
	assert_int_equal(seal_key_load(f->path, SEAL_KEY_DATA, &k), 0);
	assert_memory_equal(k.key, f->key.key, SEAL_KEY_LEN);
	assert_int_equal(seal_key_create(f->path, SEAL_KEY_DATA, &k),
			 AL_E_EXISTS);
	assert_int_equal(seal_key_load(f->path, SEAL_KEY_DATA, &k), 0);
	assert_memory_equal(k.key, f->key.key, SEAL_KEY_LEN);
	seal_key_wipe(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nonce_fresh, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flip_every_byte, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_moved_value, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_file_created, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_mode_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_symlink_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_wrong_size_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctx_interchangeable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ctx_nonces_unique, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ctx_fork_nonces, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mac_ctx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_bound, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kinds_apart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_key_readonly_and_exclusive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
