// SPDX-License-Identifier: MIT
/*
 * floor-uring: the tutorial exchange (accept, one read of up to 1024 bytes,
 * send the reply, close) served as cheaply as io_uring allows, as a floor to
 * measure tcpack against. Single-threaded, no limits, no timeouts, no logs.
 *
 * Per connection the application sees two completions: its accept (one
 * multishot accept serves them all) and its recv. The recv picks a buffer from
 * a provided buffer ring (its bytes are never looked at); the send is
 * hard-linked to the close and both skip their completion when they succeed.
 * The reply and the FIN leave in one segment (MSG_MORE, then close).
 *
 * Usage: floor-uring [ADDR:PORT]   (IPv4, default 127.0.0.1:0)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define REPLY		"服务器已收到数据"	/* 24 bytes of UTF-8 */
#define NBUFS		256			/* provided buffers, a power of two */
#define BUF_LEN		1024
#define BGID		0

enum op { OP_ACCEPT, OP_RECV, OP_SEND, OP_CLOSE, OP_SIGNAL };

/* user_data: the op in the high half, the fd in the low half. */
static inline __u64 ud(enum op op, int fd) { return (__u64)op << 32 | (__u32)fd; }

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char bufs[NBUFS][BUF_LEN];

/*
 * Make room for n SQEs, flushing the SQ when it is too full. A link must not
 * straddle two submits: the kernel ends a chain with its submit batch, and a
 * close that ran before its send would let the send hit a reused fd.
 */
static void reserve_sqes(unsigned int n)
{
	if (io_uring_sq_space_left(&ring) < n)
		io_uring_submit(&ring);
}

static struct io_uring_sqe *get_sqe(void)
{
	reserve_sqes(1);
	return io_uring_get_sqe(&ring);
}

static void prep_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_recv(sqe, fd, NULL, BUF_LEN, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = ud(OP_RECV, fd);
}

/* Close, silently unless it fails (and a failure is only counted as a CQE). */
static void prep_close(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_close(sqe, fd);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe->user_data = ud(OP_CLOSE, fd);
}

/*
 * The reply, then the close; HARDLINK runs the close even if the send fails.
 * MSG_MORE holds the reply in the socket until the close, whose FIN then
 * leaves in the same segment: 7 segments per exchange instead of 9.
 */
static void prep_reply(int fd)
{
	struct io_uring_sqe *sqe;

	reserve_sqes(2);
	sqe = get_sqe();

	io_uring_prep_send(sqe, fd, REPLY, sizeof(REPLY) - 1, MSG_NOSIGNAL | MSG_MORE);
	sqe->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
	sqe->user_data = ud(OP_SEND, fd);
	prep_close(fd);
}

static void prep_accept(int lfd)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	sqe->user_data = ud(OP_ACCEPT, lfd);
}

static int listen_on(const char *spec)
{
	char host[64] = "127.0.0.1";
	const char *colon = spec ? strrchr(spec, ':') : NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	if (spec && (!colon || (size_t)(colon - spec) >= sizeof(host)))
		return -EINVAL;
	if (spec)
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	sa.sin_port = htons((unsigned short)(spec ? atoi(colon + 1) : 0));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Accepted sockets inherit TCP_NODELAY from the listening socket. */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	fprintf(stderr, "listening on %s:%u\n", host, ntohs(sa.sin_port));
	return fd;
}

/* liburing 2.3 has no io_uring_setup_buf_ring: map, init, register, fill. */
static int setup_buf_ring(void)
{
	struct io_uring_buf_reg reg = { .ring_entries = NBUFS, .bgid = BGID };

	br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		return -errno;
	io_uring_buf_ring_init(br);
	reg.ring_addr = (unsigned long)br;
	for (int i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(br, bufs[i], BUF_LEN, i, io_uring_buf_ring_mask(NBUFS), i);
	io_uring_buf_ring_advance(br, NBUFS);
	return io_uring_register_buf_ring(&ring, &reg, 0);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_CQSIZE,
		.cq_entries = 4096,
	};
	struct signalfd_siginfo si;
	struct io_uring_sqe *sqe;
	sigset_t sigs;
	int lfd, sfd, r;

	lfd = listen_on(argc > 1 ? argv[1] : NULL);
	if (lfd < 0) {
		fprintf(stderr, "floor-uring: listen: %s\n", strerror(-lfd));
		return 1;
	}
	/* SIGINT and SIGTERM arrive as a read on a signalfd: no race with the wait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	r = io_uring_queue_init_params(256, &ring, &p);
	if (r == -EINVAL) {		/* a kernel before 6.1 */
		p.flags = IORING_SETUP_CQSIZE;
		r = io_uring_queue_init_params(256, &ring, &p);
	}
	if (r == 0)
		r = setup_buf_ring();
	if (r < 0 || sfd < 0) {
		fprintf(stderr, "floor-uring: setup: %s\n", strerror(r < 0 ? -r : errno));
		return 1;
	}
	io_uring_register_ring_fd(&ring);	/* saves an fd lookup per enter; optional */

	prep_accept(lfd);
	sqe = get_sqe();
	io_uring_prep_read(sqe, sfd, &si, sizeof(si), 0);
	sqe->user_data = ud(OP_SIGNAL, sfd);

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "floor-uring: io_uring_enter: %s\n", strerror(-r));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			int fd = (int)(__u32)cqe->user_data, res = cqe->res;

			seen++;
			switch ((enum op)(cqe->user_data >> 32)) {
			case OP_ACCEPT:	/* res: a new fd; without F_MORE the accept is over */
				if (res >= 0)
					prep_recv(res);
				if (!(cqe->flags & IORING_CQE_F_MORE))
					prep_accept(fd);
				break;
			case OP_RECV:	/* the kernel picked a buffer only with F_BUFFER */
				if (cqe->flags & IORING_CQE_F_BUFFER) {
					int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

					io_uring_buf_ring_add(br, bufs[bid], BUF_LEN, bid,
							      io_uring_buf_ring_mask(NBUFS), 0);
					io_uring_buf_ring_advance(br, 1);
				}
				if (res == -ENOBUFS)	/* ring was empty: it is refilled now */
					prep_recv(fd);
				else if (res > 0)
					prep_reply(fd);
				else
					prep_close(fd);
				break;
			case OP_SEND:	/* only failures post a CQE; the close still runs */
			case OP_CLOSE:
				break;
			case OP_SIGNAL:
				return 0;
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}
