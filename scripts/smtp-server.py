#!/usr/bin/env python3
"""A local SMTP server for tests/it/email.rs (aiosmtpd, pinned in scripts/test).

    smtp-server.py PORT DIR CERT KEY USER PASSWORD starttls|tls

Listens on 127.0.0.1:PORT with STARTTLS required (`starttls`) or implicit
TLS (`tls`), with CERT/KEY; AUTH (PLAIN, LOGIN) only over TLS, required
before MAIL, accepting USER/PASSWORD only (anything else: 535). Writes each
message to DIR/NNNN.json (envelope, subject and decoded text body), each
AUTH attempt as a line of DIR/auth.log (`ok` or `refused`), and DIR/ready
once it listens. Runs until killed.
"""
import email
import email.policy
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out, cert, key, user, password, mode = sys.argv[1:8]
lock = threading.Lock()
count = 0


def write(name, text):
    # Written whole then renamed: the test never reads half a file.
    tmp = os.path.join(out, "." + name)
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(out, name))


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        with lock:
            count += 1
            n = count
        write(
            f"{n:04}.json",
            json.dumps(
                {
                    "mailFrom": envelope.mail_from,
                    "rcptTos": envelope.rcpt_tos,
                    "from": str(msg["from"]),
                    "to": str(msg["to"]),
                    "subject": str(msg["subject"]),
                    "messageId": str(msg["message-id"]),
                    "body": body.get_content() if body is not None else "",
                    "raw": envelope.original_content.decode("utf-8", "replace"),
                }
            ),
        )
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password.encode()
    )
    with lock:
        with open(os.path.join(out, "auth.log"), "a") as f:
            f.write("ok\n" if ok else "refused\n")
    # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
    return AuthResult(success=ok, handled=False)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
if mode == "tls":
    # The whole connection is TLS; aiosmtpd's auth_require_tls only knows
    # STARTTLS, so it would hide AUTH here.
    tls = {"ssl_context": context, "auth_require_tls": False}
else:
    tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=int(port),
    authenticator=authenticator,
    auth_required=True,
    **tls,
)
controller.start()
write("ready", port)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
