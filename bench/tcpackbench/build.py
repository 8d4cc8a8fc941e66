# SPDX-License-Identifier: MIT
"""What a run needs first: gnuplot and iperf3 (apt-get), and tcpack built for release."""
import os
import shutil
import subprocess

from . import ROOT, log


def ensure_packages():
	want = [(t, p) for t, p in (("gnuplot", "gnuplot-nox"), ("iperf3", "iperf3")) if not shutil.which(t)]
	if not want:
		return
	pkgs = [p for _, p in want]
	log("installing %s" % " ".join(pkgs))
	sudo = [] if os.geteuid() == 0 else ["sudo"]
	env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
	r = subprocess.run(sudo + ["apt-get", "install", "-y", "-q"] + pkgs, env=env,
			   stdout=subprocess.DEVNULL)
	if r.returncode:
		subprocess.run(sudo + ["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
		subprocess.run(sudo + ["apt-get", "install", "-y", "-q"] + pkgs, env=env, stdout=subprocess.DEVNULL)
	for t, p in want:
		if not shutil.which(t):
			log("warning: %s (%s) is not installed; its part of the report is left out" % (t, p))


def build(builddir):
	if not os.path.exists(os.path.join(builddir, "build.ninja")):
		subprocess.run(["meson", "setup", builddir, "-Dbuildtype=release"], cwd=ROOT, check=True,
			       stdout=subprocess.DEVNULL)
	subprocess.run(["ninja", "-C", builddir], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
