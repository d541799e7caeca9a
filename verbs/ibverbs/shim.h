// C helpers for the libibverbs/librdmacm provider. Everything is static
// inline so that each cgo translation unit that includes this header gets
// its own copy (cgo preambles may not define exported symbols twice).
//
// Rules kept here: no Go pointer is ever stored in C memory (Go passes
// plain values and pointers to plain C structs for the duration of a call
// only), and every object created here has a matching destroy the Go side
// calls exactly once.
#ifndef BRICK_IBVERBS_SHIM_H
#define BRICK_IBVERBS_SHIM_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

// Device capability bits of ibv_device_attr_ex.device_cap_flags_ex that
// rdma-core 44 headers do not name (IB_UVERBS_DEVICE_* in rdma-core >= 45,
// kernel >= 6.2). The kernel reports them whatever the headers say.
#define BRICK_DEVICE_FLUSH_PERSISTENT (1ULL << 39)
#define BRICK_DEVICE_ATOMIC_WRITE (1ULL << 40)

// brick_device_count returns how many RDMA devices libibverbs sees.
static inline int brick_device_count(void) {
	int n = 0;
	struct ibv_device **l = ibv_get_device_list(&n);
	if (l == NULL) {
		return errno ? -errno : -ENODEV;
	}
	ibv_free_device_list(l);
	return n;
}

// brick_sockaddr fills ss from a 4- or 16-byte IP and a port.
static inline int brick_sockaddr(struct sockaddr_storage *ss, const uint8_t *ip, int iplen, uint16_t port) {
	memset(ss, 0, sizeof *ss);
	if (iplen == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, ip, 4);
		return 0;
	}
	if (iplen == 16) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, ip, 16);
		return 0;
	}
	return -EINVAL;
}

// brick_addr is a socket address flattened for Go.
struct brick_addr {
	uint8_t ip[16];
	int iplen;
	uint16_t port;
};

static inline void brick_addr_from(struct brick_addr *out, const struct sockaddr *sa) {
	memset(out, 0, sizeof *out);
	if (sa == NULL) {
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		memcpy(out->ip, &s->sin_addr, 4);
		out->iplen = 4;
		out->port = ntohs(s->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		memcpy(out->ip, &s->sin6_addr, 16);
		out->iplen = 16;
		out->port = ntohs(s->sin6_port);
	}
}

// brick_cm_event is an rdma_cm event copied out of librdmacm's memory, so
// that the event can be acknowledged at once.
struct brick_cm_event {
	struct rdma_cm_id *id;
	int event;
	int status;
	uint8_t private_data[256];
	int private_data_len;
	uint8_t responder_resources;
	uint8_t initiator_depth;
};

// brick_get_event takes the next event from a non-blocking channel, copies
// it and acknowledges it. It returns 0, -EAGAIN when none is ready, or
// another -errno.
static inline int brick_get_event(struct rdma_event_channel *ch, struct brick_cm_event *out) {
	struct rdma_cm_event *ev;
	memset(out, 0, sizeof *out);
	if (rdma_get_cm_event(ch, &ev)) {
		return -errno;
	}
	out->id = ev->id;
	out->event = ev->event;
	out->status = ev->status;
	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST || ev->event == RDMA_CM_EVENT_ESTABLISHED ||
	    ev->event == RDMA_CM_EVENT_REJECTED || ev->event == RDMA_CM_EVENT_CONNECT_RESPONSE) {
		int n = ev->param.conn.private_data_len;
		if (ev->param.conn.private_data == NULL) {
			n = 0;
		}
		if (n > (int)sizeof out->private_data) {
			n = sizeof out->private_data;
		}
		if (n > 0) {
			memcpy(out->private_data, ev->param.conn.private_data, n);
		}
		out->private_data_len = n;
		out->responder_resources = ev->param.conn.responder_resources;
		out->initiator_depth = ev->param.conn.initiator_depth;
	}
	rdma_ack_cm_event(ev);
	return 0;
}

static inline int brick_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id) {
	return rdma_create_id(ch, id, NULL, RDMA_PS_TCP) ? -errno : 0;
}

