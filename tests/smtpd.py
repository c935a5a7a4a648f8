#!/usr/bin/python3
"""A small SMTP server on loopback for taskq's tests (Debian python3-aiosmtpd).

Run it with Debian's interpreter, /usr/bin/python3: a pyenv python3 lacks
the dist-packages that hold aiosmtpd.

    /usr/bin/python3 tests/smtpd.py --dir DIR [--host 127.0.0.1] [--port 0]
        [--fail-first N] [--fail-code 451] [--fail-stage data]
        [--reject CODE] [--reject-stage data] [--auth USER:PASSWORD]
        [--tls-cert FILE --tls-key FILE [--implicit-tls]] [--silent]

Once listening it prints one line "PORT <n>" on stdout (flushed; --port 0
picks a free port) and serves until SIGTERM or SIGINT.

Each accepted message is stored under DIR, numbered from 1 in order of
acceptance:
    DIR/<n>.eml   the message exactly as received (CRLF line ends, SMTP
                  dot-stuffing already undone)
    DIR/<n>.json  {"mail_from": str, "rcpt_tos": [str], "subject": str
                  (decoded by Python's email package), "body": str (the
                  text/plain content decoded, line ends as "\\n"),
                  "defects": [str] (what the parser found malformed),
                  "auth_login": str or null (the AUTH user name),
                  "headers": [[name, raw value], ...]}
Both are complete before the server answers 250; the .json is renamed into
place after the .eml is written, so a reader that sees <n>.json can read both.

--fail-first N   the first N transactions are answered with
                 "<fail-code> 4.3.0 Try again later (test)" at --fail-stage
                 (mail: MAIL FROM, rcpt: the first RCPT TO, data: after the
                 message); the transactions after them succeed.
--fail-code C    the reply code for --fail-first (default 451).
--reject C       every transaction is answered "C 5.7.1 Rejected (test)" at
                 --reject-stage (same choices, default data).
--auth U:P       require AUTH (PLAIN or LOGIN, allowed without TLS) with this
                 user name and password; other credentials get 535.
--tls-cert F, --tls-key F
                 offer STARTTLS with this certificate and key (PEM).
--implicit-tls   with the above: TLS from the first byte (smtps://)
                 instead of STARTTLS.
--silent         accept TCP connections but never send a byte: a server that
                 hangs, for client timeouts.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import signal
import ssl
import sys
import warnings

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    sys.stderr.write("smtpd.py: aiosmtpd is missing (apt-get install "
                     "python3-aiosmtpd; run with /usr/bin/python3)\n")
    sys.exit(2)


class Handler:
    def __init__(self, args):
        self.args = args
        self.dir = args.dir
        self.count = {"mail": 0, "rcpt": 0, "data": 0}
        self.stored = 0

    def _verdict(self, stage, first_rcpt=True):
        """The failure reply for this stage, or None to accept."""
        a = self.args
        if a.reject is not None and a.reject_stage == stage:
            return "%d 5.7.1 Rejected (test)" % a.reject
        if a.fail_first > 0 and a.fail_stage == stage and first_rcpt:
            self.count[stage] += 1
            if self.count[stage] <= a.fail_first:
                return "%d 4.3.0 Try again later (test)" % a.fail_code
        return None

    @staticmethod
    def login_of(session):
        data = getattr(session, "auth_data", None)
        if isinstance(data, LoginPassword):
            return data.login.decode("utf-8", "replace")
        return None

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        user, _, password = self.args.auth.partition(":")
        ok = (isinstance(auth_data, LoginPassword) and
              auth_data.login == user.encode() and
              auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        v = self._verdict("mail")
        if v is not None:
            return v
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        v = self._verdict("rcpt", first_rcpt=not envelope.rcpt_tos)
        if v is not None:
            return v
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        v = self._verdict("data")
        if v is not None:
            return v
        data = envelope.original_content or envelope.content
        msg = email.message_from_bytes(data, policy=email.policy.default)
        try:
            body = msg.get_content() if not msg.is_multipart() else None
        except Exception as e:  # a broken body is a finding, not a crash
            body = None
            msg.defects.append(repr(e))
        if isinstance(body, str):
            body = body.replace("\r\n", "\n")
        self.stored += 1
        n = self.stored
        base = os.path.join(self.dir, str(n))
        with open(base + ".eml", "wb") as f:
            f.write(data)
        info = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(msg["subject"]) if "subject" in msg else None,
            "body": body,
            "defects": [repr(d) for d in msg.defects],
            "auth_login": self.login_of(session),
            "headers": [[k, v] for k, v in msg.raw_items()],
        }
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(info, f, ensure_ascii=False)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK queued as %d" % n


class Silent(asyncio.Protocol):
    """Takes the connection and whatever is sent, answers nothing."""

    def data_received(self, data):
        pass


async def main():
    p = argparse.ArgumentParser(description="SMTP test server")
    p.add_argument("--dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    stages = ["mail", "rcpt", "data"]
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-code", type=int, default=451)
    p.add_argument("--fail-stage", choices=stages, default="data")
    p.add_argument("--reject", type=int, default=None)
    p.add_argument("--reject-stage", choices=stages, default="data")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD")
    p.add_argument("--tls-cert", default=None)
    p.add_argument("--tls-key", default=None)
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--silent", action="store_true")
    args = p.parse_args()
    # AUTH without TLS is what this test server is for: no warnings.
    warnings.filterwarnings("ignore")
    # Failed TLS handshakes are what some tests expect: no tracebacks.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    if not os.path.isdir(args.dir):
        p.error("--dir %s: not a directory" % args.dir)

    context = None
    if args.tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)

    loop = asyncio.get_running_loop()
    if args.silent:
        factory = Silent
    else:
        handler = Handler(args)

        def factory():
            kw = {}
            if context is not None and not args.implicit_tls:
                kw["tls_context"] = context
            if args.auth is not None:
                kw.update(authenticator=handler.authenticate,
                          auth_required=True, auth_require_tls=False)
            return SMTP(handler, hostname="smtpd.test", ident="taskq-smtpd",
                        **kw)
    server = await loop.create_server(
        factory, args.host, args.port,
        ssl=context if args.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()

    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
