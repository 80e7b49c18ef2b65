/*
 * Unit tests for common/ws: the accept key (RFC 6455's own example), the
 * handshake checks, URL parsing (through the request a server sees), and
 * frames both ways over a socketpair, byte for byte: RFC 6455 section
 * 5.7's examples (an unmasked "Hello", the same fragmented, a 256-byte
 * message with a 16-bit length, ping and pong), the client's masking, the
 * close handshake, the size cap, a masked server frame, cancellation,
 * a refused connection and a plain HTTP server.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ws.h"

static void test_accept_key_rfc(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN];
    /* RFC 6455 section 1.3 */
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), ERR_OK);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* A second key, computed independently with Python's hashlib and
     * base64 modules. */
    assert_int_equal(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out), ERR_OK);
    assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    assert_int_equal(ws_accept_key(NULL, out), ERR_INVAL);
}

#define KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static enum err check(const char *resp, size_t *head, struct buf *why)
{
    buf_reset(why);
    return ws_check_handshake(resp, strlen(resp), KEY, head, why);
}

static void test_handshake_checks(void **state)
{
    (void)state;
    struct buf why;
    size_t head;
    buf_init(&why, 0);
    const char *good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n";
    assert_int_equal(check(good, &head, &why), ERR_OK);
    assert_int_equal(head, strlen(good));
    /* Frames after the headers: head_len stops at the empty line. */
    char more[512];
    snprintf(more, sizeof more, "%s\x81\x05Hello", good);
    assert_int_equal(check(more, &head, &why), ERR_OK);
    assert_int_equal(head, strlen(good));
    /* Header names and the Upgrade value are case-insensitive; Connection is
     * a token list. */
    assert_int_equal(check("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, "
                           "upgrade\r\nsec-websocket-accept:" ACCEPT "  \r\n\r\n",
                           &head, &why),
                     ERR_OK);
    /* Incomplete: read more. */
    assert_int_equal(
        check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", &head, &why),
        ERR_STATE);
    assert_int_equal(head, 0);
    /* Not 101: a plain HTTP server (anvil's answer to a GET is 4xx/405). */
    assert_int_equal(check("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", &head, &why),
                     ERR_UNAVAILABLE);
    assert_non_null(strstr(buf_cstr(&why), "HTTP 404"));
    assert_int_equal(check("HTTP/1.0 400 Bad Request\r\n\r\n", &head, &why), ERR_UNAVAILABLE);
    /* 101 that breaks a rule. */
    assert_int_equal(
        check("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n" /* one = short */,
              &head, &why),
        ERR_PROTO);
    assert_non_null(strstr(buf_cstr(&why), "Accept"));
    assert_int_equal(check("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n"
                           "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
                           &head, &why),
                     ERR_PROTO);
    assert_int_equal(check("HTTP/1.1 101 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
                           &head, &why),
                     ERR_PROTO);
    assert_int_equal(check("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: " ACCEPT
                           "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                           &head, &why),
                     ERR_PROTO);
    assert_int_equal(check("HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n", &head, &why), ERR_PROTO);
    assert_int_equal(check("HTTP/1.1 101 OK\r\nUpgrade: websocket\nX: y\r\n\r\n", &head, &why),
                     ERR_PROTO);
    assert_int_equal(check("SSH-2.0-OpenSSH_9.2\r\n\r\n", &head, &why), ERR_PROTO);
    assert_int_equal(check("HTTP/1.1 1O1 OK\r\n\r\n", &head, &why), ERR_PROTO);
    /* No end of headers within the cap. */
    char *big = malloc(WS_MAX_HANDSHAKE_BYTES + 1);
    assert_non_null(big);
    memset(big, 'a', WS_MAX_HANDSHAKE_BYTES);
    big[WS_MAX_HANDSHAKE_BYTES] = '\0';
    assert_int_equal(check(big, &head, &why), ERR_TOOBIG);
    free(big);
    buf_release(&why);
}

static void test_url_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "http://127.0.0.1:8545", "wss://node.example", "ws://",      "ws://:80",   "ws://h:0",
        "ws://h:65536",          "ws://h:80a",         "ws://h:",    "ws://u@h:1", "ws://[::1",
        "ws://[::1]x",           "ws://h/a b",         "ws://h#frag"};
    struct ws *w = (struct ws *)1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ws_opts o = {.url = bad[i], .cancel_fd = -1};
        assert_int_equal(ws_new(&o, &w), ERR_INVAL);
        assert_null(w);
    }
    struct ws_opts o = {.url = NULL, .cancel_fd = -1};
    assert_int_equal(ws_new(&o, &w), ERR_INVAL);
    ws_free(NULL);
}

