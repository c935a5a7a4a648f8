"""Web-server front ends for stack.Stack besides the development nginx: the
shipped site configurations for an installed system, conf/nginx/taskq.conf
("nginx-site") and conf/apache/taskq.conf ("apache", a real Debian apache2
with its own ServerRoot and a minimal httpd.conf in the state directory),
with their installed paths replaced by the test stack's.

start(stack, kind) returns (port, Popen)."""

import os
import shutil
import socket
import subprocess
import time

APACHE = os.environ.get("APACHE", shutil.which("apache2") or "/usr/sbin/apache2")
APACHE_MODULES = os.environ.get("APACHE_MODULES", "/usr/lib/apache2/modules")

# The installed paths in the site files, and what the tests put there.
INSTALLED_WWW = "/usr/share/taskq/www"
INSTALLED_SOCKET = "/run/taskq/api.sock"


def _render(src, dst, replacements):
    """Copies src to dst replacing each (old, new); every old must occur, so
    that a change of the shipped file cannot silently escape the test."""
    with open(src) as f:
        text = f.read()
    for old, new in replacements:
        if old not in text:
            raise RuntimeError("%s no longer contains %r" % (src, old))
        text = text.replace(old, new)
    with open(dst, "w") as f:
        f.write(text)


def _wait_listening(proc, port, logname, stack, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    return False


def _www(stack):
    """A copy of www/ in the state directory: the web server's workers run
    as nobody (group root) and may not reach the source tree (a clone under
    /root, mode 0700, say), but they reach the state directory."""
    from stack import SRCDIR
    www = os.path.join(stack.state, "www")
    if not os.path.isdir(www):
        shutil.copytree(os.path.join(SRCDIR, "www"), www)
    return www


def _nginx_site(stack, port):
    from stack import NGINX, SRCDIR
    ngx = os.path.join(stack.state, "nginx")
    for d in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(ngx, d), exist_ok=True)
    site = os.path.join(ngx, "taskq-site.conf")
    _render(os.path.join(SRCDIR, "conf", "nginx", "taskq.conf"), site, [
        ("listen 80;", "listen 127.0.0.1:%d;" % port),
        ("listen [::]:80;", ""),
        ("root %s;" % INSTALLED_WWW, "root %s;" % _www(stack)),
        ("alias %s/$1;" % INSTALLED_WWW, "alias %s/$1;" % _www(stack)),
        ("unix:%s;" % INSTALLED_SOCKET, "unix:%s;" % stack.sock),
        ("/var/log/nginx/taskq.access.log", os.path.join(ngx, "access.log")),
        ("/var/log/nginx/taskq.error.log", os.path.join(ngx, "error.log")),
    ])
    user = ""
    if os.geteuid() == 0:
        # As for Apache below: workers as nobody with group root, in the
        # place of www-data in the socket's group on a real host.
        os.chmod(stack.state, 0o750)
        user = "user nobody root;\n"
    conf = os.path.join(ngx, "nginx.conf")
    with open(conf, "w") as f:
        f.write(user + """daemon off;
master_process on;
worker_processes 2;
pid %(ngx)s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path %(ngx)s/client_body;
    proxy_temp_path %(ngx)s/proxy;
    fastcgi_temp_path %(ngx)s/fastcgi;
    uwsgi_temp_path %(ngx)s/uwsgi;
    scgi_temp_path %(ngx)s/scgi;
    include %(site)s;
}
""" % {"ngx": ngx, "site": site})
    return [NGINX, "-p", ngx, "-c", conf, "-e", "stderr"]


def _apache(stack, port):
    from stack import SRCDIR
    root = os.path.join(stack.state, "apache")
    os.makedirs(root, exist_ok=True)
    site = os.path.join(root, "taskq-site.conf")
    www = _www(stack)
    _render(os.path.join(SRCDIR, "conf", "apache", "taskq.conf"), site, [
        ("<VirtualHost *:80>", "<VirtualHost 127.0.0.1:%d>" % port),
        ('DocumentRoot "%s"' % INSTALLED_WWW, 'DocumentRoot "%s"' % www),
        ('<Directory "%s">' % INSTALLED_WWW, '<Directory "%s">' % www),
        ('"%s/$1"' % INSTALLED_WWW, '"%s/$1"' % www),
        ("unix:%s|" % INSTALLED_SOCKET, "unix:%s|" % stack.sock),
    ])
    user = ""
    if os.geteuid() == 0:
        # Apache will not serve as root: its children run as nobody with
        # group root, which reaches the state directory (made 0750) and the
        # API socket (0660, root's group), as www-data would on a real host.
        os.chmod(stack.state, 0o750)
        user = "User nobody\nGroup root\n"
    mods = ["mpm_event", "authz_core", "mime", "dir", "alias", "headers", "proxy", "proxy_fcgi"]
    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as f:
        f.write("ServerRoot \"%s\"\n" % root)
        for m in mods:
            f.write("LoadModule %s_module %s/mod_%s.so\n" % (m, APACHE_MODULES, m))
        f.write("""%(user)sListen 127.0.0.1:%(port)d
ServerName 127.0.0.1
PidFile "%(root)s/httpd.pid"
DefaultRuntimeDir "%(root)s"
Mutex file:%(root)s default
ErrorLog "%(root)s/error.log"
LogLevel warn
LogFormat "%%h %%t \\"%%r\\" %%>s %%b %%D" combined
TypesConfig /etc/mime.types
ServerTokens Prod
ServerSignature Off
TraceEnable Off
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
Define APACHE_LOG_DIR "%(root)s"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
Include "%(site)s"
""" % {"user": user, "port": port, "root": root, "site": site})
    check = subprocess.run([APACHE, "-t", "-f", conf], capture_output=True)
    if check.returncode != 0:
        raise RuntimeError("apache2 -t: %s" % check.stderr.decode())
    return [APACHE, "-DFOREGROUND", "-f", conf]


def start(stack, kind):
    """Starts the front end kind for stack on a free port: (port, Popen)."""
    from stack import free_port
    build = {"nginx-site": _nginx_site, "apache": _apache}[kind]
    for _ in range(5):
        port = free_port()
        cmd = build(stack, port)
        proc = subprocess.Popen(cmd, stdout=stack._log(kind), stderr=subprocess.STDOUT)
        if _wait_listening(proc, port, kind, stack):
            return port, proc
    raise RuntimeError("%s did not start; log:\n%s%s" % (
        kind, stack.read_log(kind),
        stack.read_log(os.path.join("apache", "error")) if kind == "apache" else ""))
