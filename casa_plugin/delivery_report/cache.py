"""A JSON cache, in the report folder, of facts read from MSs; each entry is valid while its MS is unchanged."""

import json
import os

from ..ms import table_stamp as ms_stamp

__all__ = ["CACHE_NAME", "Cache", "ms_stamp"]

CACHE_NAME = "cache.json"


class Cache(object):
    """Facts read from MSs (flag summaries, spws, scans), keyed by kind and MS, stamped by ``ms_stamp``.

    Parameters
    ----------
    folder : str
        The report folder; the cache is ``<folder>/cache.json`` (a missing
        or unreadable one starts empty).
    """

    def __init__(self, folder):
        self.path = os.path.join(folder, CACHE_NAME)
        try:
            with open(self.path) as f:
                self.entries = json.load(f)
        except (OSError, ValueError):
            self.entries = {}
        self.used = {}

    def get(self, kind, vis, read):
        """Return ``read(vis)``, from the cache if ``vis`` has not changed since it was read."""
        key = "%s %s" % (kind, os.path.realpath(vis))
        stamp = ms_stamp(vis)
        entry = self.used.get(key) or self.entries.get(key)  # read earlier in this report, or before
        if not entry or entry.get("stamp") != stamp:
            entry = {"stamp": stamp, "value": read(vis)}
        self.used[key] = entry
        return entry["value"]

    def save(self):
        """Write the entries used this time (stale ones are dropped), atomically."""
        tmp = "%s.%d.tmp" % (self.path, os.getpid())
        with open(tmp, "w") as f:
            json.dump(self.used, f, sort_keys=True)
        os.replace(tmp, self.path)
