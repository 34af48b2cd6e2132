/*
 * image.c - the daemon's packed base image: hashed and mounted once, not
 * once per job.
 *
 * Hashing a base image of a few hundred MiB takes seconds; the daemon
 * does it when it starts, when a reload changes the image or its pin,
 * and when the file changed since it was verified (checked with two
 * stat calls before each job). Each worker is told the mount (its
 * command line, child.c) and its job records the file's digest. An image
 * replaced while jobs run on it stays mounted until the last of them
 * ends, so no running job loses its system halfway. Main thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "daemon/daemon.h"

static bool img_current(const struct daemon *d, const struct dmn_image *img)
{
	const char *pin = d->cfg.image_digest;

	return !strcmp(img->p.file, d->cfg.image) &&
	       (!pin[0] || !strcmp(pin, img->p.digest)) &&
	       !sbx_packed_changed(&img->p);
}

static void img_release(struct dmn_image *img)
{
	sbx_packed_close(&img->p, NULL);
	free(img);
}

/* Out of use for new jobs; unmounted once no running job uses it. */
static void img_retire(struct daemon *d, struct dmn_image *img)
{
	if (img->users == 0) {
		img_release(img);
		return;
	}
	img->next = d->img_retired;
	d->img_retired = img;
}

/* Was this very file refused already, with the same setting? */
static bool img_refused_again(struct daemon *d, const struct stat *st)
{
	const struct dmn_image_refusal *r = &d->img_refused;

	return r->set && !strcmp(r->file, d->cfg.image) &&
	       !strcmp(r->pin, d->cfg.image_digest) &&
	       r->st.st_dev == st->st_dev && r->st.st_ino == st->st_ino &&
	       r->st.st_size == st->st_size &&
	       r->st.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	       r->st.st_mtim.tv_nsec == st->st_mtim.tv_nsec &&
	       r->st.st_ctim.tv_sec == st->st_ctim.tv_sec &&
	       r->st.st_ctim.tv_nsec == st->st_ctim.tv_nsec;
}

static void img_note_refusal(struct daemon *d, const struct stat *st)
{
	struct dmn_image_refusal *r = &d->img_refused;

	r->set = true;
	snprintf(r->file, sizeof(r->file), "%s", d->cfg.image);
	snprintf(r->pin, sizeof(r->pin), "%s", d->cfg.image_digest);
	r->st = *st;
}

void dmn_image_refresh(struct daemon *d)
{
	bool packed = d->cfg.image[0] && sbx_image_packed(d->cfg.image);
	struct dmn_image *img;
	struct stat st;
	char why[1400];

	if (d->img && packed && img_current(d, d->img))
		return;
	if (d->img) {
		al_info("daemon", NULL, "image %s changed or is no longer "
			"configured: its mount is retired", d->img->p.file);
		img_retire(d, d->img);
		d->img = NULL;
	}
	if (!packed) {
		d->img_refused.set = false;
		return;
	}
	/* A missing file reads as all zeros: refused once, until it is
	 * there. */
	memset(&st, 0, sizeof(st));
	lstat(d->cfg.image, &st);
	if (img_refused_again(d, &st))
		return;
	img = calloc(1, sizeof(*img));
	if (!img)
		return;
	/* Refused: logged by the sandbox; every job fails with why. */
	if (sbx_packed_open(d->cfg.image, d->cfg.image_digest, &img->p, why,
			    sizeof(why), NULL) != 0) {
		free(img);
		img_note_refusal(d, &st);
		return;
	}
	d->img_refused.set = false;
	d->img = img;
}

void dmn_image_put(struct daemon *d, struct dmn_image *img)
{
	struct dmn_image **pp;

	if (!img || --img->users > 0)
		return;
	for (pp = &d->img_retired; *pp; pp = &(*pp)->next) {
		if (*pp == img) {
			*pp = img->next;
			img_release(img);
			return;
		}
	}
}

void dmn_image_free_all(struct daemon *d)
{
	while (d->img_retired) {
		struct dmn_image *next = d->img_retired->next;
		img_release(d->img_retired);
		d->img_retired = next;
	}
	if (d->img)
		img_release(d->img);
	d->img = NULL;
}
