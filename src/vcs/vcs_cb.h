/*
 * vcs_cb.h - state shared by libgit2's remote callbacks during one clone
 * or push (vcs module only).
 */
#ifndef AL_VCS_VCS_CB_H
#define AL_VCS_VCS_CB_H

#include <git2.h>
#include <stdint.h>

#include "base/util.h"
#include "vcs/vcs.h"

/* Bytes of "remote:" text kept to explain a failure. */
#define VCS_REMOTE_MSG_MAX 2048

struct vcs_cb {
	const struct vcs_cred *cred;
	char origin[VCS_URL_MAX];	/* the only origin given credentials */
	int attempts;			/* credentials offered so far */
	int auth_failed;		/* offered twice, rejected */
	int no_cred;			/* asked for, none to give */
	int wrong_origin;		/* asked for by another server */
	uint64_t limit;			/* bytes one fetch may receive */
	int over_limit;
	int64_t last_log_ms;
	struct al_buf remote_msg;	/* side-band text, bounded */
	char rejected[512];		/* first ref the remote refused */
};

uint64_t vcs__fetch_limit(void);
int vcs__cb_init(struct vcs_cb *cb, const char *url,
		 const struct vcs_cred *cred);
void vcs__cb_free(struct vcs_cb *cb);
void vcs__cb_wire(struct vcs_cb *cb, git_remote_callbacks *rc);
const char *vcs__cb_remote_text(struct vcs_cb *cb);

/*
 * Explain a failed libgit2 call: the callbacks' findings first (size
 * limit, authentication), libgit2's message otherwise. Returns the code
 * to hand back: AL_E_LIMIT, -EACCES, AL_E_UNAVAILABLE (the network or
 * the server failed in a way that may pass) or AL_E_GIT.
 */
int vcs__fail(struct vcs_cb *cb, int rc, const char *what, const char *url,
	      char *err, size_t errsz);

/*
 * Open repo_dir/.git, refusing a .git that is a gitfile or a link: the
 * sandbox could have pointed it at another repository.
 */
int vcs__open_repo(const char *repo_dir, git_repository **repo,
		   char *err, size_t errsz);

#endif
