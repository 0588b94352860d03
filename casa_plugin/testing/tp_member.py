"""Make a member of a synthetic delivery a total-power (TP) one, restored by hsd_restoredata (tests only).

What a pipeline-calibrated TP member of a real delivery has, as reproduced here:

* ``script/``: ``member.<mous>.hsd_calimage.casa_piperestorescript.py`` calling
  ``hsd_restoredata(vis=[...], session=[...], ocorr_mode='ao')``, the
  ``hsd_calimage`` pipescript and PPR, and the scriptForPI (see
  ``templates/casa_piperestorescript_tp.txt`` and ``casa_pipescript_tp.txt``
  for the public deliveries they follow);
* ``calibration/``: a ``*jyperk.csv`` (the Jy/K factors). ALMA's scriptForPI
  (v1.34 of 2022, v2.5 of 2023, e.g. JaneManolidou/Spiderweb-SD-Codes,
  ``member.uid___A001_X2d20_X3bdd.scriptForPI.py``) takes one such file as
  the sign of a TP pipeline member (``istppipe``) and then skips DOCONTSUB
  ("this is TP data and uvcontsub cannot be performed");
* ``raw/``: ASDMs of up to four PM antennas, autocorrelations only (here
  stubs with an ``Antenna.xml`` and ``ConfigDescription.xml`` as a real ASDM
  has, and the parameters :func:`casa_plugin.testing.sd_standin.make_tp_ms`
  restores them from).

The scriptForPI is the synthetic delivery's own 2022 template (it finds the
restore script by glob, checks only ``h_init`` and gives the DOCONTSUB note
itself when calibration/ holds a ``*jyperk*.csv``), titled for TP. One
difference from ALMA's script is kept on purpose: ALMA's (2022, 2023) also
makes ``<eb>.ms.split.cal`` of a TP EB without DOSPLIT, because its "pipeline
imaging was used" test looks for ``hif_makeimages`` in the PPR and a TP PPR
has ``hsd_imaging`` instead; here the PPR keeps the 12 m member's
``hif_makeimages`` commands, so, as for a pipeline-imaged 12 m member, only
DOSPLIT splits.
"""

import glob
import json
import os
import re

from . import pipeline_standin, sd_standin, synthetic_delivery

__all__ = ["make_tp_member", "antenna_xml", "TP_DEFAULTS"]

#: The TP EB each ASDM restores to: 2 PM antennas, 128-channel science spws, 4 ON integrations per subscan.
TP_DEFAULTS = {"nant": 2, "nchan": 128, "nint": 4}
_RECIPE = "hsd_calimage"
#: (text of the 12 m scriptForPI template, its TP form): each must be found once in the template.
_SCRIPT_CHANGES = (
    ("# ALMA Data Reduction Script -- scriptForPI, generation 2022 (pipeline-calibrated data)",
     "# ALMA Data Reduction Script -- scriptForPI, generation 2022 (pipeline-calibrated total-power data, "
     "hsd_calimage)"),
)


def _template(name, **subs):
    """A template's text without its ``## `` header lines, each ``@KEY@`` replaced."""
    text = synthetic_delivery._template(name, **subs)
    return "".join(line for line in text.splitlines(True) if not line.startswith("## "))


def _scriptforpi(subs):
    text = synthetic_delivery._template("scriptForPI.py", **subs)
    for old, new in _SCRIPT_CHANGES:
        if text.count(old) != 1:
            raise ValueError("templates/scriptForPI.py no longer holds %r once; update tp_member._SCRIPT_CHANGES"
                             % old)
        text = text.replace(old, new)
    return text


antenna_xml = synthetic_delivery.antenna_xml  # the stub Antenna.xml, with PM names here


_CONFIG_XML = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- casa_plugin synthetic ASDM: its correlation mode "
               "only -->\n<ConfigDescriptionTable xmlns=\"http://Alma/XASDM/ConfigDescriptionTable\">\n  <row>\n"
               "    <correlationMode>AUTO_ONLY</correlationMode>\n  </row>\n</ConfigDescriptionTable>\n")


