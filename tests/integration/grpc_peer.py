#!/usr/bin/python3
"""A gRPC server and client pair for the integration tests (Debian's python3-grpcio). Messages
are raw bytes (generic handlers, no protobuf), so no code generation is needed.

    grpc_peer.py serve ADDR:PORT        serves echo.Echo until killed; prints "listening" first
    grpc_peer.py call TARGET AUTHORITY  calls every method through TARGET (strait), routing by
                                        AUTHORITY, and prints one JSON object with the results
"""
import json
import sys
from concurrent import futures

import grpc


def unary(request, context):
    context.set_trailing_metadata((("x-trailer", "unary"),))
    return b"echo:" + request


def server_stream(request, context):
    for i in range(int(request.decode())):
        yield ("msg-%d" % i).encode()


def client_stream(request_iterator, context):
    total = sum(len(m) for m in request_iterator)
    return str(total).encode()


def bidi(request_iterator, context):
    for m in request_iterator:
        yield m.upper()


def big(request, context):
    return b"x" * int(request.decode())


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def serve(address):
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Big": grpc.unary_unary_rpc_method_handler(big),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
    server.add_insecure_port(address)
    server.start()
    print("listening", flush=True)
    server.wait_for_termination()


def outcome(fn):
    try:
        return {"ok": True, "value": fn()}
    except grpc.RpcError as e:
        return {"ok": False, "code": e.code().name, "details": e.details()}


def call(target, authority):
    channel = grpc.insecure_channel(target, options=[("grpc.default_authority", authority)])
    timeout = 10
    results = {}

    def do_unary():
        response, c = channel.unary_unary("/echo.Echo/Unary").with_call(b"hello", timeout=timeout)
        return {"response": response.decode(), "trailers": dict(c.trailing_metadata())}

    results["unary"] = outcome(do_unary)
    results["server_stream"] = outcome(
        lambda: [m.decode() for m in channel.unary_stream("/echo.Echo/ServerStream")(
            b"50", timeout=timeout)])
    big = [b"x" * 100000 for _ in range(30)]  # 3 MB upstream, past every flow-control window
    results["client_stream"] = outcome(
        lambda: channel.stream_unary("/echo.Echo/ClientStream")(iter(big), timeout=timeout)
        .decode())
    results["bidi"] = outcome(
        lambda: [m.decode() for m in channel.stream_stream("/echo.Echo/Bidi")(
            iter([b"a", b"b", b"c"]), timeout=timeout)])
    # 3 MB of responses through one channel (one upstream HTTP/2 session), in 150 unary calls
    # whose last bytes arrive together with the end of their stream: more than the session's
    # 1 MiB connection window, so strait must return it even for streams already closed.
    results["big"] = outcome(
        lambda: sorted({len(channel.unary_unary("/echo.Echo/Big")(b"20000", timeout=timeout))
                        for _ in range(150)}))
    results["fail"] = outcome(
        lambda: channel.unary_unary("/echo.Echo/Fail")(b"", timeout=timeout).decode())
    print(json.dumps(results))


def main():
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "call":
        call(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
