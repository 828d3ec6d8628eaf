#!/usr/bin/python3
"""A real liblo client for the interop tests (Debian's python3-liblo, liblo's TCP framing).

usage: liblo_client.py PORT USER PEER SECONDS [rich|plain]
Registers USER in group 'band', waits until PEER is in the user list, sends /from/USER
with one argument of every type liblo supports (rich) or of the types Pd 0.53's [oscparse]
reads (plain: i f s b), and a private message to PEER, then
keeps receiving until SECONDS have passed or a message from PEER arrived. Prints one
JSON line per received message: {"path", "types", "args"}.
"""
import json
import sys
import time

import liblo

port, user, peer, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
rich = len(sys.argv) < 6 or sys.argv[5] == "rich"
received = []


def plain(value):
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return repr(value)
    return value if isinstance(value, (int, float, str)) else repr(value)


def on_message(path, args, types, src):
    received.append({"path": path, "types": types, "args": [plain(a) for a in args]})


server = liblo.Server(proto=liblo.TCP)
server.add_method(None, None, on_message)
router = liblo.Address(f"osc.tcp://127.0.0.1:{port}/")
server.send(router, "/oscrouter/register", user, "pw", "band", "gpw", 4242)

deadline = time.time() + seconds
sent = False
while time.time() < deadline:
    server.recv(20)
    lists = [m for m in received if m["path"] == "/oscrouter/userlist"]
    if not sent and lists and peer in lists[-1]["args"]:
        if rich:
            server.send(router, f"/from/{user}", ("i", 7), ("f", 0.5), ("s", "text"), ("d", 0.125), ("h", 2**40),
                        ("c", "x"), ("T", None), ("F", None), ("N", None), ("I", None), ("b", [1, 192, 219]))
        else:
            server.send(router, f"/from/{user}", ("i", 7), ("f", 0.5), ("s", "text"), ("b", [1, 192, 219]))
        server.send(router, "/oscrouter/private", peer, "whispa", ("i", 9))
        sent = True
    if sent and any(not m["path"].startswith("/oscrouter/") for m in received):
        # give the last packets a moment, then stop
        end = time.time() + 0.3
        while time.time() < end:
            server.recv(20)
        break

for m in received:
    print(json.dumps(m))
