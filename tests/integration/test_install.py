"""make install and make uninstall of this build into a scratch DESTDIR:
the installed tree file by file (programs, config, systemd units and
snippets, man pages, docs, web server examples, every UI file), the
configuration kept across a reinstall and an uninstall when changed, the
units accepted by systemd-analyze verify and the sysusers/tmpfiles
snippets applied to a scratch root, each program's usage matching its man
page, and an uninstall that leaves no file behind."""

import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import BUILDDIR, SRCDIR, Suite, check, eq  # noqa: E402

TMP = tempfile.mkdtemp(prefix="taskq-install-")
DEST = os.path.join(TMP, "dest")
suite = Suite("test_install")


# `make check` has built everything, so install only copies; the parent
# make's jobserver is not ours to use.
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def make(*targets):
    p = subprocess.run(["make", "-s", "-C", BUILDDIR] + list(targets),
                       capture_output=True, timeout=600, env=MAKE_ENV)
    if p.returncode != 0:
        raise AssertionError("make %s failed:\n%s%s" % (" ".join(targets),
                                                      p.stdout.decode(), p.stderr.decode()))
    return p.stdout.decode()


DIRS = dict(line.split("=", 1) for line in make("print-installdirs").splitlines()
            if re.match(r"^[a-z]+=", line))


def d(var, *parts):
    """A path inside DEST under the configured directory var."""
    return os.path.join(DEST + DIRS[var], *parts)


def installed_files():
    out = set()
    for root, _, files in os.walk(DEST):
        for f in files:
            out.add(os.path.join(root, f))
    return out


def www_files():
    out = []
    for root, dirs, files in os.walk(os.path.join(SRCDIR, "www")):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            if not f.startswith(".") and not f.endswith("~"):
                out.append(os.path.relpath(os.path.join(root, f), os.path.join(SRCDIR, "www")))
    return sorted(out)


def expected_files():
    exp = {
        d("bindir", "taskq"),
        d("sbindir", "taskq-api"),
        d("sbindir", "taskq-runner"),
        d("pkglibexecdir", "taskq-spawner"),
        d("sysconfdir", "taskq", "taskq.conf"),
        d("systemdsystemunitdir", "taskq-api.service"),
        d("systemdsystemunitdir", "taskq-api.socket"),
        d("systemdsystemunitdir", "taskq-runner.service"),
        d("sysusersdir", "taskq.conf"),
        d("tmpfilesdir", "taskq.conf"),
        d("mandir", "man1", "taskq.1"),
        d("mandir", "man5", "taskq.conf.5"),
        d("mandir", "man8", "taskq-api.8"),
        d("mandir", "man8", "taskq-runner.8"),
        d("docdir", "examples", "nginx", "taskq.conf"),
        d("docdir", "examples", "apache", "taskq.conf"),
    }
    for doc in ("README.md", "API.md", "ARCHITECTURE.md", "OPERATIONS.md"):
        exp.add(d("docdir", doc))
    for f in www_files():
        exp.add(d("taskqwwwdir", f))
    return exp


@suite.test
def test_install_tree_file_by_file():
    make("install", "DESTDIR=" + DEST)
    got, want = installed_files(), expected_files()
    eq(sorted(got - want), [], "installed but not expected")
    eq(sorted(want - got), [], "expected but not installed")
    for prog in (d("bindir", "taskq"), d("sbindir", "taskq-api"), d("sbindir", "taskq-runner")):
        check(os.access(prog, os.X_OK), "%s not executable", prog)
    check(filecmp.cmp(os.path.join(SRCDIR, "conf", "taskq.conf"),
                      d("sysconfdir", "taskq", "taskq.conf"), shallow=False), "taskq.conf differs")
    for f in www_files():
        check(filecmp.cmp(os.path.join(SRCDIR, "www", f), d("taskqwwwdir", f), shallow=False),
              "www/%s differs", f)
    for name in ("nginx", "apache"):
        check(filecmp.cmp(os.path.join(SRCDIR, "conf", name, "taskq.conf"),
                          d("docdir", "examples", name, "taskq.conf"), shallow=False), name)


