/*
 * pymultus-shim, the compiled build: forwards one CNI call to the pymultus daemon.
 *
 * Same protocol as core/src/pymultus/daemon/shim.py (see pymultus.daemon.protocol):
 * POST /cni with {"env": {<whole environment>}, "config": "<base64 of stdin>"} and
 * "X-CNI-Protocol: stdout"; the answer's body is written to stdout unchanged and the
 * process exits with its X-CNI-Exit-Code (DEL errors included). libc only.
 *
 * Settings: PYMULTUS_SOCKET, else the netconf's top-level "daemonSocketDir" (directory
 * of pymultus.sock), else /run/pymultus/pymultus.sock. Timeouts in seconds from
 * PYMULTUS_SHIM_CONNECT_TIMEOUT / "shimConnectTimeout" (default 10: retry while the
 * daemon is absent) and PYMULTUS_SHIM_RESPONSE_TIMEOUT / "shimResponseTimeout"
 * (default 130). Unreachable or silent daemon: CNI error 11 naming the socket, exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Says "this binary is pymultus" to the exec fallback (pymultus_delegate_exec's
 * SHIM_MARKER), under whatever name it is installed: a delegate of that type would
 * send the call back to the daemon serving it. Keep the two strings equal. */
__attribute__((used)) static const char self_marker[] = "pymultus-self-marker: pymultus-shim v1";

typedef struct { char *p; size_t n, cap; } buf_t;

static void put(buf_t *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { fputs("pymultus-shim: out of memory\n", stderr); exit(1); }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

static void fail(const char *fmt, const char *a, const char *c) {
    char msg[1024];
    buf_t out = {0};
    snprintf(msg, sizeof msg, fmt, a, c);
    puts_(&out, "{\n    \"code\": 11,\n    \"msg\": \"pymultus-shim: ");
    for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\') { esc[0] = '\\'; esc[1] = (char)*s; put(&out, esc, 2); }
        else if (*s < 0x20 || *s == '<' || *s == '>' || *s == '&') {
            snprintf(esc, sizeof esc, "\\u%04x", *s); put(&out, esc, 6);
        } else put(&out, s, 1);
    }
    puts_(&out, "\"\n}");
    if (write(1, out.p, out.n) < 0) { /* nothing left to tell */ }
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len; unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++) if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

/* A JSON string. Bytes that are not UTF-8 become \udcXX, as Python's surrogateescape
 * reads them: the daemon sees the same text a thin pymultus would. */
static void json_str(buf_t *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    char esc[8];
    put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len = utf8_len(u + i, n - i);
        if (len == 0) { snprintf(esc, sizeof esc, "\\udc%02x", c); put(b, esc, 6); i++; continue; }
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; put(b, esc, 2); }
        else if (c == '\n') put(b, "\\n", 2);
        else if (c == '\t') put(b, "\\t", 2);
        else if (c == '\r') put(b, "\\r", 2);
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); put(b, esc, 6); }
        else put(b, u + i, len);
        i += len;
    }
    put(b, "\"", 1);
}

static void base64(buf_t *b, const unsigned char *s, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n) v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n) v |= s[i + 2];
        q[0] = t[v >> 18]; q[1] = t[(v >> 12) & 63];
        q[2] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? t[v & 63] : '=';
        put(b, q, 4);
    }
}

