#!/usr/bin/env python3
"""deploy/chatops/routectl-bot against two fake routectld APIs (sites ash and
chi) on 127.0.0.1 that record every request: the mapping of chat messages to
method, path, body and headers (Authorization, X-Actor, Idempotency-Key), the
replies, the exit status, error display, and that the token is never on the
bot's command line nor in its reply.

usage: chatops_bot_test.py [PORT_BASE]   (ports PORT_BASE..PORT_BASE+3;
       default $ROUTECTL_TEST_PORT or 29690)
"""

import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SRC = os.environ.get("ROUTECTL_SOURCE_ROOT") or \
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOT = os.path.join(SRC, "deploy", "chatops", "routectl-bot")
PORT_BASE = int(os.environ.get("ROUTECTL_TEST_PORT", "29690"))
TOKEN = "rct_" + "Q" * 20 + "test-token-secret" + "Z" * 6   # 4 + 43 characters, as real ones


def key_of(message_id):
    return "chatops-" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


STATUS = {
    "site": "ash", "generation": 7, "safe_mode": None,
    "bird": {"connected": True, "socket": "/run/bird/bird.ctl"},
    "last_apply": None, "in_flight": None,
    "services": [
        {"name": "web", "prefix_count": {"ipv4": 1, "ipv6": 1}, "state": "withdraw", "prepend": 0,
         "since": "2026-11-30T09:00:00Z", "actor": "chatops-bot for bob", "reason": "fiber cut",
         "next": None},
        {"name": "dns", "prefix_count": {"ipv4": 1, "ipv6": 1}, "state": "prepend", "prepend": 3,
         "since": "2026-11-30T09:01:00Z", "actor": "carol", "reason": "staged",
         "next": {"state": "withdraw", "prepend": 0, "at": "2026-11-30T09:06:00Z"}},
    ]}

CHANGED = {
    "site": "ash", "dry_run": False, "change_id": "6f1c2a9e0b3d4c5f",
    "changes": [{"service": "web", "from": {"state": "announce", "prepend": 0},
                 "to": {"state": "prepend", "prepend": 3},
                 "next": {"state": "withdraw", "prepend": 0, "at": "2026-11-30T10:35:00Z"}}],
    "apply": {"result": "ok", "ms": 12.5}}


