"""Start-up hook of the processes of tests/test_plan.py's MPI run: count calls as tests/count_calls.py says."""

import os
import sys

if os.environ.get("COUNT_CALLS"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import count_calls
    count_calls.install(os.environ["COUNT_CALLS"])
    sys.path.remove(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