/* --- the netconf's few keys: a small walk over the top-level object ------------------ */
static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* Parse the string at p; decoded into out (if given); returns the end or NULL. */
static const char *jstring(const char *p, const char *e, buf_t *out) {
    if (p >= e || *p != '"') return NULL;
    for (p++; p < e; p++) {
        if (*p == '"') return p + 1;
        if (*p != '\\') { if (out) put(out, p, 1); continue; }
        if (++p >= e) return NULL;
        char c = *p;
        if (c == 'u') {
            if (e - p < 5) return NULL;
            char hex[5] = {p[1], p[2], p[3], p[4], 0};
            unsigned long cp = strtoul(hex, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && e - p > 6 && p[1] == '\\' && p[2] == 'u') {
                char lo[5] = {p[3], p[4], p[5], p[6], 0};
                unsigned long l = strtoul(lo, NULL, 16);
                if (l >= 0xDC00 && l < 0xE000) { cp = 0x10000 + ((cp - 0xD800) << 10) + (l - 0xDC00); p += 6; }
            }
            unsigned char u[4]; size_t k;
            if (cp < 0x80) { u[0] = (unsigned char)cp; k = 1; }
            else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | cp >> 6); u[1] = (unsigned char)(0x80 | (cp & 63)); k = 2; }
            else if (cp < 0x10000) { u[0] = (unsigned char)(0xE0 | cp >> 12); u[1] = (unsigned char)(0x80 | ((cp >> 6) & 63)); u[2] = (unsigned char)(0x80 | (cp & 63)); k = 3; }
            else { u[0] = (unsigned char)(0xF0 | cp >> 18); u[1] = (unsigned char)(0x80 | ((cp >> 12) & 63)); u[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)); u[3] = (unsigned char)(0x80 | (cp & 63)); k = 4; }
            if (out) put(out, u, k);
            continue;
        }
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *f = strchr(from, c);
        if (!f || !c) return NULL;
        if (out) put(out, to + (f - from), 1);
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *e) {
    if (p >= e) return NULL;
    if (*p == '"') return jstring(p, e, NULL);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < e) {
            if (*p == '"') { if (!(p = jstring(p, e, NULL))) return NULL; continue; }
            if (*p == '{' || *p == '[') depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && !strchr(",}] \t\r\n", *p)) p++;
    return p > s ? p : NULL;
}

/* The raw or decoded value of top-level key `key` (last one wins); 0 if absent. */
static int conf_value(const char *s, size_t n, const char *key, buf_t *val) {
    const char *e = s + n, *p = ws(s, e);
    int found = 0;
    if (!memmem(s, n, key, strlen(key)) || p >= e || *p != '{') return 0;
    p = ws(p + 1, e);
    if (p < e && *p == '}') return 0;
    while (p < e) {
        buf_t k = {0};
        const char *v;
        if (!(p = jstring(p, e, &k))) { free(k.p); return 0; }
        p = ws(p, e);
        if (p >= e || *p != ':') { free(k.p); return 0; }
        v = ws(p + 1, e);
        if (!(p = skip_value(v, e))) { free(k.p); return 0; }
        if (k.p && strcmp(k.p, key) == 0) {
            val->n = 0;
            if (*v == '"') jstring(v, e, val); else put(val, v, (size_t)(p - v));
            put(val, "", 0);
            found = 1;
        }
        free(k.p);
        p = ws(p, e);
        if (p < e && *p == '}') return found;
        if (p >= e || *p != ',') return 0;
        p = ws(p + 1, e);
    }
    return 0;
}

static double seconds(const char *env, const char *key, const char *conf, size_t n, double def) {
    const char *s = getenv(env);
    buf_t v = {0};
    double d = def;
    if ((!s || !*s) && conf_value(conf, n, key, &v)) s = v.p;
    if (s && *s) { char *end; double x = strtod(s, &end); if (end != s && x > 0 && x < 1e6) d = x; }
    free(v.p);
    return d;
}

