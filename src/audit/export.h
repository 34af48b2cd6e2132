/*
 * export.h - audit exports and their offline verification.
 *
 * An export directory (HOME/export by default) holds numbered pairs:
 *
 *   00000001.jsonl        entries, one per line, exactly the bytes the
 *                         store holds (canonical JSON with "hash")
 *   00000001.digest.json  a signed digest (schema/export-manifest.schema
 *                         .json) naming the file's SHA-256 and size, its
 *                         first and last entries, the previous digest's
 *                         hash and a checkpoint over the last entry
 *
 * Export k starts where export k-1 stopped. Its first entry is the
 * "audit.export" entry announcing it, appended in the same transaction
 * as its checkpoint, so the export itself is in the log. The range is
 * verified before it is signed: a broken chain is never exported.
 */
#ifndef AL_AUDIT_EXPORT_H
#define AL_AUDIT_EXPORT_H

#include <stdint.h>

#include <jansson.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"

#define AUDIT_DIGEST_TYPE "airlock.audit.export"
#define AUDIT_EXPORT_DIR "export"
/* Largest digest file read; digests are well under 2 KiB. */
#define AUDIT_DIGEST_MAX (64 * 1024)

struct audit_export_info {
	uint64_t n;
	uint64_t first;
	uint64_t last;
	char file[64];
	char digest[64];
};

/*
 * Write the next export into dir (NULL: HOME/export, created 0700). The
 * actor is recorded in the audit.export entry. Refuses (AL_E_ROLLBACK)
 * when the store does not contain the last exported entry with its
 * exported hash, and (AL_E_CHAIN) when an entry to be exported fails
 * verification. Serialised with other exporters by a lock in dir.
 */
int audit_export(struct audit_log *log, const char *dir, const char *actor,
		 struct audit_export_info *info);

/*
 * The last digest in dir, signature checked with k: 0 with *digest (new
 * reference), AL_E_NOTFOUND when dir holds no digest, AL_E_AUTH/PARSE
 * when the newest one does not verify.
 */
int audit_export_last(const char *dir, const struct audit_pubkey *k,
		      json_t **digest);

/*
 * The highest export number with a digest in dir into *n (0 when there
 * is none, or dir does not exist). Reads names only: nothing is
 * verified. 0 or a negative errno.
 */
int audit_export_newest(const char *dir, uint64_t *n);

/*
 * When digest n in dir says it was made, in ms since the epoch, read
 * without checking its signature: for scheduling only, never for
 * trust. 0, AL_E_NOTFOUND or AL_E_PARSE.
 */
int audit_export_time(const char *dir, uint64_t n, int64_t *ms);

/*
 * Verify every export in dir offline with nothing but the public key k:
 * digests numbered 1, 2, ... without gaps, each signed by k and linked
 * to the one before, each file matching its digest's hash and size,
 * every line a well-formed entry whose seq follows, whose prev is the
 * previous entry's hash and whose hash recomputes, the first and last
 * lines matching the digest, and the digest's checkpoint pinning the
 * last entry. held is the auditor's last known checkpoint or digest
 * (NULL for none): the exports must reach it and agree with it.
 * Problems are reported by file, line and seq; the walk goes on past
 * them. Returns 0, AL_E_CHAIN with problems, or an error reading dir.
 */
int audit_verify_exports(const char *dir, const struct audit_pubkey *k,
			 const json_t *held, struct audit_report *r);

/*
 * The same for a run of exports named by their files (NNNNNNNN.jsonl or
 * NNNNNNNN.digest.json, either or both, in one directory): every export
 * from the lowest number named to the highest is verified, so one named
 * in between that is missing is reported. A run that starts after
 * export 1 is checked from its first entry on; its link to the export
 * before it cannot be checked (the auditor's checkpoint still binds
 * it). AL_E_USAGE (logged) when a name is not an export file's or the
 * files are in different directories.
 */
int audit_verify_export_files(const char *const *paths, size_t npaths,
			      const struct audit_pubkey *k,
			      const json_t *held, struct audit_report *r);

#endif
