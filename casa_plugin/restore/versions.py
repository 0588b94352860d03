"""Which CASA a delivery was made with, which CASA runs now, and where other CASA versions live."""

import glob
import json
import os
import re
import tarfile

from ..ms import casa

__all__ = ["delivery_versions", "running_version", "same_version", "config_path", "casa_executables",
           "executable_for"]

_PIPESCRIPT = re.compile(r"meant for use with CASA\s+([0-9][0-9.]*[0-9])\S*\s+and pipeline\s+(\S+)")
_MANIFEST_CASA = re.compile(r"<casaversion\s+name=\"([0-9][0-9.\-]*)")
_MANIFEST_PIPELINE = re.compile(r"<pipeline_version\s+name=\"([^\"]+)\"")
_WEBLOG_CASA = re.compile(r"CASA\s+[Vv]ersion\s*(?:</th>\s*<td>)?\s*([0-9]+\.[0-9]+\.[0-9]+)")
#: The environment variable that names the CASA-versions file instead of ~/.config/casa_plugin/.
CONFIG_ENV = "CASA_PLUGIN_CONFIG"


def _first_line(path):
    with open(path) as f:
        return f.readline()


def _from_weblog(path):
    with tarfile.open(path) as tar:
        for info in tar:
            if info.isfile() and info.name.endswith(".html"):
                text = tar.extractfile(info).read(200000).decode("utf-8", "replace")
                match = _WEBLOG_CASA.search(text)
                if match:
                    return match.group(1)
    return None


def delivery_versions(member):
    """Return ``{'casa', 'pipeline', 'source'}``: the versions a member's pipeline run used.

    Looked up in the first line of ``script/*casa_pipescript.py``, else the
    pipeline manifest XML, else the weblog; values are None when not found.
    """
    for path in sorted(glob.glob(os.path.join(member, "script", "*casa_pipescript.py"))):
        match = _PIPESCRIPT.search(_first_line(path))
        if match:
            return {"casa": match.group(1), "pipeline": match.group(2), "source": path}
    manifests = glob.glob(os.path.join(member, "*", "*pipeline_manifest.xml"))
    for path in sorted(manifests):
        with open(path) as f:
            text = f.read()
        match = _MANIFEST_CASA.search(text)
        if match:
            pipeline = _MANIFEST_PIPELINE.search(text)
            return {"casa": match.group(1).replace("-", "."), "source": path,
                    "pipeline": pipeline.group(1) if pipeline else None}
    for path in sorted(glob.glob(os.path.join(member, "qa", "*weblog.tgz"))):
        try:
            version = _from_weblog(path)
        except (OSError, tarfile.TarError):
            continue
        if version:
            return {"casa": version, "pipeline": None, "source": path}
    return {"casa": None, "pipeline": None, "source": None}


def running_version():
    """Return the running CASA's version, e.g. ``'6.7.0.31'``."""
    return casa.casa_version()


def _numbers(version):
    return [int(n) for n in re.findall(r"\d+", version or "")[:3]]


def same_version(a, b):
    """True if two CASA versions agree in major.minor.patch (``6.2.1`` matches ``6.2.1.7``)."""
    return bool(_numbers(a)) and _numbers(a) == _numbers(b)


def config_path():
    """Return the path of the user's CASA-versions file (``$CASA_PLUGIN_CONFIG`` or ~/.config/casa_plugin/)."""
    return os.environ.get(CONFIG_ENV) or os.path.join(
        os.path.expanduser("~"), ".config", "casa_plugin", "casa_versions.json")


def casa_executables(path=None):
    """Return the ``{version: command}`` map of installed CASAs from the user's configuration.

    The file is JSON: ``{"6.2.1": "/opt/casa-6.2.1-7-pipeline-2021.2.0.128/bin/casa", ...}``.

    Raises
    ------
    ValueError
        If the file exists but is not a JSON object of strings.
    """
    path = path or config_path()
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        try:
            mapping = json.load(f)
        except ValueError as exc:
            raise ValueError("%s: not valid JSON (%s); it maps CASA versions to executables, e.g. "
                             "{\"6.2.1\": \"/opt/casa-6.2.1/bin/casa\"}" % (path, exc))
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ValueError("%s: expected a JSON object of version -> executable strings" % path)
    return mapping


def executable_for(version, mapping):
    """Return the configured command for a CASA ``version`` (matched on major.minor.patch), or None."""
    for known, command in sorted(mapping.items()):
        if same_version(known, version):
            return command
    return None