/* ---- a server on the other end of a socketpair -------------------------- */

struct srv {
    int fd;
    char req[2048];      /* the request as received */
    const char *status;  /* status line and extra headers, NULL: a good 101 */
    const uint8_t *tail; /* bytes written right after the headers */
    size_t tail_len;
};

static void read_exact(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    size_t n = 0;
    while (n + 1 < sizeof s->req && strstr(s->req, "\r\n\r\n") == NULL) {
        ssize_t r = read(s->fd, s->req + n, sizeof s->req - 1 - n);
        if (r <= 0)
            return NULL;
        n += (size_t)r;
        s->req[n] = '\0';
    }
    const char *k = strstr(s->req, "Sec-WebSocket-Key: ");
    char key[64] = {0}, acc[WS_ACCEPT_LEN];
    if (k != NULL)
        memcpy(key, k + 19, strcspn(k + 19, "\r"));
    if (ws_accept_key(key, acc) != ERR_OK)
        return NULL;
    char out[1024];
    int len;
    if (s->status != NULL)
        len = snprintf(out, sizeof out, "%s\r\n\r\n", s->status);
    else
        len = snprintf(out, sizeof out,
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                       acc);
    if (s->tail_len > 0)
        memcpy(out + len, s->tail, s->tail_len);
    if (write(s->fd, out, (size_t)len + s->tail_len) < 0)
        return NULL;
    return NULL;
}

/* Connect a ws over a socketpair to srv (its fd set here); returns the
 * connect result. */
static enum err open_pair(struct srv *s, const char *url, int cancel_fd, size_t max_msg,
                          struct ws **w)
{
    int sv[2];
    pthread_t t;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s->fd = sv[1];
    memset(s->req, 0, sizeof s->req);
    struct ws_opts o = {.url = url, .cancel_fd = cancel_fd, .max_message_bytes = max_msg};
    assert_int_equal(ws_new(&o, w), ERR_OK);
    assert_int_equal(pthread_create(&t, NULL, srv_main, s), 0);
    enum err e = ws_connect_fd(*w, sv[0], 5000);
    pthread_join(t, NULL);
    if (e != ERR_OK)
        close(sv[0]);
    return e;
}

/* Read one masked client frame with a payload under 126 bytes; check the
 * first byte and the mask bit, return the unmasked payload length. */
static size_t read_client_frame(int fd, uint8_t b0, uint8_t *payload)
{
    uint8_t h[2], mask[4];
    read_exact(fd, h, 2);
    assert_int_equal(h[0], b0);
    assert_true(h[1] & 0x80); /* RFC 6455 section 5.3: clients mask */
    size_t n = h[1] & 0x7f;
    assert_true(n < 126);
    read_exact(fd, mask, 4);
    read_exact(fd, payload, n);
    for (size_t i = 0; i < n; i++)
        payload[i] ^= mask[i % 4];
    return n;
}

