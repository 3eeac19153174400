/* Types of tests/hosts/demo_host.c as the demo extensions see them. */
#ifndef DEMO_H
#define DEMO_H
struct request {
	int id;
	int status;
	char path[24];
	unsigned long long bytes;
	struct {
		unsigned short port;
		unsigned short flags;
	} peer;
};
#endif
