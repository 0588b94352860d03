"""``python -m casa_plugin submit|status PROJECT``: the cluster commands (casa_plugin.cluster.cli)."""

import sys

from .cluster.cli import main

if __name__ == "__main__":  # importing this module (the package's import checks) runs nothing
    sys.exit(main())