static void test_frames(void **state)
{
    (void)state;
    /* RFC 6455 section 5.7: a single-frame unmasked text message, then
     * the same fragmented, sent with the handshake answer. */
    static const uint8_t tail[] = {0x81, 0x05, 'H', 'e', 'l',  'l',  'o', 0x01,
                                   0x03, 'H',  'e', 'l', 0x80, 0x02, 'l', 'o'};
    struct srv s = {.tail = tail, .tail_len = sizeof tail};
    struct ws *w;
    struct buf m;
    uint8_t pl[200];
    buf_init(&m, 0);
    assert_int_equal(open_pair(&s, "ws://[::1]:8545/rpc?k=v", -1, 0, &w), ERR_OK);
    /* The request a server sees (RFC 6455 section 4.1). */
    assert_non_null(strstr(s.req, "GET /rpc?k=v HTTP/1.1\r\nHost: [::1]:8545\r\n"));
    assert_non_null(strstr(s.req, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(s.req, "\r\nSec-WebSocket-Version: 13\r\n"));
    const char *k = strstr(s.req, "Sec-WebSocket-Key: ");
    assert_non_null(k);
    assert_int_equal(strcspn(k + 19, "\r"), 24); /* base64 of 16 bytes */

    assert_int_equal(ws_recv(w, &m, 1000), ERR_OK);
    assert_int_equal(m.len, 5);
    assert_string_equal(buf_cstr(&m), "Hello");
    assert_int_equal(ws_recv(w, &m, 1000), ERR_OK);
    assert_string_equal(buf_cstr(&m), "Hello");
    /* Nothing more: a timeout leaves the connection usable. */
    assert_int_equal(ws_recv(w, &m, 20), ERR_TIMEDOUT);

    /* Client to server: masked, FIN + text. */
    assert_int_equal(ws_send_text(w, "Hello", 5, 1000), ERR_OK);
    assert_int_equal(read_client_frame(s.fd, 0x81, pl), 5);
    assert_memory_equal(pl, "Hello", 5);

    /* A ping is answered with a pong carrying the same payload (RFC 6455
     * section 5.7's unmasked ping), on the way to the next message. */
    static const uint8_t ping_then_hi[] = {0x89, 0x05, 'H',  'e', 'l', 'l',
                                           'o',  0x81, 0x02, 'h', 'i'};
    assert_int_equal(write(s.fd, ping_then_hi, sizeof ping_then_hi), (ssize_t)sizeof ping_then_hi);
    assert_int_equal(ws_recv(w, &m, 1000), ERR_OK);
    assert_string_equal(buf_cstr(&m), "hi");
    assert_int_equal(read_client_frame(s.fd, 0x8a, pl), 5);
    assert_memory_equal(pl, "Hello", 5);

    /* RFC 6455 section 5.7: 256 bytes in a single unmasked frame (16-bit
     * length 0x7E 0x0100). */
    uint8_t big[4 + 256];
    big[0] = 0x81, big[1] = 0x7e, big[2] = 0x01, big[3] = 0x00;
    for (int i = 0; i < 256; i++)
        big[4 + i] = (uint8_t)('a' + i % 26);
    assert_int_equal(write(s.fd, big, sizeof big), (ssize_t)sizeof big);
    assert_int_equal(ws_recv(w, &m, 1000), ERR_OK);
    assert_int_equal(m.len, 256);
    assert_memory_equal(m.data, big + 4, 256);

    /* Our ping; the server's pong is counted. */
    assert_int_equal(ws_pongs(w), 0);
    assert_int_equal(ws_ping(w, 1000), ERR_OK);
    assert_int_equal(read_client_frame(s.fd, 0x89, pl), 0);
    static const uint8_t pong_then_x[] = {0x8a, 0x00, 0x81, 0x01, 'x'};
    assert_int_equal(write(s.fd, pong_then_x, sizeof pong_then_x), (ssize_t)sizeof pong_then_x);
    assert_int_equal(ws_recv(w, &m, 1000), ERR_OK);
    assert_string_equal(buf_cstr(&m), "x");
    assert_int_equal(ws_pongs(w), 1);

    /* The server closes with 1001: the client answers with a close frame
     * and reports it. */
    static const uint8_t close_1001[] = {0x88, 0x02, 0x03, 0xe9};
    assert_int_equal(write(s.fd, close_1001, sizeof close_1001), (ssize_t)sizeof close_1001);
    assert_int_equal(ws_recv(w, &m, 1000), ERR_IO);
    assert_string_equal(ws_errmsg(w), "closed by peer (1001)");
    assert_int_equal(read_client_frame(s.fd, 0x88, pl), 2);
    assert_int_equal(pl[0], 0x03);
    assert_int_equal(pl[1], 0xe9);
    assert_int_equal(ws_send_text(w, "late", 4, 1000), ERR_STATE);
    assert_int_equal(ws_connect_fd(w, s.fd, 1000), ERR_STATE);
    ws_free(w);
    close(s.fd);
    buf_release(&m);
}

static void test_errors_on_the_wire(void **state)
{
    (void)state;
    struct ws *w;
    struct buf m;
    uint8_t pl[200];
    buf_init(&m, 0);

    /* A message over the cap: close 1009 and ERR_TOOBIG. */
    static const uint8_t hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    struct srv s = {.tail = hello, .tail_len = sizeof hello};
    assert_int_equal(open_pair(&s, "ws://127.0.0.1", -1, 4, &w), ERR_OK);
    assert_non_null(strstr(s.req, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    assert_int_equal(ws_recv(w, &m, 1000), ERR_TOOBIG);
    assert_int_equal(read_client_frame(s.fd, 0x88, pl), 2);
    assert_int_equal(pl[0] << 8 | pl[1], 1009);
    ws_free(w);
    close(s.fd);

    /* A masked frame from the server breaks RFC 6455 section 5.1: close
     * 1002 and ERR_PROTO. */
    static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                     0x7f, 0x9f, 0x4d, 0x51, 0x58};
    s = (struct srv){.tail = masked, .tail_len = sizeof masked};
    assert_int_equal(open_pair(&s, "ws://h:1", -1, 0, &w), ERR_OK);
    assert_int_equal(ws_recv(w, &m, 1000), ERR_PROTO);
    assert_int_equal(read_client_frame(s.fd, 0x88, pl), 2);
    assert_int_equal(pl[0] << 8 | pl[1], 1002);
    ws_free(w);
    close(s.fd);

    /* The TCP stream ends without a close frame. */
    s = (struct srv){0};
    assert_int_equal(open_pair(&s, "ws://h:1", -1, 0, &w), ERR_OK);
    close(s.fd);
    assert_int_equal(ws_recv(w, &m, 1000), ERR_IO);
    assert_string_equal(ws_errmsg(w), "connection closed by peer");
    ws_free(w);

    /* Cancellation: a readable cancel_fd ends a wait without limit. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    s = (struct srv){0};
    assert_int_equal(open_pair(&s, "ws://h:1", p[0], 0, &w), ERR_OK);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ws_recv(w, &m, -1), ERR_CANCELED);
    ws_free(w);
    close(s.fd);
    close(p[0]);
    close(p[1]);

    /* A plain HTTP server: ERR_UNAVAILABLE, its status in the message. */
    s = (struct srv){.status = "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0"};
    assert_int_equal(open_pair(&s, "ws://h:1", -1, 0, &w), ERR_UNAVAILABLE);
    assert_non_null(strstr(ws_errmsg(w), "HTTP 405"));
    ws_free(w);
    close(s.fd);

    /* A 101 with a wrong accept. */
    s = (struct srv){.status = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " ACCEPT};
    assert_int_equal(open_pair(&s, "ws://h:1", -1, 0, &w), ERR_PROTO);
    ws_free(w);
    close(s.fd);
    buf_release(&m);
}

static void test_connect_refused(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    close(fd);
    struct ws_opts o = {.url = url, .cancel_fd = -1};
    struct ws *w;
    assert_int_equal(ws_new(&o, &w), ERR_OK);
    assert_int_equal(ws_connect(w, 3000), ERR_IO);
    assert_non_null(strstr(ws_errmsg(w), "Connection refused"));
    ws_free(w);

    o.url = "ws://no-such-host.invalid:1";
    assert_int_equal(ws_new(&o, &w), ERR_OK);
    assert_int_equal(ws_connect(w, 3000), ERR_IO);
    assert_non_null(strstr(ws_errmsg(w), "resolve no-such-host.invalid"));
    ws_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc),     cmocka_unit_test(test_handshake_checks),
        cmocka_unit_test(test_url_errors),         cmocka_unit_test(test_frames),
        cmocka_unit_test(test_errors_on_the_wire), cmocka_unit_test(test_connect_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