def make_tp_member(member, **shape):
    """Turn ``member`` (of :func:`synthetic_delivery.make_delivery`, not restored) into a pipeline TP member.

    Its script/ files become the TP pipeline's (``hsd_calimage``), each ASDM
    of raw/ restores (with :func:`sd_standin.hsd_restoredata`) to a TP EB of
    ``shape`` (:data:`TP_DEFAULTS` updated; see :func:`sd_standin.make_tp_ms`),
    and calibration/ gets ``member.<mous>.jyperk.csv``. Test deliveries only:
    it rewrites the member.

    Returns
    -------
    list of str
        The member's EB uids.

    Raises
    ------
    FileNotFoundError
        If ``member`` has no pipeline request (``script/*pprequest.xml``).
    """
    script = os.path.join(member, "script")
    mous = os.path.basename(member)[len("member."):]
    pprs = sorted(glob.glob(os.path.join(script, "*.hifa_calimage.pprequest.xml")))
    if not pprs:
        raise FileNotFoundError("%s: no *.hifa_calimage.pprequest.xml; make_tp_member takes a member of "
                                "synthetic_delivery.make_delivery" % script)
    with open(pprs[0]) as f:
        ppr = f.read()
    ebs = [c.split("</AsdmDiskName>")[0].strip() for c in ppr.split("<AsdmDiskName>")[1:]]
    sessions = [c.split("</SessionName>")[0].strip() for c in ppr.split("<SessionName>")[1:]]
    with open(glob.glob(os.path.join(script, "*.hifa_calimage.casa_pipescript.py"))[0]) as f:
        casa_version, pipeline_version = re.search(r"with CASA (\S+) and pipeline (.+)", f.readline()).groups()
    for path in glob.glob(os.path.join(script, "*.hifa_calimage.*")):
        os.remove(path)
    prefix = os.path.join(script, "member.%s.%s." % (mous, _RECIPE))
    subs = {"MOUS_UID": mous, "PROJECT_CODE": synthetic_delivery.PROJECT_CODE, "EB_VIS_LIST": repr(ebs),
            "SESSION_LIST": repr(sessions), "CASA_VERSION": casa_version, "PIPELINE_VERSION": pipeline_version}
    files = {prefix + "pprequest.xml": ppr.replace("<ProcedureTitle>hifa_calimage<", "<ProcedureTitle>%s<" % _RECIPE)
             .replace("INTERFEROMETRY_STANDARD_OBSERVING_MODE", "SINGLEDISH_STANDARD_OBSERVING_MODE"),
             prefix + "casa_piperestorescript.py": _template("casa_piperestorescript_tp.txt", **subs),
             prefix + "casa_pipescript.py": _template("casa_pipescript_tp.txt", **subs),
             os.path.join(script, "member.%s.scriptForPI.py" % mous): _scriptforpi(subs),
             os.path.join(member, "calibration", "member.%s.jyperk.csv" % mous):
                 "MS,Antenna,Spwid,Polarization,Factor\n" + "".join(
                     "%s.ms,PM%02d,%d,I,40.0\n" % (eb, a + 1, s) for eb in ebs for a in range(4) for s in (1, 3))}
    for path, text in files.items():
        with open(path, "w") as f:
            f.write(text)
    params = dict(TP_DEFAULTS, **shape)
    for index, eb in enumerate(ebs):
        asdm = os.path.join(member, "raw", eb + ".asdm.sdm")
        with open(os.path.join(asdm, pipeline_standin.PARAMS_FILENAME), "w") as f:
            json.dump(dict(params, kind=sd_standin.KIND, eb_uid=eb, seed=7000 + index), f, indent=1, sort_keys=True)
        with open(os.path.join(asdm, "Antenna.xml"), "w") as f:
            f.write(antenna_xml(["PM%02d" % (a + 1) for a in range(int(params["nant"]))], 12.0))
        with open(os.path.join(asdm, "ConfigDescription.xml"), "w") as f:
            f.write(_CONFIG_XML)
    return ebs
