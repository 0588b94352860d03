"""A synthetic project mixing arrays: 12 m, 7 m (ACA) and total-power members in one delivery (tests only)."""

import json
import os

from . import pipeline_standin, synthetic_delivery, tp_member

__all__ = ["SEVEN_M", "make_7m_member", "make_mixed_delivery"]

#: The 7 m EB each ASDM of a 7 m member restores to: alma7m preset, 10 CM antennas, one integration per scan unit.
SEVEN_M = {"preset": "alma7m", "nant": 10, "nint": 1}


def make_7m_member(member, **shape):
    """Make each ASDM of ``member`` (of :func:`synthetic_delivery.make_delivery`, not restored) a 7 m one.

    The pipeline stand-in then restores it with
    :func:`casa_plugin.testing.synthetic_ms.make_eb_ms` of :data:`SEVEN_M`
    updated with ``shape`` (CM antennas, 10.08 s integrations, 4 x 2048
    channels), and the ASDM has the ``Antenna.xml`` (CM names, 7 m dishes) a
    real one has. Returns the member's EB uids.
    """
    params = dict(SEVEN_M, **shape)
    ebs = []
    for asdm in sorted(os.listdir(os.path.join(member, "raw"))):
        path = os.path.join(member, "raw", asdm, pipeline_standin.PARAMS_FILENAME)
        with open(path) as f:
            old = json.load(f)
        with open(path, "w") as f:
            json.dump(dict(params, eb_uid=old["eb_uid"], seed=old["seed"]), f, indent=1, sort_keys=True)
        with open(os.path.join(member, "raw", asdm, "Antenna.xml"), "w") as f:
            f.write(tp_member.antenna_xml(["CM%02d" % (i + 1) for i in range(int(params["nant"]))], 7.0))
        ebs.append(old["eb_uid"])
    return ebs


def make_mixed_delivery(root, arrays=("12m", "7m", "TP")):
    """Build a one-EB-per-member delivery whose members are of ``arrays``, in that order.

    Members come from :func:`synthetic_delivery.make_delivery` (``small``,
    one EB each, with the ``Antenna.xml`` of their array); members are made 7 m members
    (:func:`make_7m_member`) or total-power ones
    (:func:`casa_plugin.testing.tp_member.make_tp_member`) as ``arrays`` says.

    Returns
    -------
    dict
        ``{'project': path, 'members': {member path: array}}``.

    Raises
    ------
    ValueError
        For an array other than ``'12m'``, ``'7m'`` and ``'TP'``.
    """
    unknown = [a for a in arrays if a not in ("12m", "7m", "TP")]
    if unknown:
        raise ValueError("unknown arrays %s: use 12m, 7m or TP" % ", ".join(unknown))
    info = synthetic_delivery.make_delivery(root, small=True, members=len(arrays), ebs=1)
    members = {}
    for member, array in zip(sorted(info["members"]), arrays):
        if array == "7m":
            make_7m_member(member)
        elif array == "TP":
            tp_member.make_tp_member(member)
        members[member] = array  # a 12 m member's stubs have the Antenna.xml of its DA antennas already
    return {"project": info["project"], "members": members}