static inline int brick_listen(struct rdma_cm_id *id, const uint8_t *ip, int iplen, uint16_t port, int backlog) {
	struct sockaddr_storage ss;
	int rc = brick_sockaddr(&ss, ip, iplen, port);
	if (rc) {
		return rc;
	}
	if (rdma_bind_addr(id, (struct sockaddr *)&ss)) {
		return -errno;
	}
	return rdma_listen(id, backlog) ? -errno : 0;
}

static inline uint16_t brick_src_port(struct rdma_cm_id *id) {
	return ntohs(rdma_get_src_port(id));
}

static inline void brick_peer_addr(struct rdma_cm_id *id, struct brick_addr *out) {
	brick_addr_from(out, rdma_get_peer_addr(id));
}

// brick_resolve_addr starts address resolution to dst, from src when
// srclen is not 0.
static inline int brick_resolve_addr(struct rdma_cm_id *id, const uint8_t *src, int srclen,
				     const uint8_t *dst, int dstlen, uint16_t port, int timeout_ms) {
	struct sockaddr_storage s, d;
	int rc = brick_sockaddr(&d, dst, dstlen, port);
	if (rc) {
		return rc;
	}
	struct sockaddr *sp = NULL;
	if (srclen) {
		if ((rc = brick_sockaddr(&s, src, srclen, 0))) {
			return rc;
		}
		sp = (struct sockaddr *)&s;
	}
	return rdma_resolve_addr(id, sp, (struct sockaddr *)&d, timeout_ms) ? -errno : 0;
}

static inline int brick_resolve_route(struct rdma_cm_id *id, int timeout_ms) {
	return rdma_resolve_route(id, timeout_ms) ? -errno : 0;
}

static inline const char *brick_id_device_name(struct rdma_cm_id *id) {
	if (id->verbs == NULL) {
		return "";
	}
	return ibv_get_device_name(id->verbs->device);
}

// brick_dev_caps are the device attributes the provider uses.
struct brick_dev_caps {
	int max_qp_wr;
	int max_cqe;
	int max_qp_rd_atom;      // responder resources
	int max_qp_init_rd_atom; // initiator depth
	int mem_windows;         // type-2 windows
	int atomic_write;        // device reports ATOMIC WRITE
	int flush_persistent;    // device reports FLUSH to persistence
	uint64_t max_mr_size;
};

// Soft-RoCE (rxe) reports vendor 0xFFFFFF. Its responder checks an access
// through a memory window against the window's region, not the window
// (drivers/infiniband/sw/rxe/rxe_resp.c, Linux 6.1, seen in the lab), so a
// window's rkey would reach all of the region: brick does not use rxe's
// windows and registers a region per map instead.
#define BRICK_RXE_VENDOR_ID 0xFFFFFF

static inline int brick_query_device(struct ibv_context *ctx, struct brick_dev_caps *out) {
	struct ibv_device_attr_ex a;
	memset(out, 0, sizeof *out);
	memset(&a, 0, sizeof a);
	int rc = ibv_query_device_ex(ctx, NULL, &a);
	if (rc) {
		struct ibv_device_attr b;
		if (ibv_query_device(ctx, &b)) {
			return -errno;
		}
		a.orig_attr = b;
	}
	struct ibv_device_attr *o = &a.orig_attr;
	out->max_qp_wr = o->max_qp_wr;
	out->max_cqe = o->max_cqe;
	out->max_qp_rd_atom = o->max_qp_rd_atom;
	out->max_qp_init_rd_atom = o->max_qp_init_rd_atom;
	out->max_mr_size = o->max_mr_size;
	out->mem_windows = (o->device_cap_flags & IBV_DEVICE_MEM_WINDOW) &&
			   (o->device_cap_flags & (IBV_DEVICE_MEM_WINDOW_TYPE_2A | IBV_DEVICE_MEM_WINDOW_TYPE_2B)) &&
			   o->vendor_id != BRICK_RXE_VENDOR_ID;
	if (rc == 0) {
		out->atomic_write = (a.device_cap_flags_ex & BRICK_DEVICE_ATOMIC_WRITE) != 0;
		out->flush_persistent = (a.device_cap_flags_ex & BRICK_DEVICE_FLUSH_PERSISTENT) != 0;
	}
	return 0;
}

