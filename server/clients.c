/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What cotterd knows of each client address: how many connections it holds (for the
 * per-client cap) and its token bucket for POST /rec (the rate limit). One table for every
 * listener, so the limits are global. An entry lives while the address holds a connection or
 * its bucket is refilling. IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotterd.h"

#define BUCKETS 4096

struct client {
	struct client *next;
	uint8_t addr[16];
	unsigned conns;
	double tokens;
	long long refilled_ms;
};

static struct {
	pthread_mutex_t lock;
	struct client *bucket[BUCKETS];
	unsigned max_per_client;
	double rate, burst;
} tab = {.lock = PTHREAD_MUTEX_INITIALIZER};

void clients_init(unsigned max_per_client, unsigned rec_rate, unsigned rec_burst)
{
	tab.max_per_client = max_per_client;
	tab.rate = rec_rate;
	tab.burst = rec_burst;
}

/* 16 bytes for any address: IPv4 as ::ffff:a.b.c.d, like a mapped IPv6 address. */
static bool address_key(const struct sockaddr *sa, uint8_t key[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa->sa_family == AF_INET) {
		memcpy(key, mapped, 12);
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static unsigned hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % BUCKETS;
}

static struct client **find(const uint8_t key[16])
{
	struct client **p = &tab.bucket[hash(key)];

	while (*p != NULL && memcmp((*p)->addr, key, 16) != 0)
		p = &(*p)->next;
	return p;
}

static void refill(struct client *c, long long now)
{
	if (tab.rate <= 0)
		return;
	c->tokens += (double)(now - c->refilled_ms) * tab.rate / 1000.0;
	if (c->tokens > tab.burst)
		c->tokens = tab.burst;
	c->refilled_ms = now;
}

/* Frees an entry that holds nothing: no connection, a full bucket. */
static void release_if_unused(struct client **p, long long now)
{
	struct client *c = *p;

	refill(c, now);
	if (c->conns > 0 || (tab.rate > 0 && c->tokens < tab.burst))
		return;
	*p = c->next;
	free(c);
}

struct client *clients_connect(const struct sockaddr *sa, enum client_verdict *verdict)
{
	struct client **p, *c = NULL;
	uint8_t key[16];

	*verdict = CLIENT_OK;
	if (!address_key(sa, key))
		return NULL; /* not IP (inetd relays): no per-client state */
	pthread_mutex_lock(&tab.lock);
	p = find(key);
	if (*p == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			*verdict = CLIENT_NOMEM;
			goto out;
		}
		memcpy(c->addr, key, 16);
		c->tokens = tab.burst;
		c->refilled_ms = now_ms();
		*p = c;
	}
	c = *p;
	if (tab.max_per_client > 0 && c->conns >= tab.max_per_client) {
		*verdict = CLIENT_TOO_MANY;
		c = NULL;
		goto out;
	}
	c->conns++;
out:
	pthread_mutex_unlock(&tab.lock);
	return c;
}

void clients_disconnect(struct client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&tab.lock);
	c->conns--;
	release_if_unused(find(c->addr), now_ms());
	pthread_mutex_unlock(&tab.lock);
}

bool clients_rec_allowed(struct client *c, unsigned *retry_after)
{
	bool ok = true;

	if (c == NULL || tab.rate <= 0)
		return true;
	pthread_mutex_lock(&tab.lock);
	refill(c, now_ms());
	if (c->tokens >= 1.0) {
		c->tokens -= 1.0;
	} else {
		/* whole seconds until one token is back, at least 1 (Retry-After has no fraction)
		 */
		double s = (1.0 - c->tokens) / tab.rate;

		*retry_after = s <= 1.0 ? 1 : (unsigned)(s + 0.999);
		ok = false;
	}
	pthread_mutex_unlock(&tab.lock);
	return ok;
}

void clients_name(const struct client *c, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN];

	if (c == NULL) {
		snprintf(out, outsz, "<unknown>");
		return;
	}
	if (memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		inet_ntop(AF_INET, c->addr + 12, host, sizeof(host));
	else
		inet_ntop(AF_INET6, c->addr, host, sizeof(host));
	snprintf(out, outsz, "%s", host);
}

void clients_purge(void)
{
	long long now = now_ms();

	pthread_mutex_lock(&tab.lock);
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct client **p = &tab.bucket[b];

		while (*p != NULL) {
			struct client *c = *p;

			release_if_unused(p, now);
			if (*p == c)
				p = &c->next;
		}
	}
	pthread_mutex_unlock(&tab.lock);
}
