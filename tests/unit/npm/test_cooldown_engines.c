/*
 * test_cooldown_engines.c - two rows of the shared npm edge-case table
 * (cases/npm-edge-cases.md) on hand-made registry documents:
 *
 *   27: a candidate whose engines.node cannot meet the project's, or
 *       excludes the Node that runs the tests, is dropped with a reason
 *       and the next older version may be taken;
 *   30: a repository .npmrc min-release-age (or before) holds back what
 *       npm would refuse, falling back to the newest version old enough
 *       (never dropping the package), the stricter of it and
 *       airlock.conf's min_release_age deciding.
 *
 * Plus the .npmrc reader on hostile input: garbage, sections, huge and
 * special files, symlinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "npm/npmrc.h"
#include "npm/plan.h"

/* The clock of every plan here: 2025-03-01T00:00:00Z. */
#define NOW_MS 1740787200000LL
#define DAY_MS 86400000LL

static void parse_pk(struct npm_packument *p, const char *name,
		     const char *body)
{
	memset(p, 0, sizeof(*p));
	p->name = strdup(name);
	npm_packument_parse(p, body, strlen(body));
	assert_int_equal(p->err, 0);
}

/* Row 27's document, full form: 1.1.0 wants Node >=16, 1.2.0 >=22,
 * 1.0.0 names no engines. */
static const char eng_full[] =
	"{\"name\":\"eng\",\"dist-tags\":{\"latest\":\"1.2.0\"},"
	"\"versions\":{"
	"\"1.0.0\":{\"version\":\"1.0.0\"},"
	"\"1.1.0\":{\"version\":\"1.1.0\",\"engines\":{\"node\":\">=16\"}},"
	"\"1.2.0\":{\"version\":\"1.2.0\",\"engines\":{\"node\":\">=22\"}}},"
	"\"time\":{\"1.0.0\":\"2024-01-01T00:00:00.000Z\","
	"\"1.1.0\":\"2024-02-01T00:00:00.000Z\","
	"\"1.2.0\":\"2024-03-01T00:00:00.000Z\"}}";

/* The same in the abbreviated form (install-v1): engines per version,
 * no time. 1.3.0 names no engines at all: it is kept. */
static const char eng_abbrev[] =
	"{\"name\":\"eng2\",\"modified\":\"2024-03-01T00:00:00.000Z\","
	"\"dist-tags\":{\"latest\":\"1.3.0\"},\"versions\":{"
	"\"1.0.0\":{\"name\":\"eng2\",\"version\":\"1.0.0\","
	"\"engines\":{\"node\":\">=10\"},\"dist\":{\"tarball\":\"x\"}},"
	"\"1.2.0\":{\"name\":\"eng2\",\"version\":\"1.2.0\","
	"\"engines\":{\"node\":\">=22\"},\"dist\":{\"tarball\":\"x\"}},"
	"\"1.3.0\":{\"name\":\"eng2\",\"version\":\"1.3.0\","
	"\"dist\":{\"tarball\":\"x\"}}}}";

/* A hostile document: engines.node that is no range, a number, too
 * long; engines that is no object (ignored, as npm does). */
