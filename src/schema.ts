/**
 * The schema that generated code is made of: message types driven by field
 * tables, and service definitions from which handler and client types are
 * derived. `deno task gen` writes these; the codec, the server and the client
 * read them, so a new field or RPC never means editing runtime code.
 *
 * @module
 */

/** The scalar types of protobuf, numbered as in `descriptor.proto`'s `FieldDescriptorProto.Type`. */
export const ScalarType = {
  DOUBLE: 1,
  FLOAT: 2,
  INT64: 3,
  UINT64: 4,
  INT32: 5,
  FIXED64: 6,
  FIXED32: 7,
  BOOL: 8,
  STRING: 9,
  BYTES: 12,
  UINT32: 13,
  SFIXED32: 15,
  SFIXED64: 16,
  SINT32: 17,
  SINT64: 18,
} as const;

/** One of the values of {@linkcode ScalarType}. */
export type ScalarType = typeof ScalarType[keyof typeof ScalarType];

/** What a map's values, or a singular or repeated field, hold. */
export type ValueInfo =
  | { readonly kind: "scalar"; readonly T: ScalarType }
  /** An enum: an `int32` on the wire; open, so unknown values survive as numbers. `T` is its full name. */
  | { readonly kind: "enum"; readonly T: string }
  /** A message, referenced lazily so that types may refer to each other. */
  | { readonly kind: "message"; readonly T: () => MessageType<object> };

/** One field of a message, as generated from the `.proto`. */
export type FieldInfo =
  & {
    /** The field number. */
    readonly no: number;
    /** The field's name in the `.proto`. */
    readonly name: string;
    /** The field's name in TypeScript (lowerCamelCase). */
    readonly localName: string;
    /** `repeated`: an array in TypeScript. */
    readonly repeated?: boolean;
    /** For a repeated scalar or enum: false when the `.proto` says `[packed = false]`. */
    readonly packed?: boolean;
    /** proto3 `optional`: presence is kept (`undefined` when absent). */
    readonly optional?: boolean;
    /** The local name of the `oneof` this field belongs to. */
    readonly oneof?: string;
  }
  & (
    | ValueInfo
    /** A `map<K, V>`: a plain object in TypeScript. */
    | { readonly kind: "map"; readonly K: ScalarType; readonly V: ValueInfo }
  );

/**
 * A message's constructor-free shape in the runtime: its name, its fields, and
 * its codec. Generated code makes one with {@linkcode messageType}.
 */
export interface MessageType<T extends object> {
  /** The fully qualified name, such as `"grpc.testing.SimpleRequest"`. */
  readonly typeName: string;
  /** The fields, in `.proto` order. */
  readonly fields: readonly FieldInfo[];
  /**
   * The protobuf bytes of a message, byte for byte what Python's
   * `SerializeToString()` writes (map entries sorted by key, as its
   * `deterministic=True` does).
   *
   * @throws {TypeError} When a field has the wrong type or a string has a lone surrogate.
   * @throws {RangeError} When a number does not fit its field.
   */
  encode(message: Init<T>): Uint8Array;
  /**
   * A message from protobuf bytes, with proto3 defaults for absent fields.
   *
   * @throws {ProtobufDecodeError} When the bytes are malformed.
   */
  decode(bytes: Uint8Array): T;
  /** A complete message from a partial one: absent fields get their proto3 defaults. */
  create(init?: Init<T>): T;
  /** Phantom: the TypeScript shape, for type-level use only. */
  readonly $type?: T;
}

/**
 * What a request or a message to encode may be: any part of the message,
 * nested messages included. A `oneof` is `{ case, value }` or absent.
 */
export type Init<T> = T extends Uint8Array | string | number | bigint | boolean | undefined | null ? T
  : T extends readonly (infer E)[] ? readonly Init<E>[]
  : T extends { readonly case: undefined } ? { readonly case?: undefined; readonly value?: undefined }
  : T extends { readonly case: infer C; readonly value: infer V } ? { readonly case: C; readonly value: Init<V> }
  : T extends object ? { [K in keyof T]?: Init<T[K]> }
  : T;