@suite.test
def test_units_carry_configured_paths():
    for unit in ("taskq-api.service", "taskq-api.socket", "taskq-runner.service"):
        with open(d("systemdsystemunitdir", unit)) as f:
            text = f.read()
        left = re.findall(r"@[a-z_]+@", text)
        eq(left, [], "placeholders left in %s" % unit)
    with open(d("systemdsystemunitdir", "taskq-api.service")) as f:
        text = f.read()
    check("ExecStart=%s/taskq-api -f %s/taskq/taskq.conf\n" % (DIRS["sbindir"], DIRS["sysconfdir"]) in text, text)
    check("ReadWritePaths=%s/lib/taskq\n" % DIRS["localstatedir"] in text, text)
    with open(d("systemdsystemunitdir", "taskq-runner.service")) as f:
        text = f.read()
    check("ExecStart=%s/taskq-runner -f %s/taskq/taskq.conf\n" % (DIRS["sbindir"], DIRS["sysconfdir"]) in text, text)
    for want in ("Type=notify", "Restart=on-failure", "WatchdogSec=", "KillMode=mixed",
                 "User=taskq", "DynamicUser=no", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "PrivateTmp=yes", "ProtectHome=yes", "SystemCallFilter=@system-service",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"):
        check("\n" + want in text, "runner unit lacks %s", want)
    check("\nMemoryDenyWriteExecute=" not in text, "runner must leave MDWE off (libvips/orc JIT)")
    with open(d("systemdsystemunitdir", "taskq-api.socket")) as f:
        text = f.read()
    for want in ("ListenStream=/run/taskq/api.sock", "SocketUser=taskq", "SocketMode=0660"):
        check("\n" + want in text, "socket unit lacks %s", want)


@suite.test
def test_installed_programs_run():
    conf = d("sysconfdir", "taskq", "taskq.conf")
    for prog in (d("sbindir", "taskq-api"), d("sbindir", "taskq-runner")):
        p = subprocess.run([prog, "-n", "-f", conf], capture_output=True, timeout=30)
        eq(p.returncode, 0, "%s -n: %s" % (prog, p.stderr))
    p = subprocess.run([d("bindir", "taskq"), "-h"], capture_output=True, timeout=30)
    eq(p.returncode, 0, "taskq -h")


@suite.test
def test_systemd_analyze_verify():
    """The installed units, with ExecStart= pointing into DESTDIR (verify
    checks that the binaries exist), pass systemd-analyze verify silently."""
    sa = shutil.which("systemd-analyze")
    check(sa is not None, "systemd-analyze not found: install the Debian package systemd")
    vdir = os.path.join(TMP, "verify")
    os.makedirs(vdir)
    units = []
    for unit in ("taskq-api.socket", "taskq-api.service", "taskq-runner.service"):
        with open(d("systemdsystemunitdir", unit)) as f:
            text = f.read()
        text = text.replace("=%s/" % DIRS["sbindir"], "=%s/" % (DEST + DIRS["sbindir"]))
        path = os.path.join(vdir, unit)
        with open(path, "w") as f:
            f.write(text)
        units.append(path)
    p = subprocess.run([sa, "verify", "--man=no"] + units, capture_output=True, timeout=60, cwd=vdir)
    out = (p.stdout + p.stderr).decode()
    eq(p.returncode, 0, "systemd-analyze verify: " + out)
    eq(out.strip(), "", "systemd-analyze verify output")


@suite.test
def test_sysusers_and_tmpfiles_apply():
    root = os.path.join(TMP, "root")
    os.makedirs(os.path.join(root, "etc"))
    p = subprocess.run(["systemd-sysusers", "--root=" + root, d("sysusersdir", "taskq.conf")],
                       capture_output=True, timeout=60)
    eq(p.returncode, 0, "systemd-sysusers: %s" % p.stderr)
    with open(os.path.join(root, "etc", "passwd")) as f:
        check(re.search(r"^taskq:x:\d+:\d+:[^:]*:%s/lib/taskq:" % re.escape(DIRS["localstatedir"]),
                        f.read(), re.M), "no taskq user")
    p = subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create", d("tmpfilesdir", "taskq.conf")],
                       capture_output=True, timeout=60)
    eq(p.returncode, 0, "systemd-tmpfiles: %s" % p.stderr)
    st = os.stat(os.path.join(root + DIRS["localstatedir"], "lib", "taskq", "files"))
    eq(oct(st.st_mode & 0o777), oct(0o750), "state dir mode")