static const char *hostile(void)
{
	static char body[4096];
	char longr[1100];

	memset(longr, '1', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	snprintf(body, sizeof(body),
		 "{\"name\":\"bad\",\"dist-tags\":{\"latest\":\"1.5.0\"},"
		 "\"versions\":{"
		 "\"1.0.0\":{},"
		 "\"1.1.0\":{\"engines\":\"node >= 0.4\"},"
		 "\"1.2.0\":{\"engines\":{\"node\":\"\"}},"
		 "\"1.3.0\":{\"engines\":{\"node\":\"not a range !!\"}},"
		 "\"1.4.0\":{\"engines\":{\"node\":42}},"
		 "\"1.5.0\":{\"engines\":{\"node\":\"%s\"}}}}", longr);
	return body;
}

static const struct npm_update *upd(const struct npm_plan *p,
				    const char *name)
{
	for (size_t i = 0; i < p->nupdates; i++)
		if (!strcmp(p->updates[i].name, name))
			return &p->updates[i];
	return NULL;
}

static void expect_skip(const struct npm_plan *p, const char *name,
			const char *want, const char *rule)
{
	for (size_t i = 0; i < p->nskips; i++)
		if (!strcmp(p->skips[i].name, name) &&
		    strstr(p->skips[i].reason, want)) {
			assert_non_null(p->skips[i].rule);
			assert_string_equal(p->skips[i].rule, rule);
			return;
		}
	for (size_t i = 0; i < p->nskips; i++)
		print_message("skip %s: %s\n", p->skips[i].name,
			      p->skips[i].reason);
	fail_msg("%s: no skip with '%s'", name, want);
}

static void plan_of(const char *manifest, const struct npm_packument *pk,
		    size_t npk, const struct npm_rules *r,
		    struct npm_plan *plan)
{
	struct npm_manifest m;
	char err[256];

	assert_int_equal(npm_manifest_parse(manifest, strlen(manifest), &m,
					    err, sizeof(err)), 0);
	assert_int_equal(npm_plan_build_rules(&m, pk, npk, r, plan), 0);
	npm_manifest_free(&m);
}

static void rules_at_now(struct npm_rules *r)
{
	npm_rules_init(r, NPM_POLICY_MAJOR);
	r->now_ms = NOW_MS;
}

static void test_registry_engines(void **state)
{
	struct npm_packument k[3];

	parse_pk(&k[0], "eng", eng_full);
	parse_pk(&k[1], "eng2", eng_abbrev);
	parse_pk(&k[2], "bad", hostile());
	assert_null(npm_packument_version(&k[0], "1.0.0")->engines_node);
	assert_string_equal(npm_packument_version(&k[0], "1.2.0")
				    ->engines_node, ">=22");
	assert_string_equal(npm_packument_version(&k[1], "1.2.0")
				    ->engines_node, ">=22");
	assert_null(npm_packument_version(&k[1], "1.3.0")->engines_node);
	/* No object, or "": no engines; a number, over long: bad. */
	assert_false(npm_packument_version(&k[2], "1.1.0")->engines_bad);
	assert_null(npm_packument_version(&k[2], "1.1.0")->engines_node);
	assert_false(npm_packument_version(&k[2], "1.2.0")->engines_bad);
	assert_null(npm_packument_version(&k[2], "1.2.0")->engines_node);
	assert_false(npm_packument_version(&k[2], "1.3.0")->engines_bad);
	assert_true(npm_packument_version(&k[2], "1.4.0")->engines_bad);
	assert_true(npm_packument_version(&k[2], "1.5.0")->engines_bad);
	npm_packuments_free(k, 3);
}

/* Row 27: project ">=18 <21", candidate ">=22". */
static void test_engines_project(void **state)
{
	static const char with[] = "{\"engines\":{\"node\":\">=18 <21\"},"
				   "\"dependencies\":{\"eng\":\"^1.0.0\","
				   "\"eng2\":\"^1.0.0\"}}";
	static const char without[] = "{\"dependencies\":{\"eng\":\"^1.0.0\","
				      "\"eng2\":\"^1.0.0\"}}";
	struct npm_packument k[2];
	struct npm_rules r;
	struct npm_plan p;

	parse_pk(&k[0], "eng", eng_full);
	parse_pk(&k[1], "eng2", eng_abbrev);
	rules_at_now(&r);

	plan_of(with, k, 2, &r, &p);
	assert_string_equal(upd(&p, "eng")->to, "^1.1.0");
	expect_skip(&p, "eng", "1.2.0 dropped: its engines.node \">=22\" "
		    "cannot meet the project's engines.node \">=18 <21\"",
		    "engines");
	/* A version without engines is kept, above one that is dropped. */
	assert_string_equal(upd(&p, "eng2")->to, "^1.3.0");
	assert_int_equal(p.nskips, 1);
	npm_plan_free(&p);

	/* Without engines in the project and no Node known: no filter. */
	plan_of(without, k, 2, &r, &p);
	assert_string_equal(upd(&p, "eng")->to, "^1.2.0");
	assert_int_equal(p.nskips, 0);
	npm_plan_free(&p);

	/* The manifest's engines.node: the last "node" counts. */
	plan_of("{\"engines\":{\"node\":\">=22\",\"node\":\"<16\"},"
		"\"dependencies\":{\"eng\":\"^1.0.0\"}}", k, 1, &r, &p);
	assert_null(upd(&p, "eng"));
	expect_skip(&p, "eng", "1.2.0 dropped", "engines");
	npm_plan_free(&p);

	/* A project range that is no range: no filter, no crash. */
	plan_of("{\"engines\":{\"node\":\">=banana\"},"
		"\"dependencies\":{\"eng\":\"^1.0.0\"}}", k, 1, &r, &p);
	assert_string_equal(upd(&p, "eng")->to, "^1.2.0");
	npm_plan_free(&p);
	npm_packuments_free(k, 2);
}

static int probes;

static void probe(void *ctx, char *out, size_t outsz)
{
	probes++;
	snprintf(out, outsz, "%s", (const char *)ctx);
}

/* The Node is asked for once, and only when a candidate names engines:
 * a plan with nothing newer starts no sandbox for it. */
static void test_engines_probe(void **state)
{
	struct npm_packument k[1];
	struct npm_rules r;
	struct npm_plan p;

	parse_pk(&k[0], "eng", eng_full);
	rules_at_now(&r);
	r.node_probe = probe;
	r.node_ctx = "20.20.2";
	probes = 0;
	plan_of("{\"dependencies\":{\"eng\":\"^1.2.0\"}}", k, 1, &r, &p);
	assert_int_equal(p.nupdates, 0);
	assert_int_equal(probes, 0);
	assert_string_equal(p.node, "");
	npm_plan_free(&p);

	plan_of("{\"dependencies\":{\"eng\":\"^1.0.0\"},"
		"\"devDependencies\":{\"eng2\":\"npm:eng@^1.0.0\"}}", k, 1,
		&r, &p);
	assert_int_equal(probes, 1);
	assert_string_equal(p.node, "20.20.2");
	assert_string_equal(upd(&p, "eng")->to, "^1.1.0");
	assert_string_equal(upd(&p, "eng2")->to, "npm:eng@^1.1.0");
	npm_plan_free(&p);

	/* A probe that cannot tell: nothing is held against it. */
	r.node_ctx = "";
	plan_of("{\"dependencies\":{\"eng\":\"^1.0.0\"}}", k, 1, &r, &p);
	assert_string_equal(upd(&p, "eng")->to, "^1.2.0");
	assert_string_equal(p.node, "");
	npm_plan_free(&p);
	npm_packuments_free(k, 1);
}

/* The Node that runs the tests: a candidate it cannot run is dropped,
 * with or without engines in the project. */
static void test_engines_runtime(void **state)
{
	static const char without[] = "{\"dependencies\":{\"eng\":\"^1.0.0\"}}";
	struct npm_packument k[1];
	struct npm_rules r;
	struct npm_plan p;

	parse_pk(&k[0], "eng", eng_full);
	rules_at_now(&r);
	snprintf(r.node, sizeof(r.node), "20.20.2");
	plan_of(without, k, 1, &r, &p);
	assert_string_equal(upd(&p, "eng")->to, "^1.1.0");
	expect_skip(&p, "eng", "1.2.0 dropped: its engines.node \">=22\" "
		    "excludes Node 20.20.2, which runs the tests", "engines");
	npm_plan_free(&p);

	snprintf(r.node, sizeof(r.node), "22.1.0");
	plan_of(without, k, 1, &r, &p);
	assert_string_equal(upd(&p, "eng")->to, "^1.2.0");
	assert_int_equal(p.nskips, 0);
	npm_plan_free(&p);

	/* Node 14 runs neither 1.1.0 (>=16) nor 1.2.0: nothing to take,
	 * and the skip names the newest one dropped. */
	snprintf(r.node, sizeof(r.node), "14.0.0");
	plan_of(without, k, 1, &r, &p);
	assert_int_equal(p.nupdates, 0);
	expect_skip(&p, "eng", "1.2.0 dropped", "engines");
	npm_plan_free(&p);
	npm_packuments_free(k, 1);
}

/* Invalid ranges from a hostile registry drop the version (npm counts
 * them as unmet); engines that name no node keep it. */
static void test_engines_hostile(void **state)
{
	static const char m[] = "{\"engines\":{\"node\":\">=18\"},"
				"\"dependencies\":{\"bad\":\"^1.0.0\"}}";
	struct npm_packument k[1];
	struct npm_rules r;
	struct npm_plan p;

	parse_pk(&k[0], "bad", hostile());
	rules_at_now(&r);
	plan_of(m, k, 1, &r, &p);
	/* 1.3.0, 1.4.0 and 1.5.0 dropped; 1.2.0 ("") is kept. */
	assert_string_equal(upd(&p, "bad")->to, "^1.2.0");
	expect_skip(&p, "bad", "1.5.0 dropped: its engines.node is no valid "
		    "range", "engines");
	npm_plan_free(&p);

	/* Without any check on, nothing is dropped. */
	plan_of("{\"dependencies\":{\"bad\":\"^1.0.0\"}}", k, 1, &r, &p);
	assert_string_equal(upd(&p, "bad")->to, "^1.5.0");
	npm_plan_free(&p);
	npm_packuments_free(k, 1);
}

/* 1.1.0 30 days old, 1.2.0 2 days old, 1.3.0 today; latest 1.3.0. */
static void young_pk(struct npm_packument *k)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"name\":\"young\",\"dist-tags\":{\"latest\":\"1.3.0\"},"
		 "\"versions\":{\"1.0.0\":{},\"1.1.0\":{},\"1.2.0\":{},"
		 "\"1.3.0\":{}},\"time\":{"
		 "\"1.0.0\":\"2024-01-01T00:00:00.000Z\","
		 "\"1.1.0\":\"2025-01-30T00:00:00.000Z\","
		 "\"1.2.0\":\"2025-02-27T00:00:00.000Z\","
		 "\"1.3.0\":\"2025-03-01T00:00:00.000Z\"}}");
	parse_pk(k, "young", body);
}

