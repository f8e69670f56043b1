// caller makes an exact number of system calls, for the counter's tests.
//
//	caller WRITES GETPPIDS [PAUSE_MS [PHASES [WAIT_STDIN]]]
//
// It makes WRITES write(2) calls to /dev/null and GETPPIDS getppid(2)
// calls, split over PHASES phases (default 1) with PAUSE_MS milliseconds
// of sleep after each; with WAIT_STDIN = 1 it first reads its standard
// input until end of file, so many callers can be started and then let
// go at once.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long writes = atol(argv[1]), getppids = atol(argv[2]);
	long pause_ms = argc > 3 ? atol(argv[3]) : 0;
	long phases = argc > 4 ? atol(argv[4]) : 1;
	int wait_stdin = argc > 5 && atoi(argv[5]) == 1;
	char buf[64];
	if (wait_stdin)
		while (read(0, buf, sizeof buf) > 0)
			;
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0 || phases < 1)
		return 3;
	for (long p = 0; p < phases; p++) {
		long w = writes / phases + (p == phases - 1 ? writes % phases : 0);
		long g = getppids / phases + (p == phases - 1 ? getppids % phases : 0);
		for (long i = 0; i < w; i++)
			if (write(fd, "x", 1) != 1)
				return 4;
		for (long i = 0; i < g; i++)
			syscall(SYS_getppid);
		if (pause_ms > 0) {
			struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}
