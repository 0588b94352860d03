"""The docs send a reader to files that exist: every package path they name is in the repository."""

import glob
import os
import re

from prompt_helpers import REPO

_DOCS = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))


def test_every_package_file_the_docs_name_exists():
    named = {}
    for doc in _DOCS:
        with open(doc) as f:
            for path in re.findall(r"(?<![\w/.])((?:casa_plugin|recipes|tests|tools)/[\w/]+\.py)\b", f.read()):
                named.setdefault(path, os.path.relpath(doc, REPO))
    assert "casa_plugin/testing/pipeline_standin.py" in named  # the check sees the stand-in's path
    missing = dict((path, doc) for path, doc in named.items() if not os.path.isfile(os.path.join(REPO, path)))
    assert missing == {}, "named in the docs but not in the repository: %s" % missing
