// The Greeter on plain grpc-js with @grpc/proto-loader, as a grpc-js user
// would write it: the baseline peer of `deno task bench:compare`. The same
// file runs under Node (deps from ./node_modules) and under Deno (deps from
// the root deno.json), so that "bare grpc-js" is measured on both runtimes.
//
// Usage: node server.mjs --port 0   ->   prints "listening on <port>"
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import process from "node:process";

const PROTO = fileURLToPath(new URL("../../proto/hello.proto", import.meta.url));
const args = process.argv.slice(2);
const portAt = args.indexOf("--port");
const port = portAt >= 0 ? Number(args[portAt + 1]) : 0;

const definition = protoLoader.loadSync(PROTO, { keepCase: false, defaults: true });
const { Greeter } = grpc.loadPackageDefinition(definition);

const greet = (name) => `我是${name}`;

const handlers = {
  SayHello(call, callback) {
    callback(null, { name: greet(call.request.name) });
  },
  LotsOfReplies(call) {
    const count = call.request.count || 3;
    const reply = { name: greet(call.request.name) };
    let sent = 0;
    let cancelled = false;
    call.on("cancelled", () => cancelled = true);
    const pump = () => {
      while (sent < count && !cancelled) {
        sent++;
        if (!call.write(reply)) return void call.once("drain", pump);
      }
      if (!cancelled) call.end();
    };
    pump();
  },
  LotsOfGreetings(call, callback) {
    const names = [];
    call.on("data", (request) => names.push(request.name));
    call.on("end", () => callback(null, { name: greet(names.join(", ")) }));
  },
  BidiHello(call) {
    call.on("data", (request) => call.write({ name: greet(request.name) }));
    call.on("end", () => call.end());
  },
};

const server = new grpc.Server();
server.addService(Greeter.service, handlers);
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
