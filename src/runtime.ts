/**
 * What generated code imports: the schema builders and the codec. It loads
 * neither grpc-js nor anything that needs a permission, so code that only
 * encodes and decodes messages runs with no flags at all.
 *
 * Generated files import it as `@greeter/grpc/runtime`.
 *
 * @module
 */
export {
  type AnyMethod,
  type BidiStreamingMethod,
  type ClientStreamingMethod,
  type FieldInfo,
  type FileDescriptor,
  fileDescriptor,
  type Init,
  type MessageType,
  type MethodInit,
  type MethodKind,
  type MethodMap,
  type MethodType,
  ScalarType,
  type ServerStreamingMethod,
  type ServiceType,
  serviceType,
  type UnaryMethod,
  type ValueInfo,
} from "./schema.ts";
export { messageType, ProtobufDecodeError } from "./codec.ts";