class FakeApi(http.server.ThreadingHTTPServer):
    """Answers from self.replies {(method, path without query): (status, body)}
    (default 200 {}), records (method, path, headers, body, bot cmdline)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port):
        super().__init__(("127.0.0.1", port), Handler)
        self.requests = []
        self.replies = {}
        self.delay = 0.0
        self.bot_pid = None
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        cmdline = b""
        if self.server.bot_pid:
            try:
                with open("/proc/%d/cmdline" % self.server.bot_pid, "rb") as f:
                    cmdline = f.read()
            except OSError:
                pass
        self.server.requests.append({
            "method": self.command, "path": self.path, "headers": dict(self.headers),
            "body": json.loads(body) if body else None, "cmdline": cmdline})
        if self.server.delay:
            time.sleep(self.server.delay)
        status, reply, extra = 200, {}, {}
        r = self.server.replies.get((self.command, self.path.split("?")[0]))
        if r:
            status, reply = r[0], r[1]
            extra = r[2] if len(r) > 2 else {}
        data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = handle_any


class BotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ash = FakeApi(PORT_BASE)
        cls.chi = FakeApi(PORT_BASE + 1)
        cls.other = FakeApi(PORT_BASE + 2)   # where a redirect points
        cls.dead_port = PORT_BASE + 3        # nothing listens here
        cls.tmp = tempfile.mkdtemp(prefix="chatops-bot-test.")
        cls.config = os.path.join(cls.tmp, "chatops.json")
        with open(cls.config, "w") as f:
            json.dump({"sites": {"ash": "http://127.0.0.1:%d" % PORT_BASE,
                                 "chi": "http://127.0.0.1:%d/" % (PORT_BASE + 1)}}, f)

    @classmethod
    def tearDownClass(cls):
        for s in (cls.ash, cls.chi, cls.other):
            s.shutdown()
            s.server_close()

    def setUp(self):
        for s in (self.ash, self.chi, self.other):
            s.requests.clear()
            s.replies.clear()
            s.delay = 0.0

    def bot(self, *args, stdin="", env=None, user="alice"):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("ROUTECTL_") and k not in ("CHAT_USER",)}
        e["ROUTECTL_TOKEN"] = TOKEN
        e["ROUTECTL_BOT_CONFIG"] = self.config
        e.update(env or {})
        argv = [sys.executable, BOT] + (["--user", user] if user else []) + list(args)
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={k: v for k, v in e.items() if v is not None})
        for s in (self.ash, self.chi, self.other):
            s.bot_pid = p.pid
        out, err = p.communicate(stdin.encode(), timeout=30)
        out, err = out.decode(), err.decode()
        self.assertNotIn(TOKEN, out)
        self.assertNotIn(TOKEN, err)
        self.assertEqual(err, "", "the bot wrote to stderr: %s" % err)
        for s in (self.ash, self.chi, self.other):
            for r in s.requests:
                self.assertNotIn(TOKEN.encode(), r["cmdline"], "the token is on the bot's command line")
                self.assertTrue(r["cmdline"], "the bot's command line could not be read")
        return p.returncode, out

    def only(self, server):
        self.assertEqual(len(server.requests), 1, server.requests)
        for s in (self.ash, self.chi, self.other):
            if s is not server:
                self.assertEqual(s.requests, [])
        return server.requests[0]

    # ---------------------------------------------------------- writes

    def test_drain_services_and_reason(self):
        self.ash.replies[("POST", "/v1/drain")] = (200, CHANGED)
        rc, out = self.bot("--message-id", "C123/1700000000.0001",
                           "drain", "ash", "web", "--", "fiber", "cut", "at", "ash")
        self.assertEqual(rc, 0, out)
        r = self.only(self.ash)
        self.assertEqual((r["method"], r["path"]), ("POST", "/v1/drain"))
        self.assertEqual(r["body"], {"site": "ash", "services": ["web"], "reason": "fiber cut at ash"})
        self.assertEqual(r["headers"]["Authorization"], "Bearer " + TOKEN)
        self.assertEqual(r["headers"]["X-Actor"], "alice")
        self.assertEqual(r["headers"]["Content-Type"], "application/json")
        self.assertEqual(r["headers"]["Idempotency-Key"], key_of("C123/1700000000.0001"))
        self.assertIn("ash: drain web for alice, change 6f1c2a9e0b3d4c5f:", out)
        self.assertIn("web: announce -> prepend 3, then withdraw at 2026-11-30T10:35:00Z", out)

    def test_same_message_same_key_other_message_other_key(self):
        self.bot("--message-id", "m-1", "drain", "ash", "x")
        self.bot("--message-id=m-1", "drain", "ash", "x")
        self.bot("--message-id", "m-2", "drain", "ash", "x")
        self.bot("drain", "ash", "x")
        keys = [r["headers"].get("Idempotency-Key") for r in self.ash.requests]
        self.assertEqual(keys[0], keys[1])
        self.assertNotEqual(keys[0], keys[2])
        self.assertIsNone(keys[3], "no message id, no key")

    def test_drain_without_separator_is_all_services(self):
        rc, out = self.bot("drain", "ash", "fiber", "cut", "to", "chi")
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.only(self.ash)["body"], {"site": "ash", "reason": "fiber cut to chi"})

    def test_drain_flags_and_several_services(self):
        self.bot("drain", "chi", "--now", "web", "--dry-run", "dns", "--", "drill")
        r = self.only(self.chi)
        self.assertEqual(r["path"], "/v1/drain")
        self.assertEqual(r["body"], {"site": "chi", "services": ["web", "dns"], "reason": "drill",
                                     "now": True, "dry_run": True})

    def test_undrain_from_stdin_with_chat_user(self):
        rc, out = self.bot(stdin="undrain ash -- fiber repaired\n", user=None,
                           env={"CHAT_USER": "bob"})
        self.assertEqual(rc, 0, out)
        r = self.only(self.ash)
        self.assertEqual((r["method"], r["path"]), ("POST", "/v1/undrain"))
        self.assertEqual(r["body"], {"site": "ash", "reason": "fiber repaired"})
        self.assertEqual(r["headers"]["X-Actor"], "bob")

    def test_slash_command_name_is_skipped(self):
        self.bot("/routectl", "undrain", "ash", "done")
        self.assertEqual(self.only(self.ash)["path"], "/v1/undrain")

    def test_set_prepend(self):
        self.ash.replies[("PUT", "/v1/services/web")] = (200, CHANGED)
        rc, out = self.bot("set", "ash", "web", "prepend", "3", "shift", "load")
        self.assertEqual(rc, 0, out)
        r = self.only(self.ash)
        self.assertEqual((r["method"], r["path"]), ("PUT", "/v1/services/web"))
        self.assertEqual(r["body"], {"state": "prepend", "prepend": 3, "reason": "shift load"})
        self.assertIn("X-Actor", r["headers"])

    def test_set_answered_with_the_service(self):
        self.ash.replies[("PUT", "/v1/services/web")] = (200, STATUS["services"][1])
        rc, out = self.bot("set", "ash", "web", "prepend", "3", "x")
        self.assertEqual(rc, 0)
        self.assertIn("ash: set web to prepend 3 for alice: now prepend 3, then withdraw at "
                      "2026-11-30T09:06:00Z", out)
        self.ash.replies[("PUT", "/v1/services/web")] = (200, {})
        rc, out = self.bot("set", "ash", "web", "withdraw", "x")
        self.assertEqual(rc, 0)
        self.assertIn("done (routectld sent no details)", out)
        self.assertNotIn("nothing to change", out)

    def test_set_withdraw_has_no_prepend(self):
        self.bot("set", "chi", "dns", "withdraw", "--", "moving")
        r = self.only(self.chi)
        self.assertEqual(r["path"], "/v1/services/dns")
        self.assertEqual(r["body"], {"state": "withdraw", "reason": "moving"})

    def test_dry_run_and_nothing_to_change(self):
        self.ash.replies[("POST", "/v1/drain")] = (200, dict(CHANGED, dry_run=True, apply=None))
        rc, out = self.bot("drain", "ash", "--dry-run", "test")
        self.assertEqual(rc, 0)
        self.assertIn("(dry run, nothing changed)", out)
        self.ash.replies[("POST", "/v1/drain")] = (200, dict(CHANGED, changes=[], apply=None))
        rc, out = self.bot("drain", "ash", "again")
        self.assertEqual(rc, 0)
        self.assertIn("nothing to change", out)

    def test_partial_apply_fails(self):
        self.ash.replies[("POST", "/v1/drain")] = (200, dict(
            CHANGED, apply={"result": "partial", "message": "peer isp2 ignores routectl_export()"}))
        rc, out = self.bot("drain", "ash", "x")
        self.assertEqual(rc, 1)
        self.assertIn("APPLIED IN PART: peer isp2 ignores routectl_export()", out)

    # ---------------------------------------------------------- errors

    def test_api_error_shown_verbatim(self):
        msg = "refused: web would be announced from no site (chi is drained); use --force with a reason"
        self.ash.replies[("POST", "/v1/drain")] = (409, {"error": {"code": "refused", "message": msg}})
        rc, out = self.bot("drain", "ash", "web", "--", "x")
        self.assertEqual(rc, 1)
        self.assertIn(msg, out)
        self.assertIn("HTTP 409", out)

    def test_401_and_403_shown(self):
        self.ash.replies[("GET", "/v1/status")] = (401, {"error": {"code": "unauthorized",
                                                                   "message": "invalid token"}})
        rc, out = self.bot("status", "ash")
        self.assertEqual(rc, 1)
        self.assertIn("ash: invalid token (unauthorized, HTTP 401)", out)
        self.ash.replies[("POST", "/v1/drain")] = (403, {"error": {"code": "forbidden",
                                                                   "message": "role viewer may not drain"}})
        rc, out = self.bot("drain", "ash", "x")
        self.assertEqual(rc, 1)
        self.assertIn("role viewer may not drain", out)

    def test_token_echoed_by_server_is_not_shown(self):
        self.ash.replies[("POST", "/v1/drain")] = (400, {"error": {
            "code": "invalid", "message": "bad header Bearer %s" % TOKEN}})
        rc, out = self.bot("drain", "ash", "x")   # bot() asserts the token is not in out
        self.assertEqual(rc, 1)
        self.assertIn("[token]", out)

    def test_token_file(self):
        path = os.path.join(self.tmp, "token")
        with open(path, "w") as f:
            f.write(TOKEN + "\n")
        rc, out = self.bot("status", "ash", env={"ROUTECTL_TOKEN": None, "ROUTECTL_TOKEN_FILE": path})
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.only(self.ash)["headers"]["Authorization"], "Bearer " + TOKEN)

    def test_no_token_no_request(self):
        rc, out = self.bot("drain", "ash", "x", env={"ROUTECTL_TOKEN": None})
        self.assertEqual(rc, 1)
        self.assertIn("ROUTECTL_TOKEN", out)
        self.assertEqual(self.ash.requests, [])

    def test_token_is_not_an_option(self):
        # There is no way to give the token on the command line: "--token"
        # is not an option, so it is read as the message, an unknown command.
        rc, out = self.bot("--token", "rct_xxxxxxxx", "status")
        self.assertEqual(rc, 1)
        self.assertIn("unknown command '--token'", out)
        self.assertEqual(self.ash.requests, [])

    def test_no_reason_no_request(self):
        for words in (["drain", "ash"], ["drain", "ash", "web", "--"], ["undrain", "ash", "--now"],
                      ["set", "ash", "web", "withdraw"], ["set", "ash", "web", "prepend", "3"]):
            rc, out = self.bot(*words)
            self.assertEqual(rc, 1, words)
            self.assertIn("reason", out)
        self.assertEqual(self.ash.requests, [])

    def test_bad_messages(self):
        for words, text in ((["set", "ash", "web", "prepend", "11", "x"], "from 1 to 10"),
                            (["set", "ash", "web", "prepend", "x"], "from 1 to 10"),
                            (["set", "ash", "web", "up", "x"], "not a state"),
                            (["drain", "ash/../x", "y"], "not a site name"),
                            (["reboot", "ash"], "unknown command 'reboot'"),
                            (["drain", "paris", "x"], "unknown site 'paris' (known: ash, chi)")):
            rc, out = self.bot(*words)
            self.assertEqual(rc, 1, words)
            self.assertIn(text, out)
        self.assertEqual(self.ash.requests + self.chi.requests, [])

    def test_who_is_asking(self):
        rc, out = self.bot("status", user=None)
        self.assertEqual(rc, 1)
        self.assertIn("--user or CHAT_USER", out)

    def test_unreachable_site_nothing_sent(self):
        rc, out = self.bot("drain", "ash", "x",
                           env={"ROUTECTL_API_ASH": "http://127.0.0.1:%d" % self.dead_port})
        self.assertEqual(rc, 1)
        self.assertIn("cannot reach routectld at http://127.0.0.1:%d" % self.dead_port, out)
        self.assertIn("the drain was not sent", out)

    def test_no_answer_outcome_unknown(self):
        self.ash.delay = 3
        rc, out = self.bot("--timeout", "1", "drain", "ash", "x")
        self.assertEqual(rc, 1)
        self.assertIn("no answer from", out)
        self.assertIn("may or may not have been applied", out)

    def test_non_json_error(self):
        self.ash.replies[("POST", "/v1/drain")] = (502, b"<html>bad gateway</html>")
        rc, out = self.bot("drain", "ash", "x")
        self.assertEqual(rc, 1)
        self.assertIn("HTTP 502 without an error message", out)

    def test_redirect_not_followed(self):
        # urllib would follow a 302 of a GET, and a 303 of a POST, with the
        # Authorization header.
        self.ash.replies[("GET", "/v1/status")] = (
            302, {}, {"Location": "http://127.0.0.1:%d/v1/status" % (PORT_BASE + 2)})
        self.ash.replies[("POST", "/v1/drain")] = (
            303, {}, {"Location": "http://127.0.0.1:%d/v1/drain" % (PORT_BASE + 2)})
        for words in (["status", "ash"], ["drain", "ash", "x"]):
            rc, out = self.bot(*words)
            self.assertEqual(rc, 1, words)
            self.assertIn("HTTP 30", out)
        self.assertEqual(self.other.requests, [], "the token followed a redirect")

    def test_env_url_wins_over_config(self):
        self.bot("status", "ash", env={"ROUTECTL_API_ASH": "http://127.0.0.1:%d" % (PORT_BASE + 1)})
        self.assertEqual(self.only(self.chi)["path"], "/v1/status")

    def test_user_with_control_characters_cannot_add_a_header(self):
        self.bot("status", "ash", user="mallory\r\nX-Evil: 1 José")
        r = self.only(self.ash)
        self.assertNotIn("X-Evil", r["headers"])
        self.assertEqual(r["headers"]["X-Actor"], "mallory%0D%0AX-Evil: 1 Jos%C3%A9")

    # ---------------------------------------------------------- reads

    def test_status_all_sites(self):
        self.ash.replies[("GET", "/v1/status")] = (200, STATUS)
        self.chi.replies[("GET", "/v1/status")] = (200, dict(
            STATUS, site="chi", safe_mode={"kind": "state-lost", "reason": "state.json is missing"},
            bird={"connected": False, "error": "connection refused"}))
        rc, out = self.bot("status")
        self.assertEqual(rc, 0, out)
        for s in (self.ash, self.chi):
            r = self.only_one(s)
            self.assertEqual((r["method"], r["path"]), ("GET", "/v1/status"))
            self.assertNotIn("Idempotency-Key", r["headers"])
            self.assertEqual(r["headers"]["X-Actor"], "alice")
            self.assertIsNone(r["body"])
        self.assertIn("ash: generation 7, BIRD connected", out)
        self.assertRegex(out, r"web +withdraw +since 2026-11-30T09:00:00Z by chatops-bot for bob: fiber cut")
        self.assertIn("dns          prepend 3", out)
        self.assertIn("then withdraw at 2026-11-30T09:06:00Z", out)
        self.assertIn("chi: generation 7, BIRD NOT connected (connection refused)", out)
        self.assertIn("SAFE MODE (state-lost): state.json is missing", out)

    def only_one(self, server):
        self.assertEqual(len(server.requests), 1, server.requests)
        return server.requests[0]

    def test_status_one_site_and_one_site_down(self):
        self.ash.replies[("GET", "/v1/status")] = (200, STATUS)
        self.bot("status", "ash")
        self.only(self.ash)
        rc, out = self.bot("status", env={"ROUTECTL_API_CHI": "http://127.0.0.1:%d" % self.dead_port})
        self.assertEqual(rc, 1, "a site that does not answer fails the status")
        self.assertIn("ash: generation 7", out)
        self.assertIn("chi: cannot reach routectld", out)

    def test_history(self):
        rec = {"time": "2026-11-30T09:00:00.000Z", "actor": "chatops-bot", "on_behalf_of": "bob",
               "action": "drain", "site": "ash", "services": ["web"], "reason": "fiber cut",
               "result": "ok", "dry_run": False, "error": None}
        older = dict(rec, time="2026-11-30T08:00:00.000Z", site="chi", on_behalf_of=None,
                     actor="carol", result="refused",
                     error={"code": "refused", "message": "last-site guard"})
        self.ash.replies[("GET", "/v1/history")] = (200, [rec])
        self.chi.replies[("GET", "/v1/history")] = (200, {"history": [older]})
        rc, out = self.bot("history", "web")
        self.assertEqual(rc, 0, out)
        for s in (self.ash, self.chi):
            self.assertEqual(self.only_one(s)["path"], "/v1/history?limit=10&service=web")
        lines = out.splitlines()
        self.assertEqual(lines[0], "last changes of web:")
        self.assertEqual(lines[1], "  2026-11-30T09:00:00.000Z ash drain web by chatops-bot for bob: ok - fiber cut")
        self.assertEqual(lines[2], "  2026-11-30T08:00:00.000Z chi drain web by carol: refused "
                                   "(last-site guard) - fiber cut")

    def test_help(self):
        for args in (["help"], ["--help"], []):
            rc, out = self.bot(*args)
            self.assertEqual(rc, 0)
            self.assertIn("drain SITE [SERVICE...] -- REASON", out)
        self.assertEqual(self.ash.requests, [])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].isdigit():
        PORT_BASE = int(sys.argv.pop(1))
    unittest.main(verbosity=2)