// brick_conn holds the verbs objects of one connection. It lives in C
// memory and holds only C pointers.
struct brick_conn {
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx; // NULL unless the QP was created extended
	unsigned int scq_events, rcq_events; // CQ events to acknowledge
};

// brick_conn_create allocates the PD, the completion channel, both CQs and
// an RC QP on id. ext_ops are the extended send operations to ask for
// (IBV_QP_EX_WITH_*); the QP is created without them if the device refuses.
// On success *got holds the extended operations the QP offers.
static inline int brick_conn_create(struct rdma_cm_id *id, struct brick_conn *c, int send_wr, int recv_wr,
				    uint64_t ext_ops, uint64_t *got) {
	memset(c, 0, sizeof *c);
	*got = 0;
	int rc;
	if ((c->pd = ibv_alloc_pd(id->verbs)) == NULL) {
		rc = errno ? -errno : -ENOMEM;
		goto fail;
	}
	if ((c->cc = ibv_create_comp_channel(id->verbs)) == NULL) {
		rc = errno ? -errno : -ENOMEM;
		goto fail;
	}
	if ((c->scq = ibv_create_cq(id->verbs, send_wr, NULL, c->cc, 0)) == NULL) {
		rc = errno ? -errno : -ENOMEM;
		goto fail;
	}
	if ((c->rcq = ibv_create_cq(id->verbs, recv_wr, NULL, c->cc, 0)) == NULL) {
		rc = errno ? -errno : -ENOMEM;
		goto fail;
	}
	struct ibv_qp_init_attr_ex a;
	uint64_t tries[4] = {ext_ops, ext_ops & IBV_QP_EX_WITH_ATOMIC_WRITE, ext_ops & ~(uint64_t)IBV_QP_EX_WITH_ATOMIC_WRITE, 0};
	rc = -EINVAL;
	for (int i = 0; i < 4; i++) {
		if (i > 0 && tries[i] == tries[i - 1]) {
			continue;
		}
		memset(&a, 0, sizeof a);
		a.qp_type = IBV_QPT_RC;
		a.send_cq = c->scq;
		a.recv_cq = c->rcq;
		a.cap.max_send_wr = send_wr;
		a.cap.max_recv_wr = recv_wr;
		a.cap.max_send_sge = 1;
		a.cap.max_recv_sge = 1;
		a.sq_sig_all = 0;
		a.pd = c->pd;
		a.comp_mask = IBV_QP_INIT_ATTR_PD;
		if (tries[i]) {
			a.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
			// The basic operations are listed too: some providers
			// check the extended set as a whole.
			a.send_ops_flags = tries[i] | IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_READ;
		}
		if (rdma_create_qp_ex(id, &a) == 0) {
			c->qp = id->qp;
			if (tries[i]) {
				c->qpx = ibv_qp_to_qp_ex(c->qp);
				*got = c->qpx ? tries[i] : 0;
			}
			rc = 0;
			break;
		}
		rc = errno ? -errno : -EINVAL;
	}
	if (rc) {
		goto fail;
	}
	if (ibv_req_notify_cq(c->scq, 0) || ibv_req_notify_cq(c->rcq, 0)) {
		rc = -errno;
		goto fail;
	}
	return 0;
fail:
	// The caller still calls brick_conn_destroy.
	return rc;
}

// brick_conn_destroy frees what brick_conn_create made, in reverse.
static inline int brick_conn_destroy(struct rdma_cm_id *id, struct brick_conn *c) {
	int rc = 0;
	if (c->qp) {
		rdma_destroy_qp(id);
		c->qp = NULL;
		c->qpx = NULL;
	}
	if (c->scq) {
		ibv_ack_cq_events(c->scq, c->scq_events);
		if (ibv_destroy_cq(c->scq)) rc = -errno;
		c->scq = NULL;
	}
	if (c->rcq) {
		ibv_ack_cq_events(c->rcq, c->rcq_events);
		if (ibv_destroy_cq(c->rcq)) rc = -errno;
		c->rcq = NULL;
	}
	if (c->cc) {
		if (ibv_destroy_comp_channel(c->cc)) rc = -errno;
		c->cc = NULL;
	}
	if (c->pd) {
		if (ibv_dealloc_pd(c->pd)) rc = -errno;
		c->pd = NULL;
	}
	return rc;
}

