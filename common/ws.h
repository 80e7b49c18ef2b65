/*
 * ws -- a small blocking WebSocket client (RFC 6455): connect, text
 * messages in and out, ping, close.
 *
 * The only module that calls wslay (the framing: masking, fragmentation,
 * control frames, close handshake) and the only one that does the opening
 * handshake (RFC 6455 section 4.1: the HTTP/1.1 Upgrade request, and the
 * checks of the server's answer, Sec-WebSocket-Accept computed with
 * Nettle's SHA-1 and base64).
 * Not here: TLS (wss:// is refused with ERR_INVAL: the indexer's node is on
 * loopback or a private network), extensions and subprotocols (none are
 * offered, and a server that selects one is refused, as section 4.1 says),
 * proxies, redirects, what the messages mean (the caller: e.g.
 * eth/headsub's JSON-RPC subscription), retries (the caller's choice),
 * logging (common/ code never logs; ws_errmsg() gives the text).
 * Threading: a struct ws belongs to one thread at a time. Every call blocks
 * for at most its timeout, and returns ERR_CANCELED early once the
 * optional cancel_fd (struct ws_opts) becomes readable, so another thread
 * can stop a blocked reader by writing to a pipe.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WS_H
#define LOOM_WS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct ws;

/* Sec-WebSocket-Accept: base64 of a 20-byte SHA-1 is 28 characters, + NUL. */
#define WS_ACCEPT_LEN 29
/* Sec-WebSocket-Key: base64 of 16 random bytes (RFC 6455 section 4.1). */
#define WS_KEY_LEN 25
/* Largest handshake answer read (status line and headers): servers send a
 * few hundred bytes; more is not a WebSocket server. */
#define WS_MAX_HANDSHAKE_BYTES 8192
/* Default cap on one received message (all its fragments). */
#define WS_DEFAULT_MAX_MESSAGE_BYTES ((size_t)1 << 20)

struct ws_opts {
    const char *url;          /* ws://host[:port][/path[?query]]; borrowed, copied by
                                 ws_new. Port 80 when absent. IPv6 hosts in brackets. */
    size_t max_message_bytes; /* larger received messages fail the connection
                                 (ERR_TOOBIG; wslay answers close 1009); 0 = default */
    int cancel_fd;            /* -1, or an fd (a pipe's read end) that, once readable,
                                 makes every blocked call return ERR_CANCELED; borrowed */
};

/*
 * Compute the Sec-WebSocket-Accept value for <key>: base64(SHA-1(key ||
 * "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), RFC 6455 section 4.2.2 item 5.4
 * (its example: key "dGhlIHNhbXBsZSBub25jZQ==" gives
 * "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").
 *   key: NUL-terminated, borrowed; any length up to 1 KiB.
 *   out: receives 28 characters and a NUL.
 * Returns ERR_OK, ERR_INVAL (key NULL or longer than 1 KiB).
 */
LOOM_MUST_CHECK enum err ws_accept_key(const char *key, char out[WS_ACCEPT_LEN]);

/*
 * Check a server's opening-handshake answer against RFC 6455 section 4.1
 * (the client's checks 1-6): status 101, "Upgrade: websocket" and a
 * "Connection" header holding the token "Upgrade" (both case-insensitive),
 * "Sec-WebSocket-Accept" equal to ws_accept_key(<key>), and no
 * Sec-WebSocket-Extensions or Sec-WebSocket-Protocol (we offer none).
 *   resp/len: the bytes read so far, borrowed; need not be NUL-terminated;
 *             may continue past the headers with the first frames.
 *   key:      the Sec-WebSocket-Key we sent, borrowed.
 *   head_len: set to the length of the status line and headers with the
 *             final CRLF CRLF (where frames start) when the answer is
 *             complete, whatever the verdict.
 *   why:      optional (NULL); on failure, a message is appended.
 * Returns ERR_OK (a good answer); ERR_STATE (incomplete: no CRLF CRLF yet,
 * read more); ERR_TOOBIG (no end of headers within WS_MAX_HANDSHAKE_BYTES);
 * ERR_UNAVAILABLE (a well-formed HTTP answer other than 101: the server is
 * not a WebSocket endpoint, or refused the upgrade; <why> names the
 * status); ERR_PROTO (a 101 that breaks a check, or not HTTP at all).
 * Does no I/O.
 */
