/*
 * config_check.c - load a configuration without risking the process.
 *
 * libconfig 1.5 calls exit() from inside its scanner on some inputs (flex's
 * "input in flex scanner failed" when an @include opens a directory, for
 * one) and may misbehave on others.  So the file is first loaded in a
 * forked child; only when the child accepted it is it loaded again in the
 * caller.  A child that exits otherwise or dies becomes a FILE:LINE error,
 * never the end of the running proxy or of `bgproxy -t`.
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

#include "config.h"

#define CONFIG_CHECK_TIMEOUT_MS 10000
#define CONFIG_CHECK_MSG_MAX 65536

static long
config_check_elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* What the child wrote, up to len - 1 bytes, within the time limit. */
static size_t
config_check_read(int fd, pid_t pid, char *msg, size_t len)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct timespec t0;
	size_t got = 0;
	ssize_t n;
	long left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < len - 1) {
		left = CONFIG_CHECK_TIMEOUT_MS - config_check_elapsed_ms(&t0);
		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			break;
		n = read(fd, msg + got, len - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	msg[got] = '\0';
	return got;
}

/*
 * The child's verdict: 0 when it accepted path; -1 with *errs set to its
 * FILE:LINE lines, or to one line saying how the check itself ended.
 */
static int
config_check_child(const char *path, char **errs)
{
	int fds[2], status = 0;
	char *msg;
	size_t got;
	pid_t pid;

	*errs = NULL;
	msg = malloc(CONFIG_CHECK_MSG_MAX);
	if (msg == NULL || pipe(fds) == -1) {
		free(msg);
		if (asprintf(errs, "%s:1: cannot check the configuration: %s\n", path,
		    strerror(errno)) == -1)
			*errs = NULL;
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		if (asprintf(errs, "%s:1: cannot check the configuration: fork: %s\n", path,
		    strerror(errno)) == -1)
			*errs = NULL;
		close(fds[0]);
		close(fds[1]);
		free(msg);
		return -1;
	}
	if (pid == 0) {
		char *e = NULL;
		struct config *c;

		close(fds[0]);
		/* what libconfig prints before it exits is part of the answer */
		if (dup2(fds[1], STDERR_FILENO) == -1)
			_exit(3);
		c = config_load(path, &e);
		if (c == NULL && e != NULL && write(fds[1], e, strlen(e)) == -1)
			_exit(3);
		_exit(c != NULL ? 0 : 1);
	}
	close(fds[1]);
	got = config_check_read(fds[0], pid, msg, CONFIG_CHECK_MSG_MAX);
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		free(msg);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && got > 0) {
		if (msg[got - 1] != '\n' && got < CONFIG_CHECK_MSG_MAX - 1)
			msg[got] = '\n', msg[got + 1] = '\0';
		*errs = msg;
		return -1;
	}
	/* libconfig's last words, on one line */
	while (got > 0 && (msg[got - 1] == '\n' || msg[got - 1] == '\r'))
		msg[--got] = '\0';
	for (size_t i = 0; i < got; i++)
		if ((unsigned char)msg[i] < 0x20)
			msg[i] = ' ';
	if (got > 200)
		msg[got = 200] = '\0';
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		got = (size_t)asprintf(errs, "%s:1: the configuration check took longer than %d ms\n",
		    path, CONFIG_CHECK_TIMEOUT_MS);
	else if (WIFSIGNALED(status))
		got = (size_t)asprintf(errs, "%s:1: the configuration check crashed (signal %d)\n",
		    path, WTERMSIG(status));
	else
		got = (size_t)asprintf(errs, "%s:1: the configuration could not be read: libconfig "
		    "stopped the parser%s%s%s (exit status %d); check @include paths and escapes\n",
		    path, got ? " (\"" : "", msg, got ? "\")" : "", WEXITSTATUS(status));
	free(msg);
	if (got == (size_t)-1)
		*errs = NULL;
	return -1;
}

struct config *
config_load_checked(const char *path, char **errs)
{
	if (config_check_child(path, errs) == -1) {
		if (*errs == NULL)
			*errs = strdup("out of memory\n");
		return NULL;
	}
	return config_load(path, errs);
}