// brick_cq_event takes one completion event from the non-blocking channel
// and counts it for acknowledgement (acknowledged in batches, and before
// the CQ is destroyed); CQ.Wait re-arms. It returns 1 for the
// send CQ, 2 for the receive CQ, -EAGAIN when none is ready or -errno.
static inline int brick_cq_event(struct brick_conn *c) {
	struct ibv_cq *cq;
	void *ctx;
	if (ibv_get_cq_event(c->cc, &cq, &ctx)) {
		return -errno;
	}
	int which = 0;
	if (cq == c->scq) {
		c->scq_events++;
		which = 1;
	} else if (cq == c->rcq) {
		c->rcq_events++;
		which = 2;
	}
	if (c->scq_events >= 1024) {
		ibv_ack_cq_events(c->scq, c->scq_events);
		c->scq_events = 0;
	}
	if (c->rcq_events >= 1024) {
		ibv_ack_cq_events(c->rcq, c->rcq_events);
		c->rcq_events = 0;
	}
	return which;
}

static inline int brick_arm_cq(struct ibv_cq *cq) {
	return ibv_req_notify_cq(cq, 0) ? -errno : 0;
}

// brick_conn_param fills the connection parameters accept and connect
// share: the private data and the RDMA Read resources.
static inline void brick_conn_param(struct rdma_conn_param *p, const void *pd, int pdlen, int resp_res, int init_depth) {
	memset(p, 0, sizeof *p);
	p->private_data = pd;
	p->private_data_len = pdlen;
	p->responder_resources = resp_res;
	p->initiator_depth = init_depth;
	p->rnr_retry_count = 7;
}

static inline int brick_accept(struct rdma_cm_id *id, const void *pd, int pdlen, int resp_res, int init_depth) {
	struct rdma_conn_param p;
	brick_conn_param(&p, pd, pdlen, resp_res, init_depth);
	return rdma_accept(id, &p) ? -errno : 0;
}

static inline int brick_connect(struct rdma_cm_id *id, const void *pd, int pdlen, int resp_res, int init_depth) {
	struct rdma_conn_param p;
	brick_conn_param(&p, pd, pdlen, resp_res, init_depth);
	p.retry_count = 7;
	return rdma_connect(id, &p) ? -errno : 0;
}

// brick_qp_down says whether qp has left the ready-to-send state (1: the
// error state, or siw's terminate/closing states), not (0), or cannot be
// queried (-errno).
static inline int brick_qp_down(struct ibv_qp *qp) {
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr i;
	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &i)) {
		return -errno;
	}
	return a.qp_state != IBV_QPS_RTS;
}

// brick_id_iwarp says whether id is bound to an iWARP device, whose CM
// carries private data with its exact length (MPA) instead of padded.
static inline int brick_id_iwarp(struct rdma_cm_id *id) {
	return id->verbs != NULL && id->verbs->device->transport_type == IBV_TRANSPORT_IWARP;
}

static inline int brick_reject(struct rdma_cm_id *id, const void *pd, int pdlen) {
	return rdma_reject(id, pd, pdlen) ? -errno : 0;
}

// brick_wc is a work completion flattened for Go.
struct brick_wc {
	uint64_t wr_id;
	uint32_t status;
	uint32_t opcode;
	uint32_t byte_len;
	uint32_t invalidated; // rkey a received Send with Invalidate revoked
};

// brick_poll polls up to n completions of cq into out (Go memory, used for
// the call only).
static inline int brick_poll(struct ibv_cq *cq, struct brick_wc *out, int n) {
	struct ibv_wc wc[32];
	if (n > 32) {
		n = 32;
	}
	int got = ibv_poll_cq(cq, n, wc);
	if (got < 0) {
		return got;
	}
	for (int i = 0; i < got; i++) {
		out[i].wr_id = wc[i].wr_id;
		out[i].status = wc[i].status;
		out[i].opcode = wc[i].opcode;
		out[i].byte_len = wc[i].byte_len;
		out[i].invalidated = (wc[i].wc_flags & IBV_WC_WITH_INV) ? wc[i].invalidated_rkey : 0;
	}
	return got;
}

