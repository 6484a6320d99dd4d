"""A TCP front for the gateways of one site: each connection it accepts goes to the
next gateway, round robin, as a layer-4 load balancer (HAProxy in TCP mode, IPVS)
spreads clients. Clients that open several connections (aws-cli's and boto3's
transfer threads, rclone) see their requests spread over every gateway."""
import itertools
import socket
import threading


class RoundRobin:
    def __init__(self, port, targets):
        self.targets = itertools.cycle(targets)
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", port))
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                target = next(self.targets)
                self.connections += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", target))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # Half-close, so a response still on its way in the other direction lands.
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.listener.close()
