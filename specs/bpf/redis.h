/* Types of tests/hosts/redis_like.c (redis's names) as the redis extensions see them. */
#ifndef REDIS_H
#define REDIS_H
#define CLIENT_FORCE_AOF (1 << 6)

typedef struct client {
	unsigned long long id;
	int argc;
	void *argv;
	void *cmd;
	int flags;
	long long woff;
	char name[16];
} client;

struct redisServer {
	long long dirty;
	int aof_fsync;
	long long aof_last_fsync;
	unsigned long aof_buf_len;
	long long stat_fsyncs;
	char aof_buf[256];
};
#endif
