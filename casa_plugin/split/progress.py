"""Progress of a long split: bytes written, rate and time left, while CASA writes the output."""

import logging
import sys
import threading
import time
from contextlib import contextmanager

from ..ms import du_bytes
from ..parallel._casampi import launched_by_mpi

__all__ = ["watch", "LOG_EVERY"]

log = logging.getLogger(__name__)
LOG_EVERY = 60.0   # seconds between progress lines in the log
_POLL = 2.0        # seconds between looks at the output (and live-line updates on a terminal)


def _line(label, written, expected, elapsed):
    rate = written / max(elapsed, 1e-3)
    text = "%s: %.2f of ~%.2f GB written, %.0f MB/s" % (label, written / 1e9, expected / 1e9, rate / 1e6)
    if rate > 0 and expected > written:
        text += ", ~%.0f s left" % ((expected - written) / rate)
    return text


def _terminal():
    """True if a live line (carriage return, clear to the end of the line) can be drawn on stdout.

    Never in an MPI rank: Open MPI hands each rank a pseudo-terminal even when mpirun's output goes to a file, so
    a rank's isatty() says nothing about where its lines end up.
    """
    if launched_by_mpi():
        return False
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


class _Watcher(threading.Thread):
    def __init__(self, path, expected, label, log_every, poll):
        super(_Watcher, self).__init__(name="casa_plugin-progress")
        self.daemon = True
        self.path, self.expected, self.label = path, expected, label
        self.log_every, self.poll = log_every, poll
        self.stop = threading.Event()
        self.live = _terminal()
        self.lines = 0

    def run(self):
        start = last = time.time()
        while not self.stop.wait(self.poll):
            now = time.time()
            text = _line(self.label, du_bytes(self.path), self.expected, now - start)
            if now - last >= self.log_every:
                log.info(text)
                last, self.lines = now, self.lines + 1
            elif self.live:
                sys.stdout.write("\r" + text + "\033[K")
                sys.stdout.flush()
        if self.live:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()


@contextmanager
def watch(path, expected, label, log_every=None, poll=None):
    """Report the growth of ``path`` (an output being written) while the block runs.

    At most one log line every ``LOG_EVERY`` seconds (bytes written, MB/s, time
    left against ``expected`` bytes), and a live line on a terminal. Never
    raises: progress must not disturb the split.
    """
    watcher = _Watcher(path, max(int(expected), 1), label, LOG_EVERY if log_every is None else log_every,
                       _POLL if poll is None else poll)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop.set()
        watcher.join(5)
