"""A moto server on loopback that handles one request at a time, in a background thread.

In-process ``mock_aws`` is not safe for races (50 threads racing one conditional update produced several
winners); a server that serializes requests behaves like DynamoDB's per-item atomicity.
"""

from __future__ import annotations

import threading

import httpx
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server


class SerialMotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(
            host,
            port,
            DomainDispatcherApplication(create_backend_app),
            threaded=False,
            request_handler=MotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SerialMotoServer:
        """Serve, from a clean account: moto's state is per process, shared with every other test in it."""
        self._thread.start()
        self.reset()
        return self

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.reset()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
