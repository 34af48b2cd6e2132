/*
 * musl-relro.c - linked into the musl build of airlock only
 * (tools/musl-cli): make the program's RELRO segment read-only once it
 * is relocated, as glibc's loader does for the normal build.
 *
 * musl's static-pie start (rcrt1.o) applies the relocations and leaves
 * the segment writable. It holds what must not change after start-up:
 * the tables of function pointers (the sandbox's steps, the commands),
 * the GOT and .init_array. Left writable, a memory bug could redirect a
 * call through them; read-only, such a write faults.
 */
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* The first object is the program itself (a static program has no
 * other). Returns nonzero to stop after it. */
static int relro_apply(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start, end;

		if (ph->p_type != PT_GNU_RELRO)
			continue;
		/* Rounded down at both ends, as glibc does: the linker ends
		 * the segment on a page boundary, and a partial last page
		 * shares data that is written later. */
		start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
		end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) &
		      ~(page - 1);
		if (end > start &&
		    mprotect((void *)start, end - start, PROT_READ) != 0) {
			static const char msg[] =
				"airlock: cannot make RELRO read-only\n";

			ssize_t n = write(2, msg, sizeof(msg) - 1);

			(void)n;
			_exit(127);
		}
	}
	return 1;
}

/* Runs before main, after rcrt1.o has relocated the program. A program
 * that cannot protect the segment stops at once: it would otherwise run
 * with weaker protection than the normal build without saying so. */
__attribute__((constructor)) static void relro_protect(void)
{
	dl_iterate_phdr(relro_apply, NULL);
}
