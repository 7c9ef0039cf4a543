"""Drives python-socketio's client against the Rust server started by
tests/interop_socketio.rs: connect with auth, emit with ack, a server-side
emit with ack, a broadcast, a refused connection, disconnect.

Usage: python py/sio_client.py <url> <websocket|polling> <default|msgpack>
"""

import sys
import threading

import socketio


def main():
    url, transport, serializer = sys.argv[1:4]

    def fail(message):
        print(f"FAIL [{transport}/{serializer}]: {message}", file=sys.stderr)
        sys.exit(1)

    sio = socketio.Client(reconnection=False, serializer=serializer)
    welcome = threading.Event()
    news = []
    news_arrived = threading.Event()

    @sio.on("welcome")
    def on_welcome(data):
        if data.get("sid") != sio.get_sid("/"):
            fail(f"welcome {data} does not carry our sid {sio.get_sid('/')}")
        welcome.set()

    @sio.on("news")
    def on_news(data):
        news.append(data)
        news_arrived.set()

    @sio.on("question")
    def on_question(n):
        return {"answer": n * 2}

    sio.connect(url, auth={"token": "secret"}, transports=[transport], wait_timeout=5)
    if not welcome.wait(5):
        fail("no welcome")
    if sio.transport() != transport:
        fail(f"transport is {sio.transport()}")

    reply = sio.call("echo", ({"a": 1}, "b"), timeout=5)
    if reply != ({"a": 1}, "b"):
        fail(f"echo replied {reply!r}")
    reply = sio.call("echo", b"\x01\x02\x03", timeout=5)
    if reply != b"\x01\x02\x03":
        fail(f"binary echo replied {reply!r}")
    reply = sio.call("ask", 21, timeout=5)
    if reply != {"answer": 42}:
        fail(f"ask replied {reply!r}")

    sio.emit("broadcast", "hello")
    if not news_arrived.wait(5) or news != ["hello"]:
        fail(f"broadcast: {news!r}")

    refused = socketio.Client(reconnection=False, serializer=serializer)
    refusals = []

    @refused.on("connect_error")
    def on_connect_error(data):
        refusals.append(data)

    try:
        refused.connect(url, auth={"token": "wrong"}, transports=[transport], wait_timeout=5)
        fail("a wrong token was accepted")
    except socketio.exceptions.ConnectionError:
        pass
    if refusals != [{"message": "unauthorized", "data": {"reason": "bad token"}}]:
        fail(f"refusal said {refusals!r}")

    sio.disconnect()
    print(f"ok {transport} {serializer}")


if __name__ == "__main__":
    main()
