"""Write casasiteconfig.py into the current virtualenv: offline measures data, nothing written to ~/.casa.

CASA reads the user's ~/.casa/startup.py (as a CASA release does), so the README's start-up line works
at `.venv/bin/python -m casashell` too; what CASA writes (IPython history in <cachedir>/ipython) stays in
the venv's casa-cache/.
"""
import os
import sys
import sysconfig

import casadata  # the measures/data wheel; imported only to find its path

site_packages = sysconfig.get_paths()["purelib"]
data = os.path.join(os.path.dirname(os.path.abspath(casadata.__file__)), "__data__")
cache = os.path.join(sys.prefix, "casa-cache")
text = (
    "# Written by casa_plugin's tools/write_casasiteconfig.py: offline measures data from the\n"
    "# casadata wheel, no auto-updates, CASA's cache (IPython history) inside this virtualenv: CASA writes\n"
    "# nothing to ~/.casa. It reads the user's ~/.casa/startup.py, as a CASA release does.\n"
    "measurespath = %r\n"
    "measures_auto_update = False\n"
    "data_auto_update = False\n"
    "cachedir = %r\n"
    "startupfile = '~/.casa/startup.py'\n" % (data, cache)
)
path = os.path.join(site_packages, "casasiteconfig.py")
with open(path, "w") as f:
    f.write(text)
os.makedirs(cache, exist_ok=True)
print("wrote %s" % path)
