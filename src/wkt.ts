/**
 * The well-known types of protobuf (`google/protobuf/*.proto`) as generated
 * code. Generated files that import a well-known type import it from here as
 * `@greeter/grpc/wkt`.
 *
 * @module
 */
export * from "../proto/google/protobuf/any.ts";
export * from "../proto/google/protobuf/duration.ts";
export * from "../proto/google/protobuf/empty.ts";
export * from "../proto/google/protobuf/field_mask.ts";
export * from "../proto/google/protobuf/struct.ts";
export * from "../proto/google/protobuf/timestamp.ts";
export * from "../proto/google/protobuf/wrappers.ts";
