/**
 * Which embedded `.proto` file declares what, for server reflection: the
 * serialized `FileDescriptorProto`s that generated code embeds are decoded
 * (only the names, numbers and extendees that a look-up needs) and indexed
 * by file name, fully qualified symbol and extension.
 *
 * `descriptor.proto` is proto2, so its tables are written by hand here, with
 * `optional: true` for the fields whose presence proto2 keeps.
 *
 * @module
 */
import { messageType } from "./codec.ts";
import { type FieldInfo, type FileDescriptor, type MessageType, ScalarType } from "./schema.ts";

interface Named {
  name?: string;
}
interface FieldProto extends Named {
  number?: number;
  extendee?: string;
}
interface EnumProto extends Named {
  value: Named[];
}
interface MessageProto extends Named {
  field: FieldProto[];
  nestedType: MessageProto[];
  enumType: EnumProto[];
  extension: FieldProto[];
  oneofDecl: Named[];
}
interface ServiceProto extends Named {
  method: Named[];
}
interface FileProto extends Named {
  package?: string;
  messageType: MessageProto[];
  enumType: EnumProto[];
  service: ServiceProto[];
  extension: FieldProto[];
}

const name: FieldInfo = {
  no: 1,
  name: "name",
  localName: "name",
  kind: "scalar",
  T: ScalarType.STRING,
  optional: true,
};
function list(no: number, localName: string, T: () => MessageType<object>): FieldInfo {
  return { no, name: localName, localName, kind: "message", T, repeated: true };
}

const NamedProto = messageType<Named>("google.protobuf.NamedDescriptor", [name]);
const FieldProto = messageType<FieldProto>("google.protobuf.FieldDescriptorProto", [
  name,
  { no: 2, name: "extendee", localName: "extendee", kind: "scalar", T: ScalarType.STRING, optional: true },
  { no: 3, name: "number", localName: "number", kind: "scalar", T: ScalarType.INT32, optional: true },
]);
const EnumProto = messageType<EnumProto>("google.protobuf.EnumDescriptorProto", [
  name,
  list(2, "value", () => NamedProto),
]);
const MessageProto: MessageType<MessageProto> = messageType<MessageProto>("google.protobuf.DescriptorProto", [
  name,
  list(2, "field", () => FieldProto),
  list(3, "nestedType", () => MessageProto),
  list(4, "enumType", () => EnumProto),
  list(6, "extension", () => FieldProto),
  list(8, "oneofDecl", () => NamedProto),
]);
const ServiceProto = messageType<ServiceProto>("google.protobuf.ServiceDescriptorProto", [
  name,
  list(2, "method", () => NamedProto),
]);
const FileProto = messageType<FileProto>("google.protobuf.FileDescriptorProto", [
  name,
  { no: 2, name: "package", localName: "package", kind: "scalar", T: ScalarType.STRING, optional: true },
  list(4, "messageType", () => MessageProto),
  list(5, "enumType", () => EnumProto),
  list(6, "service", () => ServiceProto),
  list(7, "extension", () => FieldProto),
]);

/** The files of a server, by name, symbol and extension. */
export interface DescriptorIndex {
  /** The file of that import path. */
  byFilename(name: string): FileDescriptor | undefined;
  /** The file declaring a fully qualified message, enum, enum value, field, service or method. */
  bySymbol(symbol: string): FileDescriptor | undefined;
  /** The file declaring extension `number` of the fully qualified message `type`. */
  byExtension(type: string, number: number): FileDescriptor | undefined;
  /** The numbers of the known extensions of a message; `undefined` when the message is unknown. */
  extensionNumbers(type: string): number[] | undefined;
}

/**
 * A file and every file it imports, directly or not, each once, the file first.
 *
 * @param file The file.
 * @returns The files.
 */
export function withDependencies(file: FileDescriptor): FileDescriptor[] {
  const seen = new Map<string, FileDescriptor>();
  const visit = (f: FileDescriptor) => {
    if (seen.has(f.name)) return;
    seen.set(f.name, f);
    f.dependencies.forEach(visit);
  };
  visit(file);
  return [...seen.values()];
}

/**
 * Indexes files and everything they import.
 *
 * @param roots The files, such as the `.file` of each hosted service.
 * @returns The index.
 */
export function indexFiles(roots: Iterable<FileDescriptor>): DescriptorIndex {
  const files = new Map<string, FileDescriptor>();
  const symbols = new Map<string, FileDescriptor>();
  const messages = new Set<string>();
  const extensions = new Map<string, Map<number, FileDescriptor>>();
  for (const root of roots) {
    for (const file of withDependencies(root)) {
      if (files.has(file.name)) continue;
      files.set(file.name, file);
      indexFile(file);
    }
  }

  function indexFile(file: FileDescriptor): void {
    const proto = FileProto.decode(file.proto);
    const add = (symbol: string) => {
      if (!symbols.has(symbol)) symbols.set(symbol, file);
    };
    const addExtensions = (scope: string, fields: FieldProto[]) => {
      for (const field of fields) {
        add(`${scope}${field.name}`);
        const type = (field.extendee ?? "").replace(/^\./, "");
        const byNumber = extensions.get(type) ?? new Map<number, FileDescriptor>();
        extensions.set(type, byNumber.set(field.number ?? 0, file));
      }
    };
    const addEnum = (scope: string, e: EnumProto) => {
      add(`${scope}${e.name}`);
      for (const value of e.value) add(`${scope}${value.name}`); // values are siblings of their enum
    };
    const addMessage = (scope: string, m: MessageProto) => {
      const full = `${scope}${m.name}`;
      add(full);
      messages.add(full);
      for (const part of [...m.field, ...m.oneofDecl]) add(`${full}.${part.name}`);
      for (const nested of m.nestedType) addMessage(`${full}.`, nested);
      for (const e of m.enumType) addEnum(`${full}.`, e);
      addExtensions(`${full}.`, m.extension);
    };
    const scope = proto.package ? `${proto.package}.` : "";
    for (const m of proto.messageType) addMessage(scope, m);
    for (const e of proto.enumType) addEnum(scope, e);
    for (const service of proto.service) {
      add(`${scope}${service.name}`);
      for (const method of service.method) add(`${scope}${service.name}.${method.name}`);
    }
    addExtensions(scope, proto.extension);
  }

  return {
    byFilename: (name) => files.get(name),
    bySymbol: (symbol) => symbols.get(symbol.replace(/^\./, "")),
    byExtension: (type, number) => extensions.get(type.replace(/^\./, ""))?.get(number),
    extensionNumbers(type) {
      const full = type.replace(/^\./, "");
      if (!messages.has(full)) return undefined;
      return [...(extensions.get(full)?.keys() ?? [])];
    },
  };
}
