#!/bin/sh
# Cold call: whole-process wall time of one SayHello against one running server,
# ours (`deno task call`, `deno run client.ts`) against the tutorial's Python
# client (its stubs generated once beforehand, as the tutorial does), with the
# runtime floors beside them; hyperfine, in sets, each command in turn.
#
# Usage: sh tools/cold_call.sh [sets]   (needs hyperfine, python3-grpcio, grpc_tools)
set -eu
cd "$(dirname "$0")/.."
SETS=${1:-3}
PY=/usr/bin/python3
E="--allow-env=GRPC_NODE_USE_ALTERNATIVE_RESOLVER,GRPC_NODE_DEBUG_SEND_ERROR_DETAILS,GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION,GRPC_NODE_VERBOSITY,GRPC_VERBOSITY,GRPC_NODE_TRACE,GRPC_TRACE,GRPC_SSL_CIPHER_SUITES,GRPC_DEFAULT_SSL_ROOTS_FILE_PATH,grpc_proxy,https_proxy,http_proxy,no_grpc_proxy,no_proxy"
TMP=$(mktemp -d /tmp/cold-call-XXXXXX)
trap 'kill $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT
$PY -m grpc_tools.protoc -Iproto --python_out="$TMP" --grpc_python_out="$TMP" proto/hello.proto
cat > "$TMP/tutorial_client.py" <<'PY'
import sys
import grpc
import hello_pb2
import hello_pb2_grpc

with grpc.insecure_channel(sys.argv[1]) as channel:
    stub = hello_pb2_grpc.GreeterStub(channel)
    response = stub.SayHello(hello_pb2.HelloRequest(name="zzz"))
print(response.name)
PY
echo 'import "node:http2";' > "$TMP/http2_only.ts"
echo 'import "npm:@grpc/grpc-js@1.14.7";' > "$TMP/grpc_js_only.ts"
: > "$TMP/empty.ts"
deno run --allow-net=127.0.0.1 $E server.ts --port 0 > "$TMP/server.out" 2>&1 &
SERVER=$!
i=0
until grep -q "listening on" "$TMP/server.out"; do i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
PORT=$(grep -o "127.0.0.1:[0-9]*" "$TMP/server.out" | cut -d: -f2)
deno cache --quiet "$TMP/grpc_js_only.ts"
for set in $(seq "$SETS"); do
  hyperfine -N --warmup 2 --runs 10 --export-json "$TMP/set.json" \
    -n "deno task call" "deno task call --port $PORT" \
    -n "python tutorial client" "$PY $TMP/tutorial_client.py 127.0.0.1:$PORT" \
    -n "deno run src/_call_cli.ts" "deno run --allow-net=127.0.0.1 $E src/_call_cli.ts --port $PORT" \
    -n "deno run client.ts (grpc-js loaded)" "deno run --allow-net=127.0.0.1 $E client.ts --port $PORT" \
    -n "deno: import node:http2 only" "deno run $TMP/http2_only.ts" \
    -n "deno: import grpc-js only" "deno run --allow-env $TMP/grpc_js_only.ts" \
    -n "deno: empty script" "deno run $TMP/empty.ts" \
    -n "python3 -c pass" "$PY -c pass" > /dev/null 2>&1
  $PY -c "
import json
for r in json.load(open('$TMP/set.json'))['results']:
    print('set $set  %-36s median %6.1f ms  min %6.1f ms' % (r['command'], r['median'] * 1000, r['min'] * 1000))
"
done