static void npmrc(struct npm_rules *r, const char *text)
{
	npm_npmrc_parse(text, strlen(text), &r->npmrc);
}

/* Row 30: the cooldown falls back to the newest version old enough. */
static void test_npmrc_cooldown(void **state)
{
	static const char m[] = "{\"dependencies\":{\"young\":\"^1.0.0\"}}";
	struct npm_packument k[1];
	struct npm_rules r;
	struct npm_plan p;
	char why[128];

	young_pk(k);
	rules_at_now(&r);
	plan_of(m, k, 1, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.3.0");
	npm_plan_free(&p);

	npmrc(&r, "min-release-age=7\n");
	plan_of(m, k, 1, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.1.0");
	expect_skip(&p, "young", "1.3.0 held back: released 0 days ago, "
		    ".npmrc min-release-age = 7", ".npmrc");
	npm_plan_free(&p);

	/* The larger of the two decides, and is named. */
	assert_int_equal(npm_rules_set(&r, "min_release_age", "3", why,
				       sizeof(why)), 0);
	plan_of(m, k, 1, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.1.0");
	expect_skip(&p, "young", ".npmrc min-release-age = 7", ".npmrc");
	npm_plan_free(&p);
	assert_int_equal(npm_rules_set(&r, "min_release_age", "40", why,
				       sizeof(why)), 0);
	plan_of(m, k, 1, &r, &p);
	assert_null(upd(&p, "young"));
	expect_skip(&p, "young", "1.3.0 held back: released 0 days ago, "
		    "min_release_age = 40", "min_release_age");
	npm_plan_free(&p);

	/* 0 is off: only airlock.conf's (1 day) holds 1.3.0. */
	assert_int_equal(npm_rules_set(&r, "min_release_age", "1", why,
				       sizeof(why)), 0);
	npmrc(&r, "min-release-age=0\n");
	plan_of(m, k, 1, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.2.0");
	expect_skip(&p, "young", "min_release_age = 1", "min_release_age");
	npm_plan_free(&p);

	/* A fraction of a day counts: 1.2.0 is 2 days old. */
	rules_at_now(&r);
	npmrc(&r, "min-release-age = 2.5\n");
	plan_of(m, k, 1, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.1.0");
	npm_plan_free(&p);
	npm_packuments_free(k, 1);
}

/* before: a fixed date, and it wins over min-release-age in one file. */
static void test_npmrc_before(void **state)
{
	static const char m[] = "{\"dependencies\":{\"young\":\"^1.0.0\"}}";
	struct npm_packument k[1];
	struct npm_rules r;
	struct npm_plan p;

	young_pk(k);
	rules_at_now(&r);
	npmrc(&r, "before=2025-02-20\nmin-release-age=1\n");
	plan_of(m, k, 1, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.1.0");
	expect_skip(&p, "young", "1.3.0 held back: released after .npmrc "
		    "before = 2025-02-20", ".npmrc");
	npm_plan_free(&p);

	npmrc(&r, "min-release-age=1\nbefore=2025-02-27T00:00:00Z\n");
	plan_of(m, k, 1, &r, &p);
	/* On or before: 1.2.0 was published at that very millisecond. */
	assert_string_equal(upd(&p, "young")->to, "^1.2.0");
	npm_plan_free(&p);
	npm_packuments_free(k, 1);
}

static void test_npmrc_parse(void **state)
{
	static const struct {
		const char *text;
		int64_t age_ms, before_ms;
		bool note;
	} cases[] = {
		{ "min-release-age=7", 7 * DAY_MS, 0, false },
		{ "min-release-age = 7 ; a comment\r\n", 7 * DAY_MS, 0,
		  false },
		{ "  min-release-age=\"7\"", 7 * DAY_MS, 0, false },
		{ "min-release-age=3\nmin-release-age=9", 9 * DAY_MS, 0,
		  false },
		{ "min-release-age=0.5", DAY_MS / 2, 0, false },
		{ "min-release-age=7\nmin-release-age=null", 0, 0, false },
		{ "min-release-age=", 0, 0, false },
		{ "; min-release-age=7\n# min-release-age=7", 0, 0, false },
		{ "[section]\nmin-release-age=7", 0, 0, false },
		{ "Min-Release-Age=7\nmin_release_age=7\nminrelease=7", 0, 0,
		  false },
		{ "min-release-age=abc", 0, 0, true },
		{ "min-release-age=-1", 0, 0, true },
		{ "min-release-age=1e1", 0, 0, true },
		{ "min-release-age=${DAYS}", 0, 0, true },
		{ "min-release-age=99999999999999999999", 0, 0, true },
		{ "before=2024-01-02", 0, 1704153600000LL, false },
		{ "before=2024-01-02T01:00+01:00", 0, 1704153600000LL, false },
		{ "before=2024-01-02T00:00:00.5Z", 0, 1704153600500LL,
		  false },
		{ "before=Jan 2 2024", 0, 0, true },
		{ "before=2024-01-02T00:00", 0, 0, true },
		{ "before=2024-02-30", 0, 0, true },
		{ "before=1969-12-31", 0, 0, true },
		{ "registry=http://x/\n//x/:_authToken=abc\n"
		  "min-release-age=2", 2 * DAY_MS, 0, false },
	};
	struct npm_npmrc rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		npm_npmrc_parse(cases[i].text, strlen(cases[i].text), &rc);
		if (rc.age_ms != cases[i].age_ms ||
		    rc.before_ms != cases[i].before_ms ||
		    (rc.note[0] != '\0') != cases[i].note)
			fail_msg("case %zu '%s': age %lld before %lld note "
				 "'%s'", i, cases[i].text, (long long)rc.age_ms,
				 (long long)rc.before_ms, rc.note);
	}
	/* Binary garbage and NULs: read to the end, nothing taken. */
	static const char bin[] = "\x01\x02min-release-age=7\0\xff\xfe=\n=\n"
				  "min-release-age=\x1b[31m\n";
	npm_npmrc_parse(bin, sizeof(bin) - 1, &rc);
	assert_int_equal(rc.age_ms, 0);
	assert_non_null(strstr(rc.note, "min-release-age = '?[31m'"));
	assert_int_equal(npm_npmrc_cutoff(&rc, NOW_MS), 0);
}

static char tmpdir[64];

static int dir_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/al-npmrc-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int dir_teardown(void **state)
{
	al_rm_tree(tmpdir);
	return 0;
}

static void put(const char *name, const char *data, size_t len)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(al_write_all(fd, data, len), 0);
	close(fd);
}

/* The file itself: huge, a symlink, a FIFO, missing; and through
 * npm_project_load, with its note. */
static void test_npmrc_load(void **state)
{
	struct npm_npmrc rc;
	struct npm_project pj;
	char path[128], err[256];
	size_t big = NPM_NPMRC_MAX_SIZE + 1;
	char *huge = malloc(big);
	int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(dfd >= 0);
	assert_int_equal(npm_npmrc_load(dfd, &rc), 0);
	assert_int_equal(rc.age_ms, 0);
	assert_string_equal(rc.note, "");

	/* Just under the cap, the key on its last line: read. */
	assert_non_null(huge);
	memset(huge, '#', big);
	memcpy(huge + NPM_NPMRC_MAX_SIZE - 20, "\nmin-release-age=4\n", 19);
	put(".npmrc", huge, NPM_NPMRC_MAX_SIZE - 1);
	assert_int_equal(npm_npmrc_load(dfd, &rc), 0);
	assert_int_equal(rc.age_ms, 4 * DAY_MS);
	put(".npmrc", huge, big);
	assert_int_equal(npm_npmrc_load(dfd, &rc), 0);
	assert_int_equal(rc.age_ms, 0);
	assert_non_null(strstr(rc.note, "larger than"));
	free(huge);

	snprintf(path, sizeof(path), "%s/.npmrc", tmpdir);
	unlink(path);
	put("elsewhere", "min-release-age=7\n", 18);
	assert_int_equal(symlink("elsewhere", path), 0);
	assert_int_equal(npm_npmrc_load(dfd, &rc), 0);
	assert_int_equal(rc.age_ms, 0);
	assert_non_null(strstr(rc.note, "symlink is refused"));

	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(npm_npmrc_load(dfd, &rc), 0);
	assert_int_equal(rc.age_ms, 0);
	assert_non_null(strstr(rc.note, "not read"));

	unlink(path);
	put(".npmrc", "min-release-age=7\nbefore=tomorrow\n", 34);
	put("package.json", "{\"dependencies\":{}}", 19);
	assert_int_equal(npm_project_load(dfd, &pj, err, sizeof(err)), 0);
	assert_int_equal(pj.npmrc.age_ms, 7 * DAY_MS);
	assert_string_equal(pj.npmrc.age, "7");
	assert_int_equal(pj.nnotes, 1);
	assert_non_null(strstr(pj.notes[0], ".npmrc before = 'tomorrow'"));
	npm_project_free(&pj);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_engines),
		cmocka_unit_test(test_engines_project),
		cmocka_unit_test(test_engines_runtime),
		cmocka_unit_test(test_engines_probe),
		cmocka_unit_test(test_engines_hostile),
		cmocka_unit_test(test_npmrc_cooldown),
		cmocka_unit_test(test_npmrc_before),
		cmocka_unit_test(test_npmrc_parse),
		cmocka_unit_test_setup_teardown(test_npmrc_load, dir_setup,
						dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
