"""``python -m casa_plugin submit|status PROJECT``: a programme on a batch cluster, from the shell."""

import argparse
import logging
import sys

from .scheduler import SchedulerError, scheduler_named
from .status import FAILED, project_status, status_lines
from .submit import submit, summary_line

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(prog="python -m casa_plugin", description="Restore and split a whole ALMA "
                                     "programme on a batch cluster: one job per member (docs/cluster.md).")
    sub = parser.add_subparsers(dest="command")
    sub.required = True
    one = sub.add_parser("submit", help="submit one job per member that is not done and has no job queued")
    one.add_argument("project", help="the project directory (or any directory above members)")
    one.add_argument("--scheduler", default="slurm", choices=["slurm"])
    one.add_argument("--partition")
    one.add_argument("--account")
    one.add_argument("--time", type=int, metavar="MINUTES", help="time limit per job (default: from raw/ size)")
    one.add_argument("--mem", type=int, metavar="MB", help="memory per job (default: by the member's array)")
    one.add_argument("--max-running", type=int, metavar="N", help="at most N jobs of the programme at once")
    one.add_argument("--casa", help="the CASA for every job (default: per member, the release it names)")
    one.add_argument("--scratch", metavar="DIR", help="restore on the node's own disk in DIR (e.g. '$TMPDIR', "
                     "quoted: expanded on the node), then move calibrated/ back, checked")
    one.add_argument("--checkdisk", default="True", choices=["True", "False"], help="refuse a programme whose "
                     "restores would not fit their filesystems by the scriptForPI's own disk rule (default True, "
                     "as restore_pi's checkdisk)")
    one.add_argument("--dry-run", action="store_true", help="write the job scripts, submit nothing")
    one.add_argument("--pipeline", choices=["standin"], help=argparse.SUPPRESS)  # synthetic deliveries (tests)
    two = sub.add_parser("status", help="each member's state: pending, running, done, failed with the reason")
    two.add_argument("project")
    two.add_argument("--scheduler", default="slurm", choices=["slurm"])
    return parser


def main(argv=None):
    """Run the command line; return the exit status (1 when a member failed or nothing could be submitted)."""
    args = _parser().parse_args(argv)
    logger = logging.getLogger("casa_plugin")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        if args.command == "submit":
            result = submit(args.project, scheduler=args.scheduler, partition=args.partition, account=args.account,
                            time=args.time, mem=args.mem, max_running=args.max_running, dry_run=args.dry_run,
                            casa=args.casa, scratch=args.scratch, checkdisk=args.checkdisk == "True",
                            standin=args.pipeline == "standin")
            print(summary_line(result, args.project))
            return 0
        statuses = project_status(args.project, scheduler_named(args.scheduler))
        for line in status_lines(statuses):
            print(line)
        return 1 if any(st["state"] == FAILED for st in statuses.values()) else 0
    except (OSError, ValueError, SchedulerError) as exc:
        print("casa_plugin %s: %s" % (args.command, exc), file=sys.stderr)
        return 1

