"""Write casasiteconfig.py into the current virtualenv: offline measures data, nothing written to ~/.casa.

CASA reads the user's ~/.casa/startup.py (as a CASA release does), so the README's start-up line works
at `.venv/bin/python -m casashell` too; what CASA writes (IPython history in <cachedir>/ipython) stays in
the venv's casa-cache/. tools/compat.py writes the same file into each CASA line's venv.
"""
import os
import sys
import sysconfig


def siteconfig_text(data, cache, writer="tools/write_casasiteconfig.py"):
    """The casasiteconfig.py for measures data in ``data`` and CASA's cache in ``cache``."""
    return (
        "# Written by casa_plugin's %s: offline measures data from the\n"
        "# casadata wheel, no auto-updates, CASA's cache (IPython history) inside this virtualenv: CASA writes\n"
        "# nothing to ~/.casa. It reads the user's ~/.casa/startup.py, as a CASA release does.\n"
        "measurespath = %r\n"
        "measures_auto_update = False\n"
        "data_auto_update = False\n"
        "cachedir = %r\n"
        "startupfile = '~/.casa/startup.py'\n" % (writer, data, cache))


def main():
    import casadata  # the measures/data wheel; imported only to find its path
    data = os.path.join(os.path.dirname(os.path.abspath(casadata.__file__)), "__data__")
    cache = os.path.join(sys.prefix, "casa-cache")
    path = os.path.join(sysconfig.get_paths()["purelib"], "casasiteconfig.py")
    with open(path, "w") as f:
        f.write(siteconfig_text(data, cache))
    os.makedirs(cache, exist_ok=True)
    print("wrote %s" % path)


if __name__ == "__main__":
    main()
