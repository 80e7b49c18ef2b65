/*
 * ws -- the WebSocket client: opening handshake by hand (it is a few HTTP
 * lines), frames through wslay's event API over a non-blocking socket.
 *
 * wslay's event API drives I/O through our recv/send callbacks; they never
 * block (MSG_DONTWAIT, WSLAY_ERR_WOULDBLOCK), and this file does the waiting
 * with poll(), so every call keeps its deadline and watches cancel_fd.
 * Bytes that arrived with the handshake answer (a server may send its first
 * frames in the same packet) are handed to wslay before the socket is read.
 *
 * SPDX-License-Identifier: MIT
 */
#include "ws.h"
#include "mono.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

/* RFC 6455 section 1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

struct ws {
    char *host;     /* as in the URL, brackets of an IPv6 literal removed */
    char *port;     /* decimal */
    char *host_hdr; /* the Host header: host[:port] as written in the URL */
    char *path;     /* "/..." with the query */
    size_t max_message_bytes;
    int cancel_fd;
    int fd;        /* -1 before connect */
    bool open;     /* handshake done, not failed since */
    bool eof;      /* the peer closed the TCP stream */
    int sys_errno; /* errno of a failed recv/send callback */
    wslay_event_context_ptr ctx;
    struct buf early; /* bytes received after the handshake's headers */
    size_t early_off;
    struct buf queue; /* received messages: a size_t length, then the bytes */
    bool closed_by_peer;
    uint16_t close_code;
    uint64_t pongs;
    enum err fail; /* why the connection ended (io_failed()), ERR_OK before */
    struct buf err;
};

/* Replace the error text; a failure to format leaves it empty (the enum
 * err still says what happened). */
static void set_err(struct ws *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct ws *w, const char *fmt, ...)
{
    va_list ap;

    buf_reset(&w->err);
    va_start(ap, fmt);
    if (buf_vappendf(&w->err, fmt, ap) != ERR_OK)
        buf_reset(&w->err);
    va_end(ap);
}

enum err ws_accept_key(const char *key, char out[WS_ACCEPT_LEN])
{
    struct sha1_ctx h;
    uint8_t digest[SHA1_DIGEST_SIZE];
    size_t n;

    if (key == NULL || (n = strlen(key)) > 1024)
        return ERR_INVAL;
    sha1_init(&h);
    sha1_update(&h, n, (const uint8_t *)key);
    sha1_update(&h, sizeof ws_guid - 1, (const uint8_t *)ws_guid);
    sha1_digest(&h, sizeof digest, digest);
    base64_encode_raw(out, sizeof digest, digest);
    out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
    return ERR_OK;
}

/* ---- the handshake answer ------------------------------------------------- */

/* Does the comma-separated list [v, v+n) hold <token> (case-insensitive)? */
static bool list_has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token), i = 0;

    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
            return true;
    }
    return false;
}

static void why_add(struct buf *why, const char *msg)
{
    if (why != NULL && buf_append_str(why, msg) != ERR_OK)
        buf_reset(why);
}

enum err ws_check_handshake(const char *resp, size_t len, const char *key, size_t *head_len,
                            struct buf *why)
{
    char want[WS_ACCEPT_LEN];
    size_t end = 0, i;
    bool upgrade = false, connection = false, accept = false;

