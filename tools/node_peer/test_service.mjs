// grpc.testing.TestService's UnaryCall on plain grpc-js with @grpc/proto-loader,
// as a grpc-js user would write it: the peer of the TestService row of
// `deno task bench:compare`. The .proto files come from Debian's grpc-proto.
//
// Usage: node test_service.mjs --port 0   ->   prints "listening on <port>"
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import process from "node:process";

const INCLUDE = "/usr/share/grpc-proto";
const args = process.argv.slice(2);
const portAt = args.indexOf("--port");
const port = portAt >= 0 ? Number(args[portAt + 1]) : 0;

const definition = protoLoader.loadSync("grpc/testing/test.proto", {
  includeDirs: [INCLUDE],
  keepCase: false,
  defaults: true,
  enums: Number,
});
const { TestService } = grpc.loadPackageDefinition(definition).grpc.testing;

const handlers = {
  EmptyCall(_call, callback) {
    callback(null, {});
  },
  UnaryCall(call, callback) {
    const { responseType, responseSize } = call.request;
    callback(null, { payload: { type: responseType, body: Buffer.alloc(responseSize) } });
  },
};

const server = new grpc.Server();
server.addService(TestService.service, handlers);
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
  if (error) {
    console.error(`error: ${error.message}`);
    process.exit(1);
  }
  console.log(`listening on ${bound}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.tryShutdown(() => process.exit(0)));
}
