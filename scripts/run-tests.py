#!/usr/bin/env python3
"""Runs every test executable of the workspace (the `tests` step of scripts/test.sh).

`cargo test` runs its test executables one after another, and holds the build directory's lock
while they run, so a second `cargo test` cannot run beside it. The end-to-end suite is one
executable that waits on servers, databases and browsers much of the time; the others are mostly
CPU. So the executables cargo built are run here directly, in two lanes at once: the end-to-end
suite (with more test threads than cores, since its tests wait), and every other executable one
after another followed by the doc tests. Each runs as `cargo test` would run it: from its
package's directory, with the package's CARGO_* variables.

A plain script rather than cargo-nextest, which does this and more but takes minutes to build on
a fresh machine, longer than it would save here.

Output: each executable's output, in full, once it ends; then a line per executable; exit status
non-zero when any failed. scripts/test.sh sums the "test result:" lines.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

E2E_THREADS = "4"


def executables():
    """(package, target, kind, path, manifest dir) of every test executable, from cargo."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--no-run", "--message-format=json"],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    ).stdout
    found = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        package_id = msg["package_id"]
        # path+file:///dir#name@version, or path+file:///dir#version when dir ends with the name.
        name, _, version = re.split(r"[#]", package_id)[-1].rpartition("@")
        name = name or os.path.basename(msg["manifest_path"].rsplit("/", 1)[0])
        found.append(
            {
                "package": name,
                "version": version,
                "target": msg["target"]["name"],
                "kind": msg["target"]["kind"][0],
                "path": msg["executable"],
                "dir": os.path.dirname(msg["manifest_path"]),
            }
        )
    return found


def library_path():
    """What cargo puts on the dynamic library path of a test: the build's own libraries and
    the toolchain's (a proc-macro crate's tests link the standard library dynamically)."""
    sysroot = subprocess.run(
        ["rustc", "--print", "sysroot"], stdout=subprocess.PIPE, check=True, text=True
    ).stdout.strip()
    host = re.search(
        r"^host: (\S+)$",
        subprocess.run(["rustc", "-vV"], stdout=subprocess.PIPE, check=True, text=True).stdout,
        re.M,
    ).group(1)
    paths = [os.path.join(sysroot, "lib", "rustlib", host, "lib"), os.path.join(sysroot, "lib")]
    if os.environ.get("LD_LIBRARY_PATH"):
        paths.append(os.environ["LD_LIBRARY_PATH"])
    return ":".join(paths)


LIBRARY_PATH = library_path()


def run(exe, extra):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(os.path.dirname(exe["path"])) + ":" + LIBRARY_PATH
    env["CARGO_MANIFEST_DIR"] = exe["dir"]
    env["CARGO_PKG_NAME"] = exe["package"]
    env["CARGO_PKG_VERSION"] = exe["version"]
    env["CARGO_CRATE_NAME"] = exe["target"].replace("-", "_")
    started = time.monotonic()
    done = subprocess.run(
        [exe["path"], *extra],
        cwd=exe["dir"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    return done.returncode, done.stdout, time.monotonic() - started


results = []
lock = threading.Lock()


def report(label, status, output, seconds):
    with lock:
        sys.stdout.write(f"\n===== {label} ({seconds:.0f} s)\n{output}")
        sys.stdout.flush()
        results.append((label, status, seconds))


def lane(exes, extra):
    for exe in exes:
        status, output, seconds = run(exe, extra)
        report(f"{exe['package']} {exe['kind']} {exe['target']}", status, output, seconds)


def doc_tests():
    started = time.monotonic()
    done = subprocess.run(
        ["cargo", "test", "--workspace", "--doc"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    report("doc tests", done.returncode, done.stdout, time.monotonic() - started)


def main():
    exes = executables()
    e2e = [e for e in exes if e["target"] == "e2e"]
    others = [e for e in exes if e["target"] != "e2e"]
    if len(e2e) != 1:
        sys.exit(f"expected one end-to-end executable, found {len(e2e)}")
    extra = sys.argv[1:]
    first = threading.Thread(target=lane, args=(e2e, [*extra, "--test-threads", E2E_THREADS]))
    first.start()
    lane(others, extra)
    doc_tests()
    first.join()
    print("\n===== test executables")
    failed = 0
    for label, status, seconds in results:
        print(f"  {'ok    ' if status == 0 else 'FAILED'} {seconds:5.0f} s  {label}")
        failed += status != 0
    sys.exit(1 if failed else 0)


main()
