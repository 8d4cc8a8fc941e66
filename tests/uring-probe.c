// SPDX-License-Identifier: MIT
/*
 * Does io_uring work here, with what tcpack needs (a provided buffer ring)?
 * Exit 0 and say so, or exit 1 and say why. scripts/test uses it to tell a
 * legitimate skip (io_uring refused) from a skip that hides a failure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include <liburing.h>

int main(void)
{
	struct io_uring_buf_reg reg = { 0 };
	struct utsname u;
	struct io_uring ring;
	void *br;
	int r;

	uname(&u);
	r = io_uring_queue_init(8, &ring, 0);
	if (r < 0) {
		printf("io_uring_setup failed on Linux %s: %s\n", u.release, strerror(-r));
		return 1;
	}
	br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED) {
		printf("mmap failed: %s\n", strerror(errno));
		return 1;
	}
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = 16;
	r = io_uring_register_buf_ring(&ring, &reg, 0);
	io_uring_queue_exit(&ring);
	if (r < 0) {
		printf("provided buffer rings refused on Linux %s: %s\n", u.release, strerror(-r));
		return 1;
	}
	printf("io_uring with provided buffer rings on Linux %s\n", u.release);
	return 0;
}
