/*
 * airlock.conf keys of the scheduler (workers, schedule_tz, schedule)
 * and of the update policy, globally and in [repo URL] sections.
 * Good lines load; every bad one is an error that names the line and
 * says what was wrong (the cron column, the zone, the duplicate).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "job/config.h"

static char home[64];

static int load(const char *text, struct job_config *c, char *err,
		size_t errsz)
{
	char path[128];
	FILE *f;

	snprintf(home, sizeof(home), "/tmp/al-conf-XXXXXX");
	assert_non_null(mkdtemp(home));
	snprintf(path, sizeof(path), "%s/airlock.conf", home);
	f = fopen(path, "w");
	assert_non_null(f);
	/* A registry of our own, so that npm is not asked. */
	fprintf(f, "registry = http://127.0.0.1:9/\n%s", text);
	fclose(f);
	err[0] = '\0';
	int rc = job_config_load(home, c, err, errsz);
	al_rm_tree(home);
	return rc;
}

static void test_good(void **state)
{
	struct job_config c;
	char err[512];
	struct sched_schedule *s = NULL;

	assert_int_equal(load("", &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.nschedules, 0);
	assert_string_equal(c.schedule_tz, "UTC");
	job_config_free(&c);

	assert_int_equal(
		load("workers = 3\n"
		     "schedule = https://git.test/acme/a.git weekly mon 06:00\n"
		     "schedule = /srv/git/b.git TZ=America/New_York "
		     "0 2 * * 1-5\n"
		     "schedule_tz = Europe/Berlin\n",
		     &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.nschedules, 2);
	assert_string_equal(c.schedules[0].repo, "https://git.test/acme/a.git");
	assert_string_equal(c.schedules[0].spec, "weekly mon 06:00");
	assert_string_equal(c.schedules[0].tz, "Europe/Berlin");
	assert_string_equal(c.schedules[1].repo, "/srv/git/b.git");
	assert_string_equal(c.schedules[1].spec, "0 2 * * 1-5");
	assert_string_equal(c.schedules[1].tz, "America/New_York");
	assert_int_equal(job_config_schedules(&c, &s), 0);
	assert_string_equal(s[1].tz, "America/New_York");
	free(s);
	job_config_free(&c);

	assert_int_equal(load("workers = auto\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 0);
	job_config_free(&c);

	/* A token for an https registry, with the CA its chain ends in. */
	assert_int_equal(load("registry = https://127.0.0.1:9/\n"
			      "registry_token_file = /srv/token\n"
			      "registry_ca_file = /srv/ca.pem\n",
			      &c, err, sizeof(err)), 0);
	assert_string_equal(c.registry_token_file, "/srv/token");
	assert_string_equal(c.registry_ca_file, "/srv/ca.pem");
	job_config_free(&c);
}

/* Retention: defaults, values, and what config show says. */
static void test_retention(void **state)
{
	struct job_config c;
	char err[512];
	json_t *j;

	(void)state;
	assert_int_equal(load("", &c, err, sizeof(err)), 0);
	assert_int_equal(c.job_retention_days, 90);
	assert_int_equal(c.job_retention_max, 0);
	job_config_free(&c);
	assert_int_equal(load("job_retention_days = 0\n"
			      "job_retention_max = 5000\n",
			      &c, err, sizeof(err)), 0);
	assert_int_equal(c.job_retention_days, 0);
	assert_int_equal(c.job_retention_max, 5000);
	j = job_config_json(&c);
	assert_int_equal(json_integer_value(json_object_get(
				 j, "job_retention_days")), 0);
	assert_int_equal(json_integer_value(json_object_get(
				 j, "job_retention_max")), 5000);
	json_decref(j);
	job_config_free(&c);
	assert_int_equal(load("job_retention_days = 36500\n", &c, err,
			      sizeof(err)), 0);
	assert_int_equal(c.job_retention_days, 36500);
	job_config_free(&c);
}

static void bad(const char *line, const char *want)
{
	struct job_config c;
	char err[512];

	assert_int_equal(load(line, &c, err, sizeof(err)), AL_E_PARSE);
	job_config_free(&c);
	if (!strstr(err, want))
		fail_msg("'%s': got '%s', want '%s'", line, err, want);
}

static void test_bad(void **state)
{
	bad("workers = 0\n", ":2: bad value for 'workers' (auto, or 1 to 256)");
	bad("job_retention_days = 36501\n",
	    ":2: bad value for 'job_retention_days' (days, 0 to 36500; 0 = "
	    "keep for ever)");
	bad("job_retention_days = -1\n", ":2: bad value for "
	    "'job_retention_days'");
	bad("job_retention_days = 90d\n", "'job_retention_days'");
	bad("job_retention_days =\n", "'job_retention_days'");
	bad("job_retention_max = 1000000001\n",
	    ":2: bad value for 'job_retention_max' (jobs, 0 to 1000000000; "
	    "0 = no cap)");
	bad("job_retention_max = lots\n", "'job_retention_max'");
	bad("[repo /srv/a.git]\njob_retention_days = 5\n",
	    ":3: 'job_retention_days' cannot be set in [repo /srv/a.git]");
	bad("workers = 257\n", "'workers'");
	bad("workers = many\n", "'workers'");
	bad("schedule = https://git.test/a.git 0 0 * * mnn\n",
	    ":2: bad value for 'schedule' (URL [TZ=Zone] then a cron "
	    "expression such as '0 2 * * *' or words such as 'weekly mon "
	    "06:00'): schedule '0 0 * * mnn': column 9: 'mnn' is not a day "
	    "of week");
	bad("schedule = https://git.test/a.git\n", "column 1: empty schedule");
	bad("schedule = https://git.test/a.git TZ=Mars/Olympus @daily\n",
	    ":2: bad value for 'schedule': time zone 'Mars/Olympus': not in "
	    "the system's tzdata");
	bad("schedule = https://git.test/a.git TZ=../../etc/passwd @daily\n",
	    "time zone '../../etc/passwd': bad usage");
	bad("schedule_tz = Europe/Berln\n",
	    ":2: bad value for 'schedule_tz' (a zone of the system's tzdata");
	bad("schedule = https://bot:tok@git.test/a.git @daily\n",
	    "credentials in the URL are refused");
	/* What the control API refuses (sched_request_check), and no
	 * more than it: a query string (a token would be logged), schemes
	 * the worker does not clone, relative paths. */
	bad("schedule = https://git.test/a.git?token=s3cret @daily\n",
	    ":2: bad value for 'schedule' (URL [TZ=Zone] then a cron "
	    "expression such as '0 2 * * *' or words such as 'weekly mon "
	    "06:00'): 'repo' must not carry a query string");
	bad("schedule = ext::sh @daily\n", "or an absolute path");
	bad("schedule = ssh://-oProxyCommand=x/a.git @daily\n",
	    "only http, https and file URLs");
	bad("schedule = git/a.git @daily\n", "or an absolute path");
	/* One repository, two spellings. */
	bad("schedule = https://git.test/a.git @daily\n"
	    "schedule = HTTPS://Git.Test:443/a/ @weekly\n",
	    ":3: bad value for 'schedule'");
	bad("schedule = https://git.test/a.git @daily\n"
	    "schedule = HTTPS://Git.Test:443/a/ @weekly\n",
	    "https://git.test/a.git already has a schedule on line 2");
	bad("registry_ca_file = ca.pem\n",
	    ":2: bad value for 'registry_ca_file' (an absolute path)");
	bad("registry_ca_file = /srv/ca.pem\n",
	    "registry_ca_file is for an https registry, and the registry is "
	    "http://127.0.0.1:9/");
	bad("schedule = /srv/a.git @daily\nschedule = /srv/a.git @weekly\n",
	    ":3: bad value for 'schedule'");
	bad("schedule = /srv/a.git @daily\nschedule = /srv/a.git @weekly\n",
	    "/srv/a.git already has a schedule on line 2");
}

/* Global policy keys, and a [repo] section overriding some of them for
 * one repository only. */
/* export_interval's units and bounds; export_push's parts. */
static void test_export(void **state)
{
	static const struct { const char *v; int64_t ms; } iv[] = {
		{ "1h", 3600000 }, { "30m", 1800000 }, { "2d", 172800000 },
		{ "300s", 300000 }, { "300", 300000 }, { "7d", 604800000 },
		{ "off", 0 }, { "0", 0 },
	};
	struct job_config c;
	char err[512], line[64];

	(void)state;
	assert_int_equal(load("", &c, err, sizeof(err)), 0);
	assert_int_equal(c.export.interval_ms, 3600000);
	assert_string_equal(c.export.push, "");
	job_config_free(&c);
	for (size_t i = 0; i < sizeof(iv) / sizeof(*iv); i++) {
		snprintf(line, sizeof(line), "export_interval = %s\n", iv[i].v);
		assert_int_equal(load(line, &c, err, sizeof(err)), 0);
		assert_int_equal(c.export.interval_ms, iv[i].ms);
		job_config_free(&c);
	}
	assert_int_equal(load("export_push = sftp://drop_1@[::1]:2222/srv/up\n"
			      "export_push_known_hosts = /etc/kh\n",
			      &c, err, sizeof(err)), 0);
	assert_string_equal(c.export.user, "drop_1");
	assert_string_equal(c.export.host, "[::1]");
	assert_int_equal(c.export.port, 2222);
	assert_string_equal(c.export.path, "/srv/up");
	/* The key defaults to one under the home. */
	assert_non_null(strstr(c.export.key, "/export-push/key"));
	job_config_free(&c);
	assert_int_equal(load("export_push = sftp://a@h.test/x\n"
			      "export_push_known_hosts = /etc/kh\n"
			      "export_push_key = /k\n", &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.export.port, 22);
	assert_string_equal(c.export.key, "/k");
	job_config_free(&c);
	bad("export_interval = 299s\n", ":2: bad value for 'export_interval'");
	bad("export_interval = 169h\n", ":2: bad value for 'export_interval'");
	bad("export_interval = 1w\n", ":2: bad value for 'export_interval'");
	bad("export_push = sftp://a@h/x\n", ":2: export_push needs");
	bad("export_push = sftp://a@h/x y\nexport_push_known_hosts = /kh\n",
	    ":2: bad value for 'export_push'");
	bad("export_pushy = 1\n", ":2: unknown key 'export_pushy'");
}

static void test_policy(void **state)
{
	struct job_config c;
	struct npm_rules r;
	char err[512];

	assert_int_equal(load("", &c, err, sizeof(err)), 0);
	assert_false(job_config_rules(&c, "/srv/a.git", NPM_POLICY_MINOR, &r));
	assert_int_equal(r.policy, NPM_POLICY_MINOR);
	assert_int_equal(r.strategy, NPM_STRATEGY_AUTO);
	assert_int_equal(r.group, NPM_GROUP_ALL);
	assert_false(r.prereleases);
	assert_int_equal(r.min_release_age, 0);
	assert_int_equal(r.max_updates, 0);
	assert_int_equal(r.max_groups, NPM_RULES_GROUPS_DEFAULT);
	assert_string_equal(r.allow, "");
	job_config_free(&c);

	assert_int_equal(
		load("range_strategy = pin\n"
		     "ignore = @types/* , eslint-*\n"
		     "min_release_age = 7\n"
		     "group = non-major\n"
		     "[repo https://git.test/acme/a.git]\n"
		     "range_strategy = widen\n"
		     "max_updates = 3\n"
		     "max_groups = 2\n"
		     "prereleases = on\n"
		     "[other]\n"
		     "allow = react\n"
		     "[repo /srv/b.git]\n"
		     "ignore = left-pad\n",
		     &c, err, sizeof(err)), 0);
	/* A section ends at the next one: allow is global. */
	assert_int_equal(c.nrepo_rules, 2);
	assert_false(job_config_rules(&c, "https://git.test/acme/c.git",
				      NPM_POLICY_MAJOR, &r));
	assert_int_equal(r.strategy, NPM_STRATEGY_PIN);
	assert_string_equal(r.ignore, "@types/*,eslint-*");
	assert_string_equal(r.allow, "react");
	assert_int_equal(r.min_release_age, 7);
	assert_int_equal(r.group, NPM_GROUP_NON_MAJOR);
	assert_int_equal(r.max_updates, 0);
	assert_false(r.prereleases);

	assert_true(job_config_rules(&c, "https://git.test/acme/a.git",
				     NPM_POLICY_PATCH, &r));
	assert_int_equal(r.policy, NPM_POLICY_PATCH);
	assert_int_equal(r.strategy, NPM_STRATEGY_WIDEN);
	assert_int_equal(r.max_updates, 3);
	assert_int_equal(r.max_groups, 2);
	assert_true(r.prereleases);
	/* Keys the section does not set stay global. */
	assert_string_equal(r.ignore, "@types/*,eslint-*");
	assert_int_equal(r.min_release_age, 7);

	assert_true(job_config_rules(&c, "/srv/b.git", NPM_POLICY_MAJOR, &r));
	assert_string_equal(r.ignore, "left-pad");
	/* Another spelling of a repository finds its section. */
	assert_true(job_config_rules(&c, "HTTPS://git.test:443/acme/a/",
				     NPM_POLICY_MAJOR, &r));
	assert_int_equal(r.max_updates, 3);
	assert_false(job_config_rules(&c, "/srv/b", NPM_POLICY_MAJOR, &r));
	assert_int_equal(r.strategy, NPM_STRATEGY_PIN);
	job_config_free(&c);
}

static void test_policy_bad(void **state)
{
	bad("range_strategy = bumped\n", ":2: bad value for 'range_strategy'"
	    ": one of auto, bump, replace, widen, pin");
	bad("ignore = @types/*,\n", ":2: bad value for 'ignore': a glob "
	    "after the last ','");
	bad("allow = a,,b\n", "'allow': '' is no package name glob");
	bad("allow = react dom\n", "'react dom' is no package name glob");
	bad("ignore =\n", "'ignore': one glob or more");
	bad("min_release_age = 3651\n", ":2: bad value for 'min_release_age'"
	    ": a whole number from 0 to 3650");
	bad("min_release_age = 7d\n", "'min_release_age'");
	bad("prereleases = yes\n", "'prereleases': one of off, on");
	bad("max_updates = -1\n", "'max_updates'");
	bad("group = majors\n", "one of all, non-major, none");
	bad("max_groups = 0\n", ":2: bad value for 'max_groups': a whole "
	    "number from 1 to 64");
	bad("[repo /srv/a.git]\nworkers = 2\n",
	    ":3: 'workers' cannot be set in [repo /srv/a.git]");
	bad("[repo /srv/a.git]\ngroup = some\n",
	    ":3: bad value for 'group'");
	bad("[repo ]\n", ":2: bad section: a repository URL");
	bad("[repo]\n", ":2: bad section: a repository URL");
	/* Mistyped headers would make their keys global: refused. */
	bad("[repository https://git.test/a.git]\nignore = *\n",
	    ":2: bad section: a section for one repository is [repo URL]");
	bad("[REPO /srv/a.git]\n", ":2: bad section: a section for one");
	bad("[https://git.test/a.git]\n", ":2: bad section: a section for");
	bad("[repo /srv/a.git]]\n", ":2: bad section: a section is [repo URL], "
	    "one pair");
	bad("[repo https://u:p@git.test/a.git]\n",
	    "credentials in the URL are refused");
	bad("[repo https://git.test/a.git#x]\n", "query string or fragment");
	bad("[repo /srv/a.git]\n[repo /srv//a.git/]\n",
	    ":3: bad section: /srv//a.git/ already has a section on line 2");
	bad("[repo /srv/a.git\n", ":2: bad section: a section is [repo URL]");
	bad("[repo /srv/a.git]\n[repo /srv/a.git]\n",
	    ":3: bad section: /srv/a.git already has a section on line 2");
	bad("[repo /srv/a b.git]\n", "a repository URL of one word");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_policy_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
