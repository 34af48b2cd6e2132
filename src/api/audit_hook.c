/*
 * audit_hook.c - the control API's per-call audit entries, written to
 * the audit log (src/audit) in one group commit per loop round.
 */
#include <errno.h>
#include <stdlib.h>

#include "api/api.h"
#include "audit/audit.h"

static json_t *api_audit_details(const struct api_audit_rec *r)
{
	json_t *d = json_pack("{s:s, s:I, s:I, s:I}", "result", r->result,
			      "uid", (json_int_t)r->caller->uid, "gid",
			      (json_int_t)r->caller->gid, "pid",
			      (json_int_t)r->caller->pid);

	if (!d)
		return NULL;
	if (r->id && json_object_set_new(d, "id", json_deep_copy(r->id)))
		goto fail;
	if (r->caller->fingerprint[0] &&
	    json_object_set_new(d, "ssh_key_fingerprint",
				json_string(r->caller->fingerprint)))
		goto fail;
	return d;
fail:
	json_decref(d);
	return NULL;
}

int api_audit_to_log(void *ctx, const struct api_audit_rec *recs, size_t n)
{
	struct audit_rec *ar = calloc(n ? n : 1, sizeof(*ar));
	int rc = 0;

	if (!ar)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ar[i] = (struct audit_rec){ recs[i].actor, "api.call",
					    recs[i].method,
					    api_audit_details(&recs[i]) };
		if (!ar[i].details)
			rc = -ENOMEM;
	}
	/* audit_append_batch takes every details object, also on error. */
	if (rc)
		for (size_t i = 0; i < n; i++)
			json_decref(ar[i].details);
	else
		rc = audit_append_batch(ctx, ar, n, NULL);
	free(ar);
	return rc;
}
