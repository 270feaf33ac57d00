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

No executable can hang the run: each has a time limit (`LIMITS`, several times what it takes on
the machine CI runs on). One that outlives it is killed with everything it started, and fails
with what it printed so far, which names the tests still running (libtest says which ran for
over 60 seconds). An executable's output goes to a file (target/test-logs/run/), not a pipe, so
that a process a test left behind, holding the output open, cannot make the run wait for it;
such processes are killed once the executable ends, and named.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

E2E_THREADS = "4"

# Seconds an executable may take, by target (others: "*"); on the machine CI runs on the
# end-to-end suite takes about 3.5 minutes, the slowest other executable about one, the doc
# tests (which cargo may have to build) a few minutes from clean.
LIMITS = {"e2e": 30 * 60, "doc tests": 20 * 60, "*": 10 * 60}
LOGS = os.path.join("target", "test-logs", "run")


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


def run_limited(label, argv, cwd, env, limit):
    """Runs `argv` in a process group of its own with its output in a file, for at most
    `limit` seconds; (exit status, output, seconds). Whatever it leaves running is killed."""
    os.makedirs(LOGS, exist_ok=True)
    path = os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]+", "-", label) + ".log")
    started = time.monotonic()
    with open(path, "w+b") as out:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        note = ""
        try:
            status = child.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_session(child.pid)
            child.wait()
            status = 1
            note = f"\n{label}: killed after {limit} s, the limit of scripts/run-tests.py (LIMITS)\n"
        left = kill_session(child.pid)
        if left:
            note += f"\n{label}: processes it started were still running after it ended; killed:\n{left}\n"
        out.seek(0)
        output = out.read().decode("utf-8", errors="replace") + note
    if note and "killed after" in note:
        stuck = [line for line in output.splitlines() if "has been running for over" in line]
        if stuck:
            output += "tests that had run for over a minute when it was killed:\n"
            output += "".join(f"  {line}\n" for line in stuck)
    return status, output, time.monotonic() - started


def kill_session(sid):
    """Kills every process of session `sid` (an executable and whatever it started that did
    not leave the session); what was in it, a line per process, empty when nothing."""
    listed = subprocess.run(
        ["ps", "-o", "pid=,args=", "-s", str(sid)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        errors="replace",
    ).stdout.strip()
    for line in listed.splitlines():
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
    return listed


def run(exe, extra):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(os.path.dirname(exe["path"])) + ":" + LIBRARY_PATH
    env["CARGO_MANIFEST_DIR"] = exe["dir"]
    env["CARGO_PKG_NAME"] = exe["package"]
    env["CARGO_PKG_VERSION"] = exe["version"]
    env["CARGO_CRATE_NAME"] = exe["target"].replace("-", "_")
    label = f"{exe['package']} {exe['kind']} {exe['target']}"
    limit = LIMITS.get(exe["target"], LIMITS["*"])
    return run_limited(label, [exe["path"], *extra], exe["dir"], env, limit)


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
    argv = ["cargo", "test", "--workspace", "--doc"]
    report("doc tests", *run_limited("doc tests", argv, None, None, LIMITS["doc tests"]))


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
