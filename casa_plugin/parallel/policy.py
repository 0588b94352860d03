"""Decide serial or parallel, and EBs at once per host, from the kind of work, its size and where the servers are.

Pure functions of plain values (no MPI, no CASA): ``decide`` before any server
is asked to start a worker, ``grow`` while a run goes. The rules follow what
was measured on ALMA-shaped EBs (see docs/parallel.md): a plain split is a
copy bound to one core and to the host's memory bandwidth (two at once on one
host gain little); an averaging split (``width`` > 1 or a ``timebin``) is
CPU-bound (two at once on two cores approach 2x); starting the servers'
workers costs seconds, more than a small project can win. A project's serial
time is its bytes at a per-core rate plus, where the row counts are known, a
cost per main-table row (small-row EBs take far longer than their bytes
suggest). Each rule compares quantities that differ by a factor of several,
so a 20-40 % drift of the machine's speed does not flip the choice.
"""

from ..record import averaging_text

__all__ = ["averages", "decide", "grow", "serial_seconds", "STARTUP_S", "PLAIN_BYTES_S",
           "AVERAGING_BYTES_S", "PLAIN_ROW_S", "AVERAGING_ROW_S"]

#: Seconds the servers' workers take to start (spawn, casatasks with only the worker's tasks, casampi round
#: trips). Measured 1.1-1.5 s on 2 cores, warm (2.3-2.7 s when workers imported all of casatasks); kept at
#: 3 s, cautious for cold caches and busy hosts: the measured cases below were decided with it.
STARTUP_S = 3.0
#: Seconds left of that when the workers were asked to start earlier (``start_workers``).
STARTED_S = 0.5
#: Input bytes per second of one plain split on one core (ALMA-shaped rows, warm page cache).
PLAIN_BYTES_S = 1.4e9
#: The same for an averaging split (CPU-bound: about half the plain split's rate).
AVERAGING_BYTES_S = 0.7e9
#: Seconds per main-table row of one plain split on one core, on top of the bytes (the per-row work of
#: the table system: row selection, the row-wise columns, FLAG_ROW...). Fitted on this VM to a small-row EB
#: (0.70 GB, 407,325 rows, ~1.7 KB a row): its plain split_sci+split_tgt chain took ~4.5 s, of which the
#: byte term gives 0.5 s, so ~4.0 s / 407,325 rows = ~10 us a row. On ALMA 12 m-shaped rows (8.1 GB,
#: 370,832 rows, ~22 KB a row) the bytes dominate and this adds ~4 s.
PLAIN_ROW_S = 10e-6
#: The same for an averaging split: its chain on that small-row EB took ~6.6 s, of which the byte term
#: gives 1.0 s, so ~5.6 s / 407,325 rows = ~14 us a row (rounded up to 15 us: averaging works row by row).
AVERAGING_ROW_S = 15e-6
#: Parallel only when running EBs side by side saves more than this many times the start-up.
_MARGIN = 2.0
#: A running EB using less CPU than this per wall second waits on I/O latency (grow).
_IDLE_CPU = 0.5
#: ... and reads less than this fraction of the host's yardstick.
_SLOW_IO = 0.5
#: ... over at least this many seconds.
_MIN_SECONDS = 10.0


def averages(job):
    """True if ``job`` (a split job, or a chain job ``{'sci': ..., 'tgt': ...}``) averages channels or time."""
    return bool(averaging_text(job))


def _per_host(hosts, cores, averaging, maxjobs):
    out = {}
    for host, nservers in hosts.items():
        if maxjobs:
            out[host] = min(maxjobs, nservers)
        elif averaging:
            out[host] = max(1, min(nservers, cores.get(host) or nservers))
        else:
            out[host] = 1
    return out


def serial_seconds(size, rows, averaging):
    """Seconds one EB of ``size`` input bytes and ``rows`` main-table rows (None: unknown) takes serially."""
    seconds = size / (AVERAGING_BYTES_S if averaging else PLAIN_BYTES_S)
    if rows is not None:
        seconds += rows * (AVERAGING_ROW_S if averaging else PLAIN_ROW_S)
    return seconds