    *head_len = 0;
    for (i = 0; i + 4 <= len && i + 4 <= WS_MAX_HANDSHAKE_BYTES; i++)
        if (memcmp(resp + i, "\r\n\r\n", 4) == 0) {
            end = i + 4;
            break;
        }
    if (end == 0) {
        if (len >= WS_MAX_HANDSHAKE_BYTES) {
            why_add(why, "handshake: answer headers over 8 KiB");
            return ERR_TOOBIG;
        }
        return ERR_STATE;
    }
    *head_len = end;
    if (ws_accept_key(key, want) != ERR_OK) {
        why_add(why, "handshake: bad key");
        return ERR_INVAL;
    }
    /* Status line: HTTP/1.x SP 3DIGIT SP reason (RFC 9112 section 4). */
    if (end < 12 || memcmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ' || resp[9] < '1' ||
        resp[9] > '5' || resp[10] < '0' || resp[10] > '9' || resp[11] < '0' || resp[11] > '9') {
        why_add(why, "handshake: the answer is not HTTP/1.x");
        return ERR_PROTO;
    }
    if (memcmp(resp + 9, "101", 3) != 0) {
        if (why != NULL && buf_appendf(why,
                                       "handshake: HTTP %.3s (not a websocket endpoint, "
                                       "or the upgrade was refused)",
                                       resp + 9) != ERR_OK)
            buf_reset(why);
        return ERR_UNAVAILABLE;
    }
    /* Header lines after the status line, up to the empty line. */
    const char *p = (const char *)memchr(resp, '\n', end) + 1, *stop = resp + end - 2;
    while (p < stop) {
        const char *eol = memchr(p, '\n', (size_t)(stop + 2 - p));
        if (eol == NULL || eol == p || eol[-1] != '\r') {
            why_add(why, "handshake: a header line without CRLF");
            return ERR_PROTO;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p) {
            why_add(why, "handshake: a header line without a name");
            return ERR_PROTO;
        }
        size_t nl = (size_t)(colon - p);
        const char *v = colon + 1, *ve = eol - 1; /* before CR */
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(p, name, nl) == 0)
        if (IS("Upgrade"))
            upgrade = vl == 9 && strncasecmp(v, "websocket", 9) == 0;
        else if (IS("Connection"))
            connection = connection || list_has_token(v, vl, "Upgrade");
        else if (IS("Sec-WebSocket-Accept"))
            accept = vl == WS_ACCEPT_LEN - 1 && memcmp(v, want, vl) == 0;
        else if (IS("Sec-WebSocket-Extensions") || IS("Sec-WebSocket-Protocol")) {
            why_add(why, "handshake: the server chose an extension or subprotocol we did not "
                         "offer");
            return ERR_PROTO;
        }
#undef IS
        p = eol + 1;
    }
    if (!upgrade || !connection) {
        why_add(why, "handshake: 101 without Upgrade: websocket and Connection: Upgrade");
        return ERR_PROTO;
    }
    if (!accept) {
        why_add(why, "handshake: Sec-WebSocket-Accept missing or wrong");
        return ERR_PROTO;
    }
    return ERR_OK;
}

/* ---- URL ------------------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static enum err parse_url(struct ws *w, const char *url)
{
    const char *p, *auth_end, *h, *he, *port = NULL;
    size_t pl = 0;

    if (strncasecmp(url, "ws://", 5) != 0)
        return ERR_INVAL; /* wss:// and everything else: see ws.h */
    p = url + 5;
    auth_end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(auth_end - p)) != NULL)
        return ERR_INVAL; /* user information is not sent anywhere */
    if (*p == '[') {
        h = p + 1;
        he = memchr(h, ']', (size_t)(auth_end - h));
        if (he == NULL)
            return ERR_INVAL;
        if (he + 1 < auth_end) {
            if (he[1] != ':')
                return ERR_INVAL;
            port = he + 2;
        }
    } else {
        h = p;
        he = memchr(p, ':', (size_t)(auth_end - p));
        if (he != NULL)
            port = he + 1;
        else
            he = auth_end;
    }
    if (he == h)
        return ERR_INVAL;
    if (port != NULL) {
        pl = (size_t)(auth_end - port);
        unsigned long v = 0;
        if (pl == 0 || pl > 5)
            return ERR_INVAL;
        for (size_t i = 0; i < pl; i++) {
            if (port[i] < '0' || port[i] > '9')
                return ERR_INVAL;
            v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return ERR_INVAL;
    }
    if (*auth_end == '#')
        return ERR_INVAL;
    w->host = dup_n(h, (size_t)(he - h));
    w->port = port ? dup_n(port, pl) : dup_n("80", 2);
    w->host_hdr = dup_n(p, (size_t)(auth_end - p));
    /* The request target: the path, "/" when absent, then any query. */
    size_t tl = strcspn(auth_end, "#");
    bool slash = *auth_end != '/';
    w->path = malloc(tl + 2);
    if (w->path != NULL) {
        w->path[0] = '/';
        memcpy(w->path + slash, auth_end, tl);
        w->path[tl + slash] = '\0';
    }
    if (!w->host || !w->port || !w->host_hdr || !w->path)
        return ERR_NOMEM;
    /* Control characters or spaces would break the request line. */
    for (const char *c = w->path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return ERR_INVAL;
    for (const char *c = w->host_hdr; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return ERR_INVAL;
    return ERR_OK;
}

enum err ws_new(const struct ws_opts *opts, struct ws **out)
{
    struct ws *w;
    enum err e;

    *out = NULL;
    if (opts == NULL || opts->url == NULL)
        return ERR_INVAL;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return ERR_NOMEM;
    w->fd = -1;
    w->cancel_fd = opts->cancel_fd;
    w->max_message_bytes =
        opts->max_message_bytes ? opts->max_message_bytes : WS_DEFAULT_MAX_MESSAGE_BYTES;
    buf_init(&w->early, 0);
    buf_init(&w->queue, 0);
    buf_init(&w->err, 1024);
    e = parse_url(w, opts->url);
    if (e != ERR_OK) {
        ws_free(w);
        return e;
    }
    *out = w;
    return ERR_OK;
}

/* ---- waiting ------------------------------------------------------------- */

/* Wait until <fd> is ready for <events> or the deadline (<0: none).
 * Returns ERR_OK, ERR_TIMEDOUT, ERR_CANCELED, ERR_IO. */
static enum err wait_fd(struct ws *w, int fd, short events, double deadline)
{
    struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = w->cancel_fd, .events = POLLIN}};
    nfds_t n = w->cancel_fd >= 0 ? 2 : 1;

    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            double left = deadline - mono_ms_frac();
            if (left <= 0)
                return ERR_TIMEDOUT;
            ms = (int)left + 1;
        }
        int r = poll(p, n, ms);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            set_err(w, "poll: %s", strerror(errno));
            return ERR_IO;
        }
        if (n == 2 && p[1].revents != 0)
            return ERR_CANCELED;
        if (r > 0 && p[0].revents != 0)
            return ERR_OK; /* POLLERR and POLLHUP too: the next read says why */
    }
}