// brick_post_send posts one classic work request with one SGE (none when
// len is 0). opcode is an ibv_wr_opcode.
static inline int brick_post_send(struct ibv_qp *qp, uint64_t wr_id, int opcode, uint64_t addr, uint32_t len,
				  uint32_t lkey, uint32_t rkey, uint64_t remote, uint32_t inv_rkey) {
	struct ibv_sge sge = {.addr = addr, .length = len, .lkey = lkey};
	struct ibv_send_wr wr, *bad;
	memset(&wr, 0, sizeof wr);
	wr.wr_id = wr_id;
	wr.opcode = opcode;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (len) {
		wr.sg_list = &sge;
		wr.num_sge = 1;
	}
	if (opcode == IBV_WR_RDMA_WRITE || opcode == IBV_WR_RDMA_READ) {
		wr.wr.rdma.rkey = rkey;
		wr.wr.rdma.remote_addr = remote;
	}
	if (opcode == IBV_WR_SEND_WITH_INV) {
		wr.invalidate_rkey = inv_rkey;
	}
	return ibv_post_send(qp, &wr, &bad);
}

static inline int brick_post_recv(struct ibv_qp *qp, uint64_t wr_id, uint64_t addr, uint32_t len, uint32_t lkey) {
	struct ibv_sge sge = {.addr = addr, .length = len, .lkey = lkey};
	struct ibv_recv_wr wr, *bad;
	memset(&wr, 0, sizeof wr);
	wr.wr_id = wr_id;
	if (len) {
		wr.sg_list = &sge;
		wr.num_sge = 1;
	}
	return ibv_post_recv(qp, &wr, &bad);
}

// brick_post_atomic_write posts an ATOMIC WRITE of the 8 bytes at src
// through the extended QP (rdma-core >= 44 headers).
static inline int brick_post_atomic_write(struct ibv_qp_ex *qpx, uint64_t wr_id, uint32_t rkey, uint64_t remote,
					  uint64_t src) {
	if (qpx == NULL || qpx->wr_atomic_write == NULL) {
		return EOPNOTSUPP;
	}
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(qpx, rkey, remote, (const void *)(uintptr_t)src);
	return ibv_wr_complete(qpx);
}

// brick_post_bind_mw posts a signaled bind of the type-2 window mw over
// [addr, addr+len) of mr and returns the window's new rkey in *rkey.
static inline int brick_post_bind_mw(struct ibv_qp *qp, uint64_t wr_id, struct ibv_mw *mw, struct ibv_mr *mr,
				     uint64_t addr, uint64_t len, unsigned int access, uint32_t *rkey) {
	struct ibv_send_wr wr, *bad;
	memset(&wr, 0, sizeof wr);
	wr.wr_id = wr_id;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.bind_info.mr = mr;
	wr.bind_mw.bind_info.addr = addr;
	wr.bind_mw.bind_info.length = len;
	wr.bind_mw.bind_info.mw_access_flags = access;
	int rc = ibv_post_send(qp, &wr, &bad);
	if (rc == 0) {
		*rkey = wr.bind_mw.rkey;
	}
	return rc;
}

static inline struct ibv_mr *brick_reg_mr(struct ibv_pd *pd, uint64_t addr, size_t len, int access, int *err) {
	struct ibv_mr *mr = ibv_reg_mr(pd, (void *)(uintptr_t)addr, len, access);
	*err = mr ? 0 : (errno ? errno : EINVAL);
	return mr;
}

static inline struct ibv_mw *brick_alloc_mw(struct ibv_pd *pd, int *err) {
	struct ibv_mw *mw = ibv_alloc_mw(pd, IBV_MW_TYPE_2);
	*err = mw ? 0 : (errno ? errno : EOPNOTSUPP);
	return mw;
}

#endif