int main(void) {
    const char *cmd = getenv("CNI_COMMAND");
    buf_t in = {0}, req = {0}, body = {0}, resp = {0}, dir = {0};
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)], tmp[8192], cl[32];
    if (!cmd || !*cmd) {
        fputs("CNI pymultus-shim plugin: forwards CNI calls to the pymultus daemon\n", stderr);
        return 0;
    }
    for (ssize_t r; (r = read(0, tmp, sizeof tmp)) != 0;) {
        if (r < 0) { if (errno == EINTR) continue; fail("error reading from stdin: %s%s", strerror(errno), ""); }
        put(&in, tmp, (size_t)r);
    }
    put(&in, "", 0);
    const char *path = getenv("PYMULTUS_SOCKET");
    if (path && *path) {
        if (strlen(path) >= sizeof sock_path) fail("socket path %s is too long%s", path, "");
        snprintf(sock_path, sizeof sock_path, "%s", path);
    } else {
        if (conf_value(in.p, in.n, "daemonSocketDir", &dir) && dir.n) {
            while (dir.n > 0 && dir.p[dir.n - 1] == '/') dir.p[--dir.n] = '\0';
            if ((size_t)snprintf(sock_path, sizeof sock_path, "%s/pymultus.sock", dir.p) >= sizeof sock_path)
                fail("socket path %s/pymultus.sock is too long%s", dir.p, "");
        } else snprintf(sock_path, sizeof sock_path, "/run/pymultus/pymultus.sock");
    }
    double ct = seconds("PYMULTUS_SHIM_CONNECT_TIMEOUT", "shimConnectTimeout", in.p, in.n, 10.0);
    double rt = seconds("PYMULTUS_SHIM_RESPONSE_TIMEOUT", "shimResponseTimeout", in.p, in.n, 130.0);

    puts_(&body, "{\"env\":{");
    int first = 1;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e) continue;
        if (!first) put(&body, ",", 1);
        first = 0;
        json_str(&body, *e, (size_t)(eq - *e));
        put(&body, ":", 1);
        json_str(&body, eq + 1, strlen(eq + 1));
    }
    puts_(&body, "},\"config\":\"");
    base64(&body, (const unsigned char *)in.p, in.n);
    puts_(&body, "\"}");
    snprintf(cl, sizeof cl, "%zu", body.n);
    puts_(&req, "POST /cni HTTP/1.1\r\nHost: pymultus\r\nContent-Type: application/json\r\n"
                "X-CNI-Protocol: stdout\r\nContent-Length: ");
    puts_(&req, cl);
    puts_(&req, "\r\nConnection: close\r\n\r\n");
    put(&req, body.p, body.n);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    double deadline = now() + ct;
    int fd;
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) fail("socket: %s%s", strerror(errno), "");
        double left = deadline - now();
        if (left < 0.001) left = 0.001;
        struct timeval tv = {.tv_sec = (time_t)left,
                             .tv_usec = (suseconds_t)((left - (double)(time_t)left) * 1e6)};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds a connect to a full backlog */
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) break;
        int err = errno;
        close(fd);
        if (err == EAGAIN || err == EINPROGRESS) {
            snprintf(tmp, sizeof tmp, "%gs", ct);
            fail("cannot reach the pymultus daemon at %s: connect timed out after %s", sock_path, tmp);
        }
        if (err != ENOENT && err != ECONNREFUSED)
            fail("cannot reach the pymultus daemon at %s: %s", sock_path, strerror(err));
        if (now() + 0.05 >= deadline) {
            snprintf(tmp, sizeof tmp, "%s (retried for %gs)", strerror(err), ct);
            fail("cannot reach the pymultus daemon at %s: %s", sock_path, tmp);
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (size_t off = 0; off < req.n;) {
        ssize_t w = send(fd, req.p + off, req.n - off, MSG_NOSIGNAL);
        if (w < 0) { if (errno == EINTR) continue; break; } /* EPIPE: the answer may be there */
        off += (size_t)w;
    }
    deadline = now() + rt;
    for (;;) {
        double left = deadline - now();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = left > 0 ? poll(&pfd, 1, (int)(left * 1000) + 1) : 0;
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) {
            snprintf(tmp, sizeof tmp, "%gs", rt);
            fail("no answer from the pymultus daemon at %s within %s", sock_path, tmp);
        }
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("lost the connection to the pymultus daemon at %s: %s", sock_path, strerror(errno));
        if (r == 0) break;
        put(&resp, tmp, (size_t)r);
    }
    close(fd);

    char *end = resp.p ? memmem(resp.p, resp.n, "\r\n\r\n", 4) : NULL;
    if (!end) fail("incomplete answer from the pymultus daemon at %s%s", sock_path, "");
    *end = '\0';
    const char *payload = end + 4;
    size_t plen = resp.n - (size_t)(payload - resp.p);
    long code = -1, length = -1;
    for (char *line = strstr(resp.p, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        char *colon = strchr(line, ':'), *v;
        if (!colon) continue;
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {}
        size_t nl = (size_t)(colon - line);
        if (nl == 15 && strncasecmp(line, "X-CNI-Exit-Code", 15) == 0) code = strtol(v, NULL, 10);
        else if (nl == 14 && strncasecmp(line, "Content-Length", 14) == 0) length = strtol(v, NULL, 10);
    }
    if (code < 0 || code > 255) {
        char *eol = strstr(resp.p, "\r\n");
        if (eol) *eol = '\0';
        fail("the pymultus daemon at %s answered '%s' without a CNI exit code", sock_path, resp.p);
    }
    if (length >= 0 && (size_t)length != plen)
        fail("truncated answer from the pymultus daemon at %s%s", sock_path, "");
    for (size_t off = 0; off < plen;) {
        ssize_t w = write(1, payload + off, plen - off);
        if (w < 0) { if (errno == EINTR) continue; return 1; }
        off += (size_t)w;
    }
    return (int)code;
}
