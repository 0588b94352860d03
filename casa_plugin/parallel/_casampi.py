"""Every use of casampi's API (public and private) in one adapter: environment, client, commands, settings."""

import os

__all__ = ["server_ranks", "all_local", "launched_by_mpi", "RANK_VARS", "rank", "apply", "client", "client_started", "running", "push", "responses", "control"]


def _env():
    from casampi.MPIEnvironment import MPIEnvironment
    return MPIEnvironment


def server_ranks():
    """Return the casampi server ranks if this process is the MPI client, else ``[]``."""
    if "OMPI_COMM_WORLD_RANK" not in os.environ:  # casampi's own test; importing it then starts MPI
        return []
    try:
        env = _env()
    except ImportError:
        return []
    return list(env.mpi_server_rank_list()) if env.is_mpi_enabled and env.is_mpi_client else []


def all_local():
    """True if the MPI launcher says every rank runs on this host (Open MPI, MPICH/Intel MPI); else False."""
    for local, world in (("OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_SIZE"), ("MPI_LOCALNRANKS", "PMI_SIZE")):
        if os.environ.get(local, "").isdigit() and os.environ.get(world, "").isdigit():
            return int(os.environ[local]) == int(os.environ[world])
    return False


#: Set by MPI launchers in every rank they start (Open MPI, PMIx, MPICH/Intel MPI).
RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")


def launched_by_mpi():
    """True if an MPI launcher started this process (any rank), whether or not casampi runs in it."""
    return any(name in os.environ for name in RANK_VARS)


def rank():
    """This process's MPI rank."""
    return _env().mpi_processor_rank


def apply(values):
    """Set casampi's class-level settings (its polling sleeps and timeouts); return their old values.

    casampi reads these attributes at each loop, so running services follow at once.
    """
    env = _env()
    old = dict((k, getattr(env, k)) for k in values if hasattr(env, k))
    for key, value in values.items():
        setattr(env, key, value)
    return old


def client():
    """Return casampi's command client, its services started."""
    from casampi.MPICommandClient import MPICommandClient
    cl = MPICommandClient()
    cl.start_services()
    return cl


def client_started():
    """True if casampi's command client has started its services in this process; never starts them."""
    from casampi.MPICommandClient import MPICommandClient
    return MPICommandClient().get_lifecyle_state() == 1


def running(cl):
    """True while the client can still send commands (not stopped in this session)."""
    return cl.get_lifecyle_state() == 1


def push(cl, command, ranks, parameters):
    """Send ``command`` (Python source) to each of ``ranks`` without waiting; return the request ids."""
    return cl.push_command_request(command, block=False, target_server=list(ranks), parameters=parameters) or []


def responses(cl, ids):
    """Return the responses that have arrived for ``ids`` (never blocks)."""
    return cl.get_command_response(list(ids), block=False, verbose=False)


def control(cl, command):
    """Run ``command`` on every server beside the command it is busy with (casampi's private control signal)."""
    cl._MPICommandClientImpl__send_control_signal({"command": command, "signal": "process_control"}, False)