/** The four kinds of RPC. */
export type MethodKind = "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";

/** One RPC of a service. */
export interface MethodType<I extends object, O extends object, K extends MethodKind> {
  /** The RPC's name in the `.proto`, such as `"SayHello"`. */
  readonly name: string;
  /** The HTTP/2 path, `/package.Service/Method`. */
  readonly path: string;
  /** The request message type. */
  readonly I: MessageType<I>;
  /** The response message type. */
  readonly O: MessageType<O>;
  /** Which of the four kinds of RPC it is. */
  readonly kind: K;
}

/** A unary RPC. */
export type UnaryMethod<I extends object, O extends object> = MethodType<I, O, "unary">;
/** A server-streaming RPC. */
export type ServerStreamingMethod<I extends object, O extends object> = MethodType<I, O, "server_streaming">;
/** A client-streaming RPC. */
export type ClientStreamingMethod<I extends object, O extends object> = MethodType<I, O, "client_streaming">;
/** A bidirectional-streaming RPC. */
export type BidiStreamingMethod<I extends object, O extends object> = MethodType<I, O, "bidi_streaming">;

/** Any RPC of any service. */
// deno-lint-ignore no-explicit-any
export type AnyMethod = MethodType<any, any, MethodKind>;

/** The RPCs of a service, by their lowerCamelCase name. */
export type MethodMap = { readonly [localName: string]: AnyMethod };

/** A service: its full name and its RPCs. Generated code makes one with {@linkcode serviceType}. */
export interface ServiceType<M extends MethodMap = MethodMap> {
  /** The fully qualified name, such as `"grpc.testing.TestService"`. */
  readonly typeName: string;
  /** The RPCs, by their lowerCamelCase name. */
  readonly methods: M;
  /** The `.proto` file that defines it, for server reflection. */
  readonly file: FileDescriptor | undefined;
}

/** A `.proto` file as generated code embeds it: its serialized `FileDescriptorProto` and its imports. */
export interface FileDescriptor {
  /** The file's path as imported, such as `"grpc/testing/test.proto"`. */
  readonly name: string;
  /** The serialized `google.protobuf.FileDescriptorProto`. */
  readonly proto: Uint8Array;
  /** The files it imports, in import order. */
  readonly dependencies: readonly FileDescriptor[];
}

/**
 * A file descriptor, for generated code.
 *
 * @param name The file's path as imported.
 * @param base64 Its serialized `FileDescriptorProto`, in base64.
 * @param dependencies The descriptors of the files it imports.
 * @returns The descriptor.
 */
export function fileDescriptor(name: string, base64: string, dependencies: readonly FileDescriptor[]): FileDescriptor {
  const binary = atob(base64);
  const proto = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) proto[i] = binary.charCodeAt(i);
  return Object.freeze({ name, proto, dependencies: Object.freeze([...dependencies]) });
}

/** How generated code lists one RPC for {@linkcode serviceType}. */
export interface MethodInit {
  /** The RPC's name in the `.proto`. */
  readonly name: string;
  /** The request message type. */
  // deno-lint-ignore no-explicit-any
  readonly I: MessageType<any>;
  /** The response message type. */
  // deno-lint-ignore no-explicit-any
  readonly O: MessageType<any>;
  /** Which of the four kinds of RPC it is. */
  readonly kind: MethodKind;
}

/**
 * A service definition, for generated code.
 *
 * @param typeName The service's fully qualified name.
 * @param methods Its RPCs by lowerCamelCase name.
 * @param file The file that defines it.
 * @returns The definition; each method's path is `/typeName/Name`.
 */
export function serviceType<M extends MethodMap>(
  typeName: string,
  methods: NoInfer<{ readonly [K in keyof M]: MethodInit }>,
  file?: FileDescriptor,
): ServiceType<M> {
  const out: Record<string, AnyMethod> = {};
  for (const [localName, method] of Object.entries(methods) as [string, MethodInit][]) {
    out[localName] = Object.freeze({ ...method, path: `/${typeName}/${method.name}` });
  }
  return Object.freeze({ typeName, methods: Object.freeze(out) as unknown as M, file });
}