/* ---- wslay callbacks --------------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len, int flags, void *arg)
{
    struct ws *w = arg;
    (void)flags;
    if (w->early_off < w->early.len) {
        size_t n = w->early.len - w->early_off;
        if (n > len)
            n = len;
        memcpy(data, (const char *)w->early.data + w->early_off, n);
        w->early_off += n;
        return (ssize_t)n;
    }
    ssize_t r = recv(w->fd, data, len, MSG_DONTWAIT);
    if (r > 0)
        return r;
    if (r == 0) {
        w->eof = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        w->sys_errno = errno;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *arg)
{
    struct ws *w = arg;
    (void)flags;
    ssize_t r = send(w->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        w->sys_errno = errno;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

/* RFC 6455 section 5.3: the masking key must be unpredictable. */
static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len, void *arg)
{
    (void)arg;
    if (getrandom(data, len, 0) != (ssize_t)len) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *arg)
{
    struct ws *w = arg;
    (void)ctx;
    if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME) {
        size_t n = a->msg_length;
        if (buf_append(&w->queue, &n, sizeof n) != ERR_OK ||
            buf_append(&w->queue, a->msg, n) != ERR_OK)
            wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
    } else if (a->opcode == WSLAY_PONG) {
        w->pongs++;
    } else if (a->opcode == WSLAY_CONNECTION_CLOSE) {
        w->closed_by_peer = true;
        w->close_code = a->status_code;
    }
}

static enum err make_ctx(struct ws *w)
{
    struct wslay_event_callbacks cb = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .genmask_callback = genmask_cb,
        .on_msg_recv_callback = msg_cb,
    };
    if (wslay_event_context_client_init(&w->ctx, &cb, w) != 0)
        return ERR_NOMEM;
    wslay_event_config_set_max_recv_msg_length(w->ctx, w->max_message_bytes);
    return ERR_OK;
}

/* ---- connecting ------------------------------------------------------------ */

static enum err tcp_connect(struct ws *w, double deadline, int *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    enum err e = ERR_IO;
    int fd = -1;

    *out = -1;
    int g = getaddrinfo(w->host, w->port, &hints, &res);
    if (g != 0) {
        set_err(w, "resolve %s: %s", w->host, gai_strerror(g));
        return ERR_IO;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd == -1) {
            set_err(w, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno != EINPROGRESS) {
            set_err(w, "connect %s: %s", w->host_hdr, strerror(errno));
            close(fd);
            fd = -1;
            continue;
        }
        e = wait_fd(w, fd, POLLOUT, deadline);
        if (e == ERR_OK) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
                soerr = errno;
            if (soerr == 0)
                break;
            set_err(w, "connect %s: %s", w->host_hdr, strerror(soerr));
            e = ERR_IO;
        } else if (e == ERR_TIMEDOUT) {
            set_err(w, "connect %s: timed out", w->host_hdr);
        }
        close(fd);
        fd = -1;
        if (e == ERR_TIMEDOUT || e == ERR_CANCELED)
            break;
    }
    freeaddrinfo(res);
    if (fd == -1)
        return e == ERR_OK ? ERR_IO : e;
    /* A notification is one small frame: send it at once. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return ERR_OK;
}

/* Write all of [p, p+n) to the non-blocking fd by the deadline. */
static enum err write_all(struct ws *w, int fd, const char *p, size_t n, double deadline)
{
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            enum err e = wait_fd(w, fd, POLLOUT, deadline);
            if (e != ERR_OK)
                return e;
            continue;
        }
        set_err(w, "handshake: send: %s", strerror(errno));
        return ERR_IO;
    }
    return ERR_OK;
}

