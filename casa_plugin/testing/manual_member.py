"""Turn a member of a synthetic delivery into a manually calibrated one (per-EB scriptForCalibration; tests only).

A manually calibrated ALMA member has no pipeline request: its scriptForPI
runs one ``uid*.ms.scriptForCalibration.py`` per EB (plain CASA tasks on the
EB's ASDM) and, if there is one, a ``scriptForFluxCalibration.py``, leaving
``calibrated/<eb>.ms.split.cal`` and, in ``calibrated/<eb>.calibration/``,
the EB's ``<eb>.ms`` and ``<eb>.ms.split`` (CORRECTED_DATA: the calibrated
data the ``.ms.split.cal`` was split from). The templates in ``templates/``
(``scriptForPI_manual.txt``, ``scriptForCalibration.txt``,
``scriptForFluxCalibration.txt``) cite the public scripts they follow.
"""

import glob
import os
import re
import shutil

from . import real_workload, synthetic_ms
from .synthetic_delivery import PROJECT_CODE, _template, _write

__all__ = ["make_manual_member"]

#: What a pipeline-calibrated member has that a manual one has not (script/, calibration/, qa/, log/).
_PIPELINE_ONLY = (("script", "*pprequest.xml"), ("script", "*casa_piperestorescript.py"),
                  ("script", "*casa_pipescript.py"), ("calibration", "*.ms.calapply.txt"),
                  ("calibration", "*.ms.flagversions.tgz"), ("calibration", "*.caltables.tgz"),
                  ("calibration", "*auxproducts.tgz"), ("qa", "*weblog.tgz"), ("log", "*casa_commands.log"))
_ROLE = dict((name, role) for name, _, _, _, role in synthetic_ms._FIELDS)
_FLUX = dict((name, flux) for name, _, _, flux, _ in synthetic_ms._FIELDS)


def _refant(asdm):
    """The first antenna's name in the ASDM's Antenna.xml (the scripts' reference antenna)."""
    with open(os.path.join(asdm, "Antenna.xml")) as handle:
        return re.search(r"<name>\s*([^<\s]+)\s*</name>", handle.read()).group(1)


def _eb_script(eb, calls, refant, applycal):
    """The text of ``<eb>.ms.scriptForCalibration.py`` from the EB's pipeline ``applycal`` calls."""
    spws = calls[0]["spw"]
    out = ",".join(str(i) for i in range(len(spws.split(","))))
    fields = [c["field"] for c in calls]
    bpcal = [f for f in fields if _ROLE.get(f) == "bandpass"][0]
    phcal = [f for f in fields if _ROLE.get(f) == "phase"][0]
    setjy = "".join("    setjy(vis='%s.ms.split', field='%s', spw='%s', standard='manual', fluxdensity=[%r, 0, 0, 0],\n"
                    "          spix=[-0.7], reffreq='230GHz', scalebychan=True, usescratch=True)\n"
                    % (eb, f, out, _FLUX[f]) for f in (bpcal, phcal))
    tables = "['%s.ms.split.bandpass', '%s.ms.split.phase_int', '%s.ms.split.ampli_inf']" % (eb, eb, eb)
    lines = "".join("    applycal(vis='%s.ms.split', field='%s', gaintable=%s, gainfield=['', '%s', '%s'],\n"
                    "             interp=['nearest', 'linear', 'linear'], calwt=True, flagbackup=False)\n"
                    % (eb, f, tables, f if f in (bpcal, phcal) else phcal, f if f in (bpcal, phcal) else phcal)
                    for f in fields)
    if not applycal:  # a restore that "finishes" without calibrating: CORRECTED_DATA made, equal to DATA
        lines = ("    from casatasks import clearcal  # casa_plugin test: applycal removed\n"
                 "    clearcal(vis='%s.ms.split')\n" % eb)
    return _template("scriptForCalibration.txt", EB=eb, SPW=spws, OUTSPW=out, BPCAL=bpcal,
                     CALIBRATORS="%s,%s" % (bpcal, phcal), REFANT=refant, SETJY=setjy, APPLYCAL=lines), (bpcal, phcal)


