"""The local API server's request limits, answered as API Gateway answers them: with problem JSON.

Requests the HTTP server itself refuses before the gateway sees them (a request line over 64 KB, too many or too
long headers, bad syntax) get a problem body too, not the server's HTML page.
"""

from __future__ import annotations

from http import HTTPStatus

from werkzeug.serving import WSGIRequestHandler

from shared.problems import PROBLEM_CONTENT_TYPE, problem

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit

# The HTTP server's own refusals, by status, as catalogue codes.
_SERVER_REFUSALS = {
    HTTPStatus.BAD_REQUEST: "validation_error",
    HTTPStatus.REQUEST_URI_TOO_LONG: "uri_too_long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "headers_too_large",
}


class ProblemRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, with the server's own error pages replaced by problem JSON."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        status = HTTPStatus(code)
        name = _SERVER_REFUSALS.get(status, "validation_error" if code < 500 else "internal_error")
        body = problem(name, explain or status.description or status.phrase).model_copy(update={"status": code})
        payload = body.model_dump_json(exclude_none=True).encode()
        self.log_error("code %d, message %s", code, message or status.phrase)
        self.send_response(code, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", PROBLEM_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(payload)
