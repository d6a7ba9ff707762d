/*
 * reload.c - re-read the configuration without risking the running process.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"
#include "reload.h"

#define RELOAD_CHECK_TIMEOUT_MS 10000

/*
 * Load path in a forked child and report its verdict: 0 valid, -1 with the
 * "FILE:LINE: message" lines (or why the check failed) in msg.  libconfig
 * may exit() or crash on some inputs; only the child pays for that.
 */
static int
reload_check_in_child(const char *path, char *msg, size_t len)
{
	int fds[2], status = 0;
	size_t got = 0;
	pid_t pid;
	ssize_t n;
	struct pollfd pfd;
	struct timespec t0, t1;

	if (pipe(fds) == -1) {
		snprintf(msg, len, "cannot check the configuration: pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		snprintf(msg, len, "cannot check the configuration: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		char *errs = NULL;
		struct config *c;

		close(fds[0]);
		c = config_load(path, &errs);
		if (c == NULL && errs != NULL && write(fds[1], errs, strlen(errs)) == -1)
			_exit(3);
		_exit(c != NULL ? 0 : 1);
	}
	close(fds[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (;;) {
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = RELOAD_CHECK_TIMEOUT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			break;
		n = read(fds[0], msg + got, len - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got >= len - 1)
			break;
	}
	msg[got] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && got > 0) {
		/* one line per error, without the last newline */
		while (got > 0 && msg[got - 1] == '\n')
			msg[--got] = '\0';
		return -1;
	}
	if (WIFSIGNALED(status))
		snprintf(msg, len, "%s:1: the configuration check crashed (signal %d); "
		    "nothing changed", path, WTERMSIG(status));
	else
		snprintf(msg, len, "%s:1: the configuration could not be read (the parser stopped "
		    "with exit status %d); nothing changed", path, WEXITSTATUS(status));
	return -1;
}

int
reload_run(const struct actor *who, char *msg, size_t len)
{
	(void)who;
	if (reload_check_in_child(rt.cfg->path, msg, len) == -1)
		return -1;
	snprintf(msg, len, "%s is valid, but applying a new configuration to a running proxy "
	    "is not supported by this build yet; restart to apply it", rt.cfg->path);
	return -1;
}