def make_manual_member(member, *, flux=False, applycal=True):
    """Make ``member`` of a synthetic delivery built with ``asdm=True`` a manually calibrated member.

    Removes the pipeline's files (request, restore script, pipescript, the
    calibration/ products, weblog, commands log) and writes, in ``script/``,
    ``member.<mous>.scriptForPI.py`` (the manual generation), one
    ``<eb>.ms.scriptForCalibration.py`` per EB (importasdm, flagging, setjy,
    bandpass, gaincal, applycal on ``<eb>.ms.split``, split into
    ``<eb>.ms.split.cal``, flag version ``AfterApplycal``) and, with ``flux``,
    ``scriptForFluxCalibration.py`` (fluxscale and applycal on each
    ``.ms.split.cal``). ``raw/`` is not touched.

    Parameters
    ----------
    member : str
        A member directory of ``make_delivery(..., asdm=True)`` (real ASDMs, ``calapply.txt`` listings).
    flux : bool, optional
        Also write a scriptForFluxCalibration.py.
    applycal : bool, optional
        False replaces the applycal step of every scriptForCalibration by ``clearcal`` (CORRECTED_DATA made
        equal to DATA): a restore that finishes without calibrating. Without either, the split of the
        corrected column stops the script ("Desired column (CORRECTED_DATA) not found").

    Returns
    -------
    dict
        ``ebs`` (in order), ``science_spws`` (per EB, the ids in ``<eb>.ms``), ``calibrators`` (bandpass and
        phase calibrator names), ``scripts`` (paths written).

    Raises
    ------
    FileNotFoundError
        If the member has no ``calapply.txt`` of an EB or no real ASDM (not built with ``asdm=True``).
    """
    mous = os.path.basename(os.path.normpath(member))[len("member."):]
    script = os.path.join(member, "script")
    calapply = dict((os.path.basename(p)[:-len(".ms.calapply.txt")], p)
                    for p in glob.glob(os.path.join(member, "calibration", "*.ms.calapply.txt")))
    ebs = sorted(n[:-len(".asdm.sdm")] for n in os.listdir(os.path.join(member, "raw")) if n.endswith(".asdm.sdm"))
    for eb in ebs:
        asdm = os.path.join(member, "raw", eb + ".asdm.sdm")
        if eb not in calapply or not real_workload.is_real_asdm(asdm):
            raise FileNotFoundError("%s: no %s.ms.calapply.txt in calibration/ or no real ASDM in raw/; build the "
                                    "delivery with make_delivery(..., asdm=True)" % (member, eb))
    written, science, calibrators, refant = [], {}, None, None
    for eb in ebs:
        calls = real_workload.read_calapply(calapply[eb])
        refant = _refant(os.path.join(member, "raw", eb + ".asdm.sdm"))
        text, calibrators = _eb_script(eb, calls, refant, applycal)
        science[eb] = [int(s) for s in calls[0]["spw"].split(",")]
        path = os.path.join(script, "%s.ms.scriptForCalibration.py" % eb)
        _write(path, text)
        written.append(path)
    for sub, pattern in _PIPELINE_ONLY:
        for path in glob.glob(os.path.join(member, sub, pattern)):
            os.remove(path)
    path = os.path.join(script, "member.%s.scriptForPI.py" % mous)
    _write(path, _template("scriptForPI_manual.txt", MOUS_UID=mous, PROJECT_CODE=PROJECT_CODE))
    written.append(path)
    if flux:
        path = os.path.join(script, "member.%s.scriptForFluxCalibration.py" % mous)
        _write(path, _template("scriptForFluxCalibration.txt", MOUS_UID=mous, EBS=repr(ebs), BPCAL=calibrators[0],
                               PHCAL=calibrators[1], BPFLUX=repr(_FLUX[calibrators[0]]), REFANT=refant))
        written.append(path)
    return {"ebs": ebs, "science_spws": science, "calibrators": calibrators, "scripts": written}