static enum err handshake(struct ws *w, int fd, double deadline)
{
    uint8_t raw[16];
    char key[WS_KEY_LEN], chunk[4096];
    struct buf req, resp;
    size_t head = 0;
    enum err e;

    buf_init(&req, 0);
    buf_init(&resp, WS_MAX_HANDSHAKE_BYTES + 4096);
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        set_err(w, "handshake: getrandom: %s", strerror(errno));
        return ERR_IO;
    }
    base64_encode_raw(key, sizeof raw, raw);
    key[BASE64_ENCODE_RAW_LENGTH(16)] = '\0';
    e = buf_appendf(&req,
                    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                    w->path, w->host_hdr, key);
    if (e == ERR_OK)
        e = write_all(w, fd, buf_cstr(&req), req.len, deadline);
    while (e == ERR_OK) {
        ssize_t r = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (r > 0) {
            e = buf_append(&resp, chunk, (size_t)r);
            if (e != ERR_OK)
                break;
            buf_reset(&w->err);
            e = ws_check_handshake(resp.data, resp.len, key, &head, &w->err);
            if (e != ERR_STATE)
                break;
            e = ERR_OK;
            continue;
        }
        if (r == 0) {
            set_err(w, "handshake: the server closed the connection");
            e = ERR_IO;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            e = wait_fd(w, fd, POLLIN, deadline);
            if (e == ERR_TIMEDOUT)
                set_err(w, "handshake: no answer in time");
        } else {
            set_err(w, "handshake: recv: %s", strerror(errno));
            e = ERR_IO;
        }
    }
    if (e == ERR_OK && resp.len > head)
        e = buf_append(&w->early, (const char *)resp.data + head, resp.len - head);
    buf_release(&req);
    buf_release(&resp);
    return e;
}

enum err ws_connect_fd(struct ws *w, int fd, long timeout_ms)
{
    enum err e;

    if (w->fd != -1 || w->ctx != NULL || timeout_ms <= 0)
        return ERR_STATE;
    buf_reset(&w->err);
    e = handshake(w, fd, mono_ms_frac() + (double)timeout_ms);
    if (e == ERR_OK)
        e = make_ctx(w);
    if (e != ERR_OK) {
        buf_reset(&w->early);
        return e;
    }
    w->fd = fd;
    w->open = true;
    return ERR_OK;
}

enum err ws_connect(struct ws *w, long timeout_ms)
{
    int fd = -1;
    enum err e;

    if (w->fd != -1 || w->ctx != NULL || timeout_ms <= 0)
        return ERR_STATE;
    buf_reset(&w->err);
    double deadline = mono_ms_frac() + (double)timeout_ms;
    e = tcp_connect(w, deadline, &fd);
    if (e != ERR_OK)
        return e;
    double left = deadline - mono_ms_frac();
    e = ws_connect_fd(w, fd, left >= 1 ? (long)left : 1);
    if (e != ERR_OK)
        close(fd);
    return e;
}

/* ---- messages -------------------------------------------------------------- */

/* Map a failed wslay_event_recv/send to our errors. */
static enum err io_failed(struct ws *w, int rv)
{
    w->open = false;
    if (rv == WSLAY_ERR_NOMEM) {
        set_err(w, "out of memory");
        w->fail = ERR_NOMEM;
    } else if (w->eof) {
        set_err(w, "connection closed by peer");
        w->fail = ERR_IO;
    } else if (w->sys_errno != 0) {
        set_err(w, "socket: %s", strerror(w->sys_errno));
        w->fail = ERR_IO;
    } else {
        set_err(w, "websocket: framing error");
        w->fail = ERR_PROTO;
    }
    return w->fail;
}

/* Flush what wslay has queued (pongs, our messages, a close) by the
 * deadline (<0: none). */
