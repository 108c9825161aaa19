"""A raw TCP server on 127.0.0.1 for tests that script a peer's bytes (a broken backend, a service that
closes its connections): it accepts connections in a thread, numbers them from 1, and hands each to
`serve(conn, number)` in a thread of its own. Subclasses write `serve`."""
import itertools
import socket
import threading


class RawServer:
    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self._numbers = itertools.count(1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(conn, next(self._numbers)), daemon=True).start()

    def serve(self, conn, number):
        raise NotImplementedError

    def close(self):
        self.sock.close()
