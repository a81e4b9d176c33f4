/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * --allow CIDR: the client addresses cotterd answers. Without any --allow every address is
 * answered (Tang's behaviour); with some, other peers get 403 on every request, and a log
 * line says which address was refused. IPv4 rules also match IPv4-mapped IPv6 peers (a dual-
 * stack socket), so "--allow 192.0.2.0/24" means the same on every listener.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotterd.h"

#define MAX_RULES 64

struct rule {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	unsigned bits;	  /* prefix length over the 16 bytes */
};

static struct rule rules[MAX_RULES];
static size_t nrules;

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int allow_add(const char *cidr, struct cotter_error *err)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	size_t hl = slash != NULL ? (size_t)(slash - cidr) : strlen(cidr);
	struct rule r = {0};
	unsigned long bits;
	unsigned max;
	char *end;

	if (nrules == MAX_RULES)
		return cotter_error_set(err, COTTER_E_USAGE, "at most %d --allow", MAX_RULES);
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, cidr, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, r.addr + 12) == 1) {
		memcpy(r.addr, v4mapped, 12);
		max = 32;
	} else if (inet_pton(AF_INET6, host, r.addr) == 1) {
		max = 128;
	} else {
		goto bad;
	}
	bits = max;
	if (slash != NULL) {
		bits = strtoul(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || slash[1] == '-' || bits > max)
			goto bad;
	}
	r.bits = (unsigned)bits + (max == 32 ? 96 : 0);
	/* host bits set in the address are ignored, as routers do */
	for (unsigned i = r.bits; i < 128; i++)
		r.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	rules[nrules++] = r;
	return 0;
bad:
	return cotter_error_set(err, COTTER_E_USAGE,
				"--allow %s: expected ADDRESS[/PREFIX], e.g. 192.0.2.0/24 or "
				"2001:db8::/32",
				cidr);
}

bool allow_enabled(void)
{
	return nrules > 0;
}

bool allow_peer(const struct sockaddr *sa)
{
	uint8_t a[16];

	if (nrules == 0)
		return true;
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(a, v4mapped, 12);
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return false; /* not IP: no address to allow */
	}
	for (size_t i = 0; i < nrules; i++) {
		unsigned full = rules[i].bits / 8, rest = rules[i].bits % 8;

		if (memcmp(a, rules[i].addr, full) != 0)
			continue;
		if (rest == 0 ||
		    ((a[full] ^ rules[i].addr[full]) & (uint8_t)(0xff00u >> rest)) == 0)
			return true;
	}
	return false;
}
