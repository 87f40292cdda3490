/**
 * gRPC server reflection (`grpc.reflection.v1.ServerReflection` and its
 * older twin `grpc.reflection.v1alpha`, gRPC's `doc/server-reflection.md`),
 * answered from the file descriptors that generated code embeds: no `.proto`
 * is read at run time, so it needs no permission. What tools such as
 * `buf curl` and `grpcurl` use to call a server without its schema.
 *
 * @module
 */
import { GrpcError, Status } from "./errors.ts";
import type { ServiceEntry } from "./server.ts";
import type { FileDescriptor, ServiceType } from "./schema.ts";
import { type DescriptorIndex, indexFiles, withDependencies } from "./_descriptor_index.ts";
import * as v1 from "../proto/grpc/reflection/v1/reflection.ts";
import * as v1alpha from "../proto/grpc/reflection/v1alpha/reflection.ts";

type Request = v1.ServerReflectionRequest;
type Answer = v1.ServerReflectionResponse["messageResponse"];

function notFound(message: string): Answer {
  return { case: "errorResponse", value: { errorCode: Status.NOT_FOUND, errorMessage: message } };
}

function files(file: FileDescriptor | undefined, what: string): Answer {
  if (!file) return notFound(`${what} not found`);
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file).map((f) => f.proto) } };
}

function answer(index: DescriptorIndex, names: readonly string[], request: Request["messageRequest"]): Answer {
  switch (request.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: names.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.byFilename(request.value), `File '${request.value}'`);
    case "fileContainingSymbol":
      return files(index.bySymbol(request.value), `Symbol '${request.value}'`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = request.value;
      return files(
        index.byExtension(containingType, extensionNumber),
        `Extension ${extensionNumber} of '${containingType}'`,
      );
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbers(request.value);
      if (!numbers) return notFound(`Type '${request.value}' not found`);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: numbers } };
    }
    default:
      throw new GrpcError(Status.INVALID_ARGUMENT, "The reflection request asks nothing");
  }
}

/**
 * The reflection services of a server, v1 and v1alpha, with their handlers.
 *
 * @param hosted The other services the server hosts; the reflection services list and describe themselves too.
 * @returns The two entries, to host.
 */
export function createReflection(
  hosted: readonly ServiceType[],
): [ServiceEntry<typeof v1.ServerReflection>, ServiceEntry<typeof v1alpha.ServerReflection>] {
  const services = [...hosted, v1.ServerReflection, v1alpha.ServerReflection];
  const names = services.map((s) => s.typeName);
  let index: DescriptorIndex | undefined;
  async function* serverReflectionInfo(requests: AsyncIterable<Request>) {
    index ??= indexFiles(services.flatMap((s) => s.file ? [s.file] : []));
    for await (const request of requests) {
      const messageResponse = answer(index, names, request.messageRequest);
      yield { validHost: request.host, originalRequest: request, messageResponse };
    }
  }
  return [[v1.ServerReflection, { serverReflectionInfo }], [v1alpha.ServerReflection, { serverReflectionInfo }]];
}
