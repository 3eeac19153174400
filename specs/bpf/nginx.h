/* Types of tests/hosts/nginx_like.c (nginx's layout) as the nginx extensions see them. */
#ifndef NGINX_H
#define NGINX_H
typedef struct {
	unsigned long len;
	unsigned char *data;
} ngx_str_t;

typedef struct ngx_http_request_s {
	unsigned int signature;
	unsigned long method;
	ngx_str_t uri;
	ngx_str_t args;
	struct {
		ngx_str_t host;
		ngx_str_t user_agent;
		long content_length_n;
	} headers_in;
	struct {
		unsigned long status;
		long content_length_n;
	} headers_out;
	unsigned int client_addr;
	unsigned int bits;
} ngx_http_request_t;
#endif
