#!/usr/bin/env python3
"""hold-proxy.py UPSTREAM_PORT HOLD_FILE - a TCP relay on a free loopback
port (printed on stdout) to 127.0.0.1:UPSTREAM_PORT that holds every new
connection, without answering, for as long as HOLD_FILE exists. Tests use
it to keep a job inside a stage that talks to a server (a clone, a plan,
a push) for as long as they need, with the real server behind it."""
import os
import socket
import sys
import threading
import time

upstream = int(sys.argv[1])
hold = sys.argv[2]


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn):
    while os.path.exists(hold):
        time.sleep(0.05)
    try:
        up = socket.create_connection(("127.0.0.1", upstream))
    except OSError:
        conn.close()
        return
    threading.Thread(target=pipe, args=(up, conn), daemon=True).start()
    pipe(conn, up)


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
