"""email end to end (nginx -> taskq-api -> SQLite <- taskq-runner): through a
real SMTP server on loopback (tests/smtpd.py, aiosmtpd) the received message
is checked header by header; a 4xx is retried with backoff and succeeds on
attempt 2; a 5xx ends FAILED with the server's reply; and through the
default Maildir transport the message lands in STATE_DIR/maildir/new."""

import email
import email.policy
import email.utils
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402

suite = stack.Suite("test_workers_email")
SMTPD = os.path.join(stack.SRCDIR, "tests", "smtpd.py")
PYTHON = "/usr/bin/python3"     # Debian's, which has aiosmtpd
FROM = "taskq@example.org"
SUBJECT = "Grüße aus Köln – état ✓ 日本"
BODY = "Hello,\n\nline two: naïve café\n.a line starting with a dot\nFrom the start\n"
TO = ["alice@example.com", "bob@example.net"]
CC = ["carol@example.org"]


class Smtpd:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="taskq-smtpd-")
        self.proc = subprocess.Popen([PYTHON, SMTPD, "--dir", self.dir] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError("smtpd.py did not start: %r" % line)
        self.port = int(line.split()[1])

    def messages(self):
        out = []
        for n in range(1, 100):
            base = os.path.join(self.dir, str(n))
            if not os.path.exists(base + ".json"):
                break
            with open(base + ".json", encoding="utf-8") as f:
                info = json.load(f)
            with open(base + ".eml", "rb") as f:
                info["raw"] = f.read()
            out.append(info)
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def smtp_runner(st, smtpd):
    """A runner (the only one) delivering through smtpd."""
    for p in st.runner_procs:
        st._terminate(p)
    st.runner_procs = []
    st.start_runner(["email_transport=smtp", "smtp_url=smtp://127.0.0.1:%d" % smtpd.port,
                     "email_from=" + FROM, "retry_base_ms=100", "retry_max_ms=200",
                     "smtp_timeout_s=10"])


def send(st, fields=None, **params):
    p = {"to": TO, "cc": CC, "subject": SUBJECT, "body": BODY}
    p.update(params)
    return st.wait_for(st.submit("email", p, **(fields or {}))["id"], timeout=60)


def check_message(raw, res):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    stack.check(b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "CRLF line ends only")
    stack.eq(str(msg["From"]), FROM, "From")
    stack.eq([a.addr_spec for a in msg["To"].addresses], TO, "To")
    stack.eq([a.addr_spec for a in msg["Cc"].addresses], CC, "Cc")
    stack.eq(str(msg["Subject"]), SUBJECT, "Subject (decoded)")
    stack.check(all(b < 0x80 for b in raw.split(b"\r\n\r\n", 1)[0]), "headers are ASCII")
    stack.eq(msg["Message-ID"], res["message_id"], "Message-ID")
    date = email.utils.parsedate_to_datetime(msg["Date"])
    stack.check(abs(date.timestamp() - time.time()) < 120, "Date %r", msg["Date"])
    stack.eq(msg["MIME-Version"], "1.0", "MIME-Version")
    stack.eq(msg.get_content_type(), "text/plain", "content type")
    stack.eq(msg.get_content_charset(), "utf-8", "charset")
    stack.eq(msg.get_content().replace("\r\n", "\n"), BODY, "body (decoded)")


st = stack.Stack(runners=0).start()


@suite.test
def smtp_delivery_header_by_header():
    d = Smtpd()
    try:
        smtp_runner(st, d)
        t = send(st)
        stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
        res = t["result_data"]
        stack.eq(res["transport"], "smtp", "transport")
        stack.eq(res["recipients"], 3, "recipients")
        stack.check(res["smtp_reply"].startswith("2") or "OK" in res["smtp_reply"],
                    "smtp_reply %r", res["smtp_reply"])
        msgs = d.messages()
        stack.eq(len(msgs), 1, "messages received")
        m = msgs[0]
        stack.eq(m["mail_from"], FROM, "envelope sender")
        stack.eq(sorted(m["rcpt_tos"]), sorted(TO + CC), "envelope recipients")
        stack.eq(m["defects"], [], "parser defects")
        check_message(m["raw"], res)
    finally:
        d.stop()


@suite.test
def smtp_4xx_retried_then_success():
    d = Smtpd("--fail-first", "1", "--fail-code", "451")
    try:
        smtp_runner(st, d)
        t0 = time.time()
        t = send(st, to="dave@example.com", cc=[])
        stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
        stack.eq(t["attempt"], 2, "attempt")
        stack.eq(len(d.messages()), 1, "messages accepted")
        stack.check(time.time() - t0 < 15, "retry took %.1fs", time.time() - t0)
    finally:
        d.stop()


@suite.test
def smtp_5xx_fails_with_reply():
    d = Smtpd("--reject", "554")
    try:
        smtp_runner(st, d)
        t = send(st, to="erin@example.com")
        stack.eq(t["status"], "FAILED", "status")
        stack.eq(t["attempt"], 1, "not retried")
        msg = t["error_message"]
        stack.check("554" in msg and "Rejected (test)" in msg, "error %r", msg)
        stack.eq(d.messages(), [], "messages accepted")
    finally:
        d.stop()


@suite.test
def smtp_server_down_is_temporary():
    d = Smtpd()
    d.stop()    # nothing listens on its port any more
    smtp_runner(st, d)
    t = send(st, {"max_attempts": 2}, to="frank@example.com")
    stack.eq(t["status"], "FAILED", "status")
    stack.eq(t["attempt"], 2, "retried once")
    stack.check(t["error_message"], "error %r", t["error_message"])


@suite.test
def maildir_default_transport():
    for p in st.runner_procs:
        st._terminate(p)
    st.runner_procs = []
    st.start_runner(["email_from=" + FROM])
    t = send(st)
    stack.eq(t["status"], "SUCCESS", "status (%s)" % t["error_message"])
    res = t["result_data"]
    stack.eq((res["transport"], res["recipients"]), ("maildir", 3), "result")
    files = glob.glob(os.path.join(st.state, "maildir", "new", "*"))
    stack.eq(len(files), 1, "files in maildir/new")
    stack.eq(glob.glob(os.path.join(st.state, "maildir", "tmp", "*")), [], "maildir/tmp")
    with open(files[0], "rb") as f:
        check_message(f.read(), res)


st.cleanup()
suite.finish()