static enum err flush(struct ws *w, double deadline)
{
    while (wslay_event_want_write(w->ctx)) {
        int rv = wslay_event_send(w->ctx);
        if (rv != 0)
            return io_failed(w, rv);
        if (!wslay_event_want_write(w->ctx))
            break;
        enum err e = wait_fd(w, w->fd, POLLOUT, deadline);
        if (e != ERR_OK)
            return e;
    }
    return ERR_OK;
}

static enum err queue_and_flush(struct ws *w, uint8_t opcode, const void *data, size_t len,
                                long timeout_ms)
{
    struct wslay_event_msg m = {opcode, data, len};

    if (!w->open || timeout_ms <= 0)
        return ERR_STATE;
    int rv = wslay_event_queue_msg(w->ctx, &m);
    if (rv == WSLAY_ERR_NOMEM)
        return ERR_NOMEM;
    if (rv != 0)
        return ERR_STATE; /* closing: no more messages */
    return flush(w, mono_ms_frac() + (double)timeout_ms);
}

enum err ws_send_text(struct ws *w, const void *data, size_t len, long timeout_ms)
{
    return queue_and_flush(w, WSLAY_TEXT_FRAME, data, len, timeout_ms);
}

enum err ws_ping(struct ws *w, long timeout_ms)
{
    return queue_and_flush(w, WSLAY_PING, "", 0, timeout_ms);
}

/* Take the oldest queued message into <out>; false when none. */
static bool pop_message(struct ws *w, struct buf *out, enum err *e)
{
    size_t n;

    if (w->queue.len == 0)
        return false;
    memcpy(&n, w->queue.data, sizeof n);
    buf_reset(out);
    *e = buf_append(out, w->queue.data + sizeof n, n);
    buf_consume(&w->queue, sizeof n + n);
    return true;
}

enum err ws_recv(struct ws *w, struct buf *out, long timeout_ms)
{
    double deadline = timeout_ms < 0 ? -1.0 : mono_ms_frac() + (double)timeout_ms;
    enum err e = ERR_OK;

    for (;;) {
        if (pop_message(w, out, &e))
            return e;
        if (w->closed_by_peer) {
            char code[8];
            snprintf(code, sizeof code, "%u", (unsigned)w->close_code);
            (void)flush(w, mono_ms_frac() + 200.0); /* our close reply, best effort */
            w->open = false;
            set_err(w, "closed by peer (%s)", code);
            return ERR_IO;
        }
        if (!w->open)
            return w->fail != ERR_OK ? w->fail : ERR_STATE; /* its text stays */
        if (!wslay_event_get_read_enabled(w->ctx)) {
            /* wslay stopped reading: a message over the cap or a bad frame
             * (a masked one, a bad opcode); the close frame it queued, once
             * sent, says which. */
            (void)flush(w, mono_ms_frac() + 200.0);
            w->open = false;
            if (wslay_event_get_status_code_sent(w->ctx) == WSLAY_CODE_MESSAGE_TOO_BIG) {
                set_err(w, "websocket: a message over %zu bytes", w->max_message_bytes);
                return ERR_TOOBIG;
            }
            set_err(w, "websocket: bad frame (close %u sent)",
                    (unsigned)wslay_event_get_status_code_sent(w->ctx));
            return ERR_PROTO;
        }
        if (w->early_off >= w->early.len) {
            e = wait_fd(w, w->fd, POLLIN, deadline);
            if (e != ERR_OK)
                return e;
        }
        int rv = wslay_event_recv(w->ctx);
        if (rv != 0) {
            /* Messages that arrived before the failure are served first;
             * the next call reports the failure. */
            enum err f = io_failed(w, rv);
            if (pop_message(w, out, &e))
                return e;
            return f;
        }
        e = flush(w, mono_ms_frac() + 1000.0); /* pongs, a close reply */
        if (e != ERR_OK && e != ERR_TIMEDOUT)
            return e;
    }
}

uint64_t ws_pongs(const struct ws *w)
{
    return w->pongs;
}

const char *ws_errmsg(const struct ws *w)
{
    return w->err.len ? buf_cstr(&w->err) : "";
}

void ws_free(struct ws *w)
{
    if (w == NULL)
        return;
    if (w->ctx != NULL) {
        if (w->open && wslay_event_queue_close(w->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) == 0)
            (void)flush(w, mono_ms_frac() + 200.0); /* best effort: we close anyway */
        wslay_event_context_free(w->ctx);
    }
    if (w->fd != -1)
        close(w->fd);
    free(w->host);
    free(w->port);
    free(w->host_hdr);
    free(w->path);
    buf_release(&w->early);
    buf_release(&w->queue);
    buf_release(&w->err);
    free(w);
}
