import socket


def connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"stolen")
        return "connected"
    except OSError as exc:
        return f"failed: {exc}"