def man_text(page):
    p = subprocess.run(["groff", "-mandoc", "-Tascii", "-P-c", "-P-b", "-P-u", "-rLL=400n", page],
                       capture_output=True, timeout=60)
    eq(p.returncode, 0, "groff %s" % page)
    return p.stdout.decode()


def squeeze(s):
    return " ".join(s.split())


@suite.test
def test_usage_matches_man_page():
    check(shutil.which("groff") is not None, "groff not found: install the Debian package groff-base")
    for prog, page in ((d("sbindir", "taskq-api"), d("mandir", "man8", "taskq-api.8")),
                       (d("sbindir", "taskq-runner"), d("mandir", "man8", "taskq-runner.8")),
                       (d("bindir", "taskq"), d("mandir", "man1", "taskq.1"))):
        p = subprocess.run([prog, "-h"], capture_output=True, timeout=30)
        usage = p.stdout.decode()
        check(usage.startswith("usage: "), usage)
        first = usage.split("\n\n")[0][len("usage: "):]
        text = man_text(page)
        synopsis = squeeze(text.split("SYNOPSIS", 1)[1].split("DESCRIPTION", 1)[0])
        eq(squeeze(first), synopsis, os.path.basename(prog) + " synopsis")
        if os.path.basename(prog) == "taskq":
            commands = usage.split("commands:\n", 1)[1].split("\n\n", 1)[0]
            entries = re.split(r"\n(?=  \S)", commands)
            squeezed = squeeze(text)
            eq(len(entries), 13, "commands in usage")
            for e in entries:
                check(squeeze(e) in squeezed, "%r not in taskq(1)", squeeze(e))


@suite.test
def test_every_config_key_is_in_taskq_conf_5():
    with open(os.path.join(SRCDIR, "conf", "taskq.conf")) as f:
        keys = re.findall(r"^# ([a-z_]+) = ", f.read(), re.M)
    check(len(keys) > 20, "keys in conf/taskq.conf: %r", keys)
    with open(d("mandir", "man5", "taskq.conf.5")) as f:
        documented = re.findall(r"^\.It Cm ([a-z_]+)$", f.read(), re.M)
    eq(sorted(documented), sorted(keys), "keys in taskq.conf(5)")


@suite.test
def test_reinstall_keeps_changed_config_and_uninstall_is_clean():
    conf = d("sysconfdir", "taskq", "taskq.conf")
    with open(conf, "a") as f:
        f.write("slots = 3\n")
    make("install", "DESTDIR=" + DEST)
    with open(conf) as f:
        check(f.read().endswith("slots = 3\n"), "install overwrote a changed taskq.conf")
    make("uninstall", "DESTDIR=" + DEST)
    eq(sorted(installed_files()), [conf], "after uninstall, only the changed config stays")
    os.unlink(conf)
    make("install", "DESTDIR=" + DEST)
    eq(sorted(installed_files() ^ expected_files()), [], "reinstall differs")
    make("uninstall", "DESTDIR=" + DEST)
    eq(sorted(installed_files()), [], "files left after uninstall")


try:
    suite.finish()
finally:
    if os.environ.get("TASKQ_KEEP_STATE") != "1":
        shutil.rmtree(TMP, ignore_errors=True)
