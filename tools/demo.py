"""make demo: build the synthetic ALMA delivery and run recipes/restore_and_split.py on it at the real CASA prompt."""

import argparse
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = ".casa_plugin_demo"


def _tree(calibrated):
    lines = [calibrated]
    for name in sorted(os.listdir(calibrated)):
        path = os.path.join(calibrated, name)
        link = " -> " + os.readlink(path) if os.path.islink(path) else ""
        lines.append("  " + name + link)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default=os.path.join(REPO, "work", "demo"))
    parser.add_argument("--small", action="store_true", help="the 1+2 EB delivery instead of 6+2")
    args = parser.parse_args()
    workdir = os.path.abspath(args.workdir)
    if os.path.exists(workdir):
        if not os.path.exists(os.path.join(workdir, MARKER)):
            sys.exit("%s exists and is not a casa_plugin demo directory; choose another --workdir" % workdir)
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    open(os.path.join(workdir, MARKER), "w").close()

    start = time.time()
    sys.path.insert(0, REPO)
    from casa_plugin.testing.synthetic_delivery import make_delivery
    info = make_delivery(workdir, small=args.small)
    print("synthetic delivery: %s (%d members, %d EBs; raw data are simulated during the restore)" % (
        info["project"], len(info["members"]), sum(len(e) for e in info["members"].values())))

    startup = os.path.join(workdir, "startup.py")
    init = os.path.join(REPO, "init.py")
    with open(startup, "w") as f:
        f.write("# what ~/.casa/startup.py holds for a user, plus the pipeline stand-in that `casa --pipeline`\n"
                "# would provide (the ALMA pipeline is not on any package registry)\n"
                "exec(compile(open(%r).read(), %r, 'exec'))\n"
                "from casa_plugin.testing.pipeline_standin import load_into; load_into(globals())\n" % (init, init))
    recipe = os.path.join(REPO, "recipes", "restore_and_split.py")
    cmd = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--nologfile",
           "--startupfile", startup, "-c", recipe, info["project"]]
    print("$ cd %s && %s" % (workdir, " ".join(cmd)))
    sys.stdout.flush()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    code = subprocess.call(cmd, cwd=workdir, env=env)
    if code != 0:
        sys.exit("the recipe failed (exit %d)" % code)
    print("\nResulting calibrated/ directories:")
    for member in sorted(info["members"]):
        print(_tree(os.path.join(member, "calibrated")))
    print("\ndemo finished in %.0f s (delivery, restore of every member, splits)" % (time.time() - start))


if __name__ == "__main__":
    main()
