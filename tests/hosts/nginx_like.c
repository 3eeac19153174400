/* nginx_like: a stand-in for nginx with the same function names and request
 * struct shape that specs/nginx.eim.yaml names, so tests resolve that spec for real.
 *
 * usage: nginx_like [ROUNDS]   (default 100)
 * Serves a fixed list of URIs ROUNDS times through ngx_http_process_request() and
 * ngx_http_finalize_request(), then prints
 *     requests=R ok=A forbidden=F other=O
 * Without extensions every request ends with status 200 (ok=R).  A firewall
 * extension at processBegin that writes r->headers_out.status = 403 makes the body
 * keep that status, so forbidden counts the requests it refused.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define NOINLINE __attribute__((noipa, used))  /* noipa: callers must not be specialised on what GCC sees the callee read */

typedef intptr_t ngx_int_t;
typedef uintptr_t ngx_uint_t;
typedef unsigned char u_char;
typedef uint64_t ngx_msec_t;

typedef struct {
    size_t len;
    u_char *data;
} ngx_str_t;

typedef struct {
    ngx_str_t host;
    ngx_str_t user_agent;
    off_t content_length_n;
} ngx_http_headers_in_t;

typedef struct {
    ngx_uint_t status;
    off_t content_length_n;
} ngx_http_headers_out_t;

typedef struct ngx_http_request_s ngx_http_request_t;

struct ngx_http_request_s {
    uint32_t signature;
    ngx_uint_t method;
    ngx_str_t uri;
    ngx_str_t args;
    ngx_http_headers_in_t headers_in;
    ngx_http_headers_out_t headers_out;
    uint32_t client_addr;
    unsigned internal:1;
    unsigned keepalive:1;
};

pid_t ngx_pid;
volatile ngx_msec_t ngx_current_msec = 1;
static long ok_count, forbidden_count, other_count;
static u_char access_log[4096];
static size_t access_log_len;

NOINLINE uint64_t ngx_time(void)
{
    return 1700000000u + (uint64_t)ngx_current_msec / 1000;
}

NOINLINE u_char *ngx_copy_header(u_char *dst, u_char *src, size_t n)
{
    return memcpy(dst, src, n);
}

/* Appends len bytes to the (in-memory) access log; returns bytes written. */
NOINLINE ssize_t ngx_write_access_log(u_char *buf, size_t len)
{
    if (len > sizeof access_log - access_log_len)
        len = sizeof access_log - access_log_len;
    memcpy(access_log + access_log_len, buf, len);
    access_log_len += len;
    return (ssize_t)len;
}

NOINLINE void ngx_http_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc != 0 && r->headers_out.status == 200)
        r->headers_out.status = (ngx_uint_t)rc;
    switch (r->headers_out.status) {
    case 200: ok_count++; break;
    case 403: forbidden_count++; break;
    default: other_count++; break;
    }
}

NOINLINE void ngx_http_process_request(ngx_http_request_t *r)
{
    ngx_current_msec++;
    if (r->headers_out.status == 0)
        r->headers_out.status = 200;
    r->headers_out.content_length_n = (off_t)r->uri.len * 10;
    ngx_http_finalize_request(r, 0);
}

int main(int argc, char **argv)
{
    static const char *uris[] = { "/index.html", "/admin/login", "/static/app.js",
                                  "/../etc/passwd", "/api/v1/items?id=7" };
    long rounds = 100;
    if (argc > 1) {
        char *end;
        errno = 0;
        rounds = strtol(argv[1], &end, 10);
        if (errno != 0 || *end != '\0' || rounds < 0) {
            fprintf(stderr, "nginx_like: bad ROUNDS '%s'\n", argv[1]);
            return 2;
        }
    }
    ngx_pid = getpid();
    u_char host[] = "example.org";
    long n = 0;
    for (long k = 0; k < rounds; k++) {
        for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++, n++) {
            ngx_http_request_t r;
            memset(&r, 0, sizeof r);
            r.signature = 0x4E47494E; /* "NGIN" */
            r.method = 2;             /* GET */
            r.uri.len = strlen(uris[i]);
            r.uri.data = (u_char *)uris[i];
            r.headers_in.host.len = sizeof host - 1;
            r.headers_in.host.data = host;
            r.client_addr = 0x0100007f + (uint32_t)(i << 24);
            ngx_http_process_request(&r);
        }
    }
    printf("requests=%ld ok=%ld forbidden=%ld other=%ld\n", n, ok_count, forbidden_count,
           other_count);
    return 0;
}