LOOM_MUST_CHECK enum err ws_check_handshake(const char *resp, size_t len, const char *key,
                                            size_t *head_len, struct buf *why);

/*
 * Make a client for <opts->url>. Does not connect.
 *   opts: borrowed; url copied.
 *   out:  owned by the caller (ws_free()).
 * Returns ERR_OK, ERR_INVAL (no url, not ws://, wss://, an empty host, a
 * bad port), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err ws_new(const struct ws_opts *opts, struct ws **out);

/*
 * Connect over TCP to the URL's host and port (each address getaddrinfo
 * gives, in order) and do the opening handshake. Blocks up to <timeout_ms>
 * (> 0) in all.
 * Returns ERR_OK (open: messages may be sent and received), ERR_STATE
 * (already connected once; make a new ws to reconnect), ERR_IO (DNS,
 * refused, reset; ws_errmsg() says which), ERR_TIMEDOUT,
 * ERR_CANCELED, or ws_check_handshake()'s errors, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err ws_connect(struct ws *w, long timeout_ms);

/*
 * As ws_connect(), over an already connected stream socket <fd> (tests use
 * a socketpair). The URL's host and path still go into the request.
 *   fd: on ERR_OK owned by <w> (closed by ws_free()); on failure still the
 *       caller's.
 */
LOOM_MUST_CHECK enum err ws_connect_fd(struct ws *w, int fd, long timeout_ms);

/*
 * Send <len> bytes of <data> (borrowed) as one text message (masked, as a
 * client must). Blocks until written to the socket or <timeout_ms> (> 0).
 * Returns ERR_OK, ERR_STATE (not open, or closing), ERR_IO (the connection
 * broke), ERR_TIMEDOUT, ERR_CANCELED, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err ws_send_text(struct ws *w, const void *data, size_t len, long timeout_ms);

/*
 * Send a ping (empty payload); the server's pong is counted by ws_pongs().
 * Same blocking and errors as ws_send_text().
 */
LOOM_MUST_CHECK enum err ws_ping(struct ws *w, long timeout_ms);

/*
 * Wait up to <timeout_ms> (-1: no limit) for the next text or binary
 * message and replace <out>'s contents with it (not NUL-counted in its
 * length; buf_cstr() works). Pings are answered and pongs counted on the
 * way.
 * Returns ERR_OK; ERR_TIMEDOUT (no message in time; the connection is
 * still usable); ERR_IO (the peer closed, ws_errmsg() gives the close
 * code, or the connection broke); ERR_PROTO (a bad frame: unmasked
 * control frame rules, bad UTF-8 is not checked); ERR_TOOBIG (a message
 * over max_message_bytes); ERR_STATE (not open); ERR_CANCELED; ERR_NOMEM.
 * After any error but ERR_TIMEDOUT the connection is finished: ws_free().
 */
LOOM_MUST_CHECK enum err ws_recv(struct ws *w, struct buf *out, long timeout_ms);

/* Pong frames received so far. */
uint64_t ws_pongs(const struct ws *w);

/*
 * Text describing the last failure on <w> ("connect 127.0.0.1:8545:
 * Connection refused", "handshake: HTTP 404", "closed by peer (1001)").
 * Borrowed from <w>, valid until the next call; "" when none.
 */
const char *ws_errmsg(const struct ws *w);

/*
 * Start the closing handshake (close 1000, waiting up to 200 ms for the
 * frame to leave), close the socket and free <w>. Accepts NULL. Never
 * blocks longer than that.
 */
void ws_free(struct ws *w);

#endif