def decide(*, parallel, hosts, client_host, cores, sizes, averaging, maxjobs=None, started=False, rows=None,
           unit="EB"):
    """Choose where the EBs run.

    Parameters
    ----------
    parallel : bool or None
        The task's option: False serial, True on the servers, None this policy.
    hosts : dict
        ``{host name: number of casampi servers there}``; empty outside MPI.
    client_host : str
        The client's host name.
    cores : dict
        ``{host name: cores}`` where known (at least the client's).
    sizes : list of int
        Input bytes each EB's job will split (0: only checked, e.g. its output exists).
    averaging : bool
        True if the jobs average channels or time (CPU-bound splits).
    maxjobs : int, optional
        EBs at once per host given by the user (overrides the rule, not the choice).
    started : bool
        True if the servers' workers were already asked to start.
    rows : list of int or None, optional
        Main-table rows of each EB's input, aligned with ``sizes`` (None, or a None entry: unknown; that EB
        is then weighed by its bytes only). Small rows cost time the bytes do not show.

    Returns
    -------
    dict
        ``{'mode': 'serial' or 'parallel', 'reason': str, 'per_host': {host: EBs at once}}``
        (``per_host`` empty when serial).
    """
    nservers = sum(hosts.values())
    if parallel is False:
        return _serial("parallel=False")
    if not nservers:
        return _serial("not an MPI client with casampi servers")
    per_host = _per_host(hosts, cores, averaging, maxjobs)
    kind = "%ss side by side" % unit if unit != "EB" else \
        "averaging splits (CPU-bound)" if averaging else "plain splits (bandwidth-bound)"
    where = ", ".join("%s: %d" % (h, n) for h, n in sorted(per_host.items()))
    if parallel:
        return {"mode": "parallel", "reason": "parallel=True: %s, %ss at once per host %s" % (kind, unit, where),
                "per_host": per_host}
    rows = list(rows or [])
    rows += [None] * (len(sizes) - len(rows))
    # EBs already done (or a dry run) only get checked
    work = [(size, nrows) for size, nrows in zip(sizes, rows) if size > 0]
    sizes = [size for size, _ in work]
    rows = [nrows for _, nrows in work]
    if len(sizes) < 2:
        return _serial("%d EB(s) to split: nothing to run side by side" % len(sizes))
    remote = [h for h in hosts if h != client_host]
    if not averaging and not remote:
        return _serial("plain splits on one host are bandwidth-bound (one split copies at about %.1f GB/s on "
                       "one core; two at once on one host finish little sooner), so the servers' start-up "
                       "would not pay" % (PLAIN_BYTES_S / 1e9))
    at_once = min(len(sizes), sum(per_host.values()))
    if at_once < 2:
        return _serial("%s, one EB at a time (EBs at once per host %s): the servers would only add their "
                       "start-up" % (kind, where))
    serial_s = sum(serial_seconds(size, nrows, averaging) for size, nrows in work)
    saved_s, startup = serial_s * (1 - 1.0 / at_once), STARTED_S if started else STARTUP_S
    if saved_s < _MARGIN * startup:
        return _serial("a small project: %d EB(s), %.2f GB, about %.1f s of %s serially%s; %d at once would "
                       "save about %.1f s, less than %g x the %.1f s it takes to start the servers' workers"
                       % (len(sizes), sum(sizes) / 1e9, serial_s, kind, _rows_text(rows, averaging), at_once,
                          saved_s, _MARGIN, startup))
    if not averaging:
        return {"mode": "parallel", "reason": "plain splits on %d hosts: one EB at a time per host (more only if "
                "the running EBs wait on I/O), EBs at once per host %s" % (len(hosts), where), "per_host": per_host}
    return {"mode": "parallel", "reason": "%s: as many EBs at once per host as it has cores and servers (%s)"
            % (kind, where), "per_host": per_host}


def _rows_text(rows, averaging):
    """`` (at 0.7 GB/s plus 15 us a row for 2,400 rows)`` where rows are known; '' otherwise."""
    known = [n for n in rows if n is not None]
    if not known:
        return ""
    of = "" if len(known) == len(rows) else " of %d EB(s)" % len(known)
    return " (at %.1f GB/s plus %g us a row for %s rows%s)" % (
        (AVERAGING_BYTES_S if averaging else PLAIN_BYTES_S) / 1e9,
        (AVERAGING_ROW_S if averaging else PLAIN_ROW_S) * 1e6, "{:,}".format(sum(known)), of)


def _serial(reason):
    return {"mode": "serial", "reason": reason, "per_host": {}}


def grow(level, nservers, cpu_per_s, bytes_per_s, yardstick, seconds):
    """Return the EBs at once for a host after one EB finished at ``level`` in ``seconds``.

    One more only if the EB ran long enough for its data to dominate (a short
    EB is mostly fixed costs: opening tables, saving flags), used well under a
    core (``cpu_per_s``, CPU seconds per wall second) and read far below the
    host's ``yardstick`` (bytes/s; a split is then waiting on I/O latency,
    e.g. a network filesystem, and a second EB fills the gaps). Unknown
    signals (None) keep the level.
    """
    if level >= nservers or cpu_per_s is None or not bytes_per_s or not yardstick or seconds < _MIN_SECONDS:
        return level
    if cpu_per_s < _IDLE_CPU and bytes_per_s < _SLOW_IO * yardstick:
        return level + 1
    return level
