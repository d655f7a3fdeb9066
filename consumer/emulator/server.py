"""HTTP plumbing: read a request, route it by path, write the reply."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from consumer.emulator import admin, oauth
from consumer.emulator.api import CompanyApi
from consumer.emulator.faults import Fault
from consumer.emulator.state import EmulatorState
from consumer.emulator.wire import Hangup, Reply, Request, error_reply

logger = logging.getLogger(__name__)

_COMPANY_PREFIX = "/v3/company/"


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.api = CompanyApi(state)

    def dispatch(self, request: Request) -> Reply | Hangup:
        path, method = request.path, request.method
        if path.startswith(_COMPANY_PREFIX):
            realm_id, _, rest = path.removeprefix(_COMPANY_PREFIX).partition("/")
            resource = [part for part in rest.split("/") if part]
            return self.api.handle(request, realm_id, resource)
        if path.startswith(admin.PREFIX):
            return admin.handle(self.state, request)
        if (method, path) == ("GET", oauth.DISCOVERY_PATH):
            return oauth.discovery(request)
        if (method, path) == ("GET", oauth.JWKS_PATH):
            return oauth.jwks(request)
        if (method, path) == ("POST", oauth.TOKEN_PATH):
            return oauth.token(self.state, request)
        if (method, path) == ("POST", oauth.REVOKE_PATH):
            return oauth.revoke(self.state, request)
        return error_reply(404, "not_found", f"No such resource: {method} {path}")


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' sessions expect
    # Headers and body leave in separate writes; without this each reply on a kept-alive
    # connection waits for the client's delayed acknowledgement (about 40 ms).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        request = self._read(method)
        try:
            reply = self.server.dispatch(request)
        except Exception:
            logger.exception("The emulator failed on %s %s.", method, request.path)
            reply = Fault(
                "10000",
                "An application error has occurred while processing your request",
                "The emulator failed unexpectedly; see its log",
                status=500,
                fault_type="SystemFault",
            ).reply()
        if isinstance(reply, Hangup):
            self.close_connection = True  # and write nothing: the answer is lost
            return
        self._write(reply)

    def _read(self, method: str) -> Request:
        url = urlsplit(self.path)
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length)) if length.isdigit() and int(length) else b""
        address, port = self.server.server_address[:2]
        host = self.headers.get("Host") or f"{address!s}:{port}"
        return Request(
            method=method,
            path=url.path,
            query={key: values[0] for key, values in parse_qs(url.query).items()},
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("%s - " + format, self.address_string(), *args)
