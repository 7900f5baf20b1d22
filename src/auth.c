/*
 * auth.c -- see auth.h.  Every line that handles access token bytes
 * outside the refresher's own buffers is here.
 */
#include <sys/mman.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bounds.h"
#include "io.h"
#include "secret.h"

#define PREFIX          "Bearer "
#define PREFIX_LENGTH   (sizeof PREFIX - 1)
#define SLOTS           2

struct slot {
	char *p;                /* its own pages: locked, read-only at rest */
	size_t size;
	size_t length;          /* 0: empty (wiped) */
	int readers;            /* requests holding it */
	int64_t expiry;         /* clock_ms() */
	uint64_t generation;
};

static struct {
	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t changed; /* a reader let go, a refresh is asked for */
	bool tokens;            /* false: the API key */
	bool stopping;
	bool refresh_requested;
	int current;            /* -1: no token yet */
	uint64_t generation;
	uint64_t rejected;      /* the last generation answered 401 */
	const char *failure;
	struct slot slot[SLOTS];
} state = { .lock = PTHREAD_MUTEX_INITIALIZER, .current = -1 };

static void
wipe_slot(struct slot *s)
{
	(void)mprotect(s->p, s->size, PROT_READ | PROT_WRITE);
	explicit_bzero(s->p, s->size);
	(void)mprotect(s->p, s->size, PROT_READ);
	s->length = 0;
}

int
auth_use_tokens(bool *locked)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t page_size = page > 0 ? (size_t)page : 4096;
	size_t size = (PREFIX_LENGTH + CREDENTIAL_MAX + page_size - 1) /
	    page_size * page_size;
	pthread_condattr_t attr;
	int i;

	*locked = true;
	for (i = 0; i < SLOTS; i++) {
		void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -1;
		(void)madvise(p, size, MADV_DONTDUMP);
		if (mlock(p, size) != 0)
			*locked = false;
		state.slot[i].p = p;
		state.slot[i].size = size;
	}
	/* Timed waits on the monotonic clock, as clock_ms() is. */
	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&state.changed, &attr) != 0)
		return -1;
	pthread_condattr_destroy(&attr);
	state.tokens = true;
	return 0;
}

/* Wait on state.changed (lock held) until `until` at most. */
static void
wait_until(int64_t until)
{
	struct timespec ts = { (time_t)(until / 1000),
	    (long)(until % 1000) * 1000000L };

	(void)pthread_cond_timedwait(&state.changed, &state.lock, &ts);
}

int
auth_install(const char *token, size_t length, int64_t expiry,
    int64_t deadline)
{
	struct slot *s;
	int target, old;

	if (length > CREDENTIAL_MAX)
		return -1;
	pthread_mutex_lock(&state.lock);
	old = state.current;
	target = old < 0 ? 0 : 1 - old;
	s = &state.slot[target];
	/* A request still writing its head with the token before last. */
	while (!state.stopping && s->readers > 0 && clock_ms() < deadline)
		wait_until(deadline);
	if (state.stopping || s->readers > 0) {
		pthread_mutex_unlock(&state.lock);
		return -1;
	}
	(void)mprotect(s->p, s->size, PROT_READ | PROT_WRITE);
	memcpy(s->p, PREFIX, PREFIX_LENGTH);
	memcpy(s->p + PREFIX_LENGTH, token, length);
	(void)mprotect(s->p, s->size, PROT_READ);
	s->length = PREFIX_LENGTH + length;
	s->expiry = expiry;
	s->generation = ++state.generation;
	state.current = target;
	state.failure = NULL;
	if (old >= 0 && state.slot[old].readers == 0)
		wipe_slot(&state.slot[old]);
	pthread_mutex_unlock(&state.lock);
	return 0;
}

int
auth_acquire(struct auth_hold *hold, const char **why)
{
	struct slot *s;

	if (!state.tokens) {
		hold->value = secret_header_value(&hold->length);
		hold->slot = -1;
		hold->generation = 0;
		return 0;
	}
	pthread_mutex_lock(&state.lock);
	if (state.current < 0 || state.slot[state.current].length == 0 ||
	    clock_ms() >= state.slot[state.current].expiry) {
		if (state.current >= 0) {
			s = &state.slot[state.current];
			if (s->readers == 0 && s->length != 0)
				wipe_slot(s);   /* expired: of no use now */
		}
		*why = state.failure != NULL ? state.failure :
		    "no valid workload identity token yet (refresh in progress)";
		pthread_mutex_unlock(&state.lock);
		return -1;
	}
	s = &state.slot[state.current];
	s->readers++;
	hold->value = s->p;
	hold->length = s->length;
	hold->slot = state.current;
	hold->generation = s->generation;
	pthread_mutex_unlock(&state.lock);
	return 0;
}

void
auth_release(struct auth_hold *hold)
{
	struct slot *s;

	if (hold->slot < 0)
		return;
	pthread_mutex_lock(&state.lock);
	s = &state.slot[hold->slot];
	if (--s->readers == 0) {
		if (hold->slot != state.current && s->length != 0)
			wipe_slot(s);
		pthread_cond_broadcast(&state.changed);
	}
	pthread_mutex_unlock(&state.lock);
	hold->value = NULL;
	hold->slot = -1;
}

void
auth_rejected(const struct auth_hold *hold)
{
	if (!state.tokens)
		return;
	pthread_mutex_lock(&state.lock);
	if (hold->generation == state.generation &&
	    state.rejected != hold->generation) {
		state.rejected = hold->generation;
		state.refresh_requested = true;
		pthread_cond_broadcast(&state.changed);
	}
	pthread_mutex_unlock(&state.lock);
}

void
auth_set_failure(const char *why)
{
	pthread_mutex_lock(&state.lock);
	state.failure = why;
	pthread_mutex_unlock(&state.lock);
}

bool
auth_wait_for_refresh(int64_t until, int64_t earliest, bool *requested)
{
	bool refresh;

	pthread_mutex_lock(&state.lock);
	for (;;) {
		int64_t now = clock_ms();

		if (state.stopping || now >= until ||
		    (state.refresh_requested && now >= earliest))
			break;
		wait_until(state.refresh_requested && earliest < until ?
		    earliest : until);
	}
	refresh = !state.stopping;
	*requested = state.refresh_requested;
	state.refresh_requested = false;
	pthread_mutex_unlock(&state.lock);
	return refresh;
}

void
auth_stop(void)
{
	int i;

	if (!state.tokens)
		return;
	pthread_mutex_lock(&state.lock);
	state.stopping = true;
	pthread_cond_broadcast(&state.changed);
	/* Requests still finishing find zeros, as with the key. */
	for (i = 0; i < SLOTS; i++)
		wipe_slot(&state.slot[i]);
	pthread_mutex_unlock(&state.lock);
}
