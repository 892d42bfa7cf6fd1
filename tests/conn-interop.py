"""The Python peer of tests/test-listener.c: multiprocessing.connection on the other end.

Usage: conn-interop.py MODE ADDRESS KEYHEX [DIGEST]

MODE
  server          Listener(ADDRESS, authkey=KEY) with the interpreter's own handshake,
                  prints READY, accepts one client and echoes (see below).
  client          Client(ADDRESS, authkey=KEY), then talks to an echo peer.
  modern-server   Listener without authkey; runs the Python >= 3.12 handshake written out
                  below (challenge `{DIGEST}` + 40 random bytes), then echoes.
  modern-client   Client without authkey; runs the >= 3.12 handshake by hand, then talks.

ADDRESS is libmp's notation: "@name" (abstract), "host:port", or a path. KEYHEX "-" means
no authkey. The echo protocol: every message comes back reversed; an empty message ends it
and is answered with b"done". Exit codes: 0 fine, 3 AuthenticationError, 4 wrong data.
The script kills itself after 60 s so a broken peer cannot hang the test.
"""
import hmac
import os
import signal
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

signal.alarm(60)

CHALLENGE = b"#CHALLENGE#"
WELCOME = b"#WELCOME#"
FAILURE = b"#FAILURE#"
ALLOWED = {"md5", "sha256", "sha384", "sha3_256", "sha3_384"}


def parse_address(a):
    if a.startswith("@"):
        return "\0" + a[1:]
    host, sep, port = a.rpartition(":")
    if sep and port.isdigit() and "/" not in a:
        return (host.strip("[]"), int(port))
    return a


def split_digest(message):
    # The >= 3.12 rule: 16 or 20 bytes are legacy MD5, else a {digest} prefix.
    if len(message) in (16, 20):
        return "md5", message, True
    if message.startswith(b"{"):
        end = message.find(b"}", 1, 10)
        if end > 0 and message[1:end].decode("ascii", "replace") in ALLOWED:
            return message[1:end].decode(), message[end + 1:], False
    raise AuthenticationError("unsupported digest prefix")


def modern_deliver(conn, key, digest):
    message = b"{%s}" % digest.encode() + os.urandom(40)
    conn.send_bytes(CHALLENGE + message)
    response = conn.recv_bytes(256)
    name, mac, _ = split_digest(response)
    expected = hmac.new(key, message, name).digest()
    if not hmac.compare_digest(expected, mac):
        conn.send_bytes(FAILURE)
        raise AuthenticationError("digest received was wrong")
    conn.send_bytes(WELCOME)


def modern_answer(conn, key):
    message = conn.recv_bytes(256)
    if not message.startswith(CHALLENGE):
        raise AuthenticationError("expected challenge")
    message = message[len(CHALLENGE):]
    name, _, legacy = split_digest(message)
    mac = hmac.new(key, message, name).digest()
    conn.send_bytes(mac if legacy else b"{%s}" % name.encode() + mac)
    if conn.recv_bytes(256) != WELCOME:
        raise AuthenticationError("digest sent was rejected")


def echo(conn):
    while True:
        m = conn.recv_bytes()
        if not m:
            conn.send_bytes(b"done")
            return
        conn.send_bytes(m[::-1])


def talk(conn):
    msgs = [b"hello from python", b"x", bytes(range(256)) * 1200, b"\0\1\2"]
    for m in msgs:
        conn.send_bytes(m)
        if conn.recv_bytes() != m[::-1]:
            sys.exit(4)
    conn.send_bytes(b"")
    if conn.recv_bytes() != b"done":
        sys.exit(4)


def main():
    mode, address, keyhex = sys.argv[1:4]
    digest = sys.argv[4] if len(sys.argv) > 4 else "sha256"
    address = parse_address(address)
    key = None if keyhex == "-" else bytes.fromhex(keyhex)
    try:
        if mode in ("server", "modern-server"):
            with Listener(address, authkey=key if mode == "server" else None) as listener:
                print("READY", flush=True)
                conn = listener.accept()
                if mode == "modern-server":
                    modern_deliver(conn, key, digest)
                    modern_answer(conn, key)
                echo(conn)
        elif mode == "client":
            talk(Client(address, authkey=key))
        elif mode == "modern-client":
            conn = Client(address)
            modern_answer(conn, key)
            modern_deliver(conn, key, digest)
            talk(conn)
        else:
            sys.exit(f"unknown mode {mode}")
    except AuthenticationError as e:
        print("AUTHFAIL", e, flush=True)
        sys.exit(3)


main()
