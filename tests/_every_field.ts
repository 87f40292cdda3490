/**
 * The messages of `tests/protos/every_field.proto`, written by hand in the
 * form `deno task gen` writes, until the generator can write them.
 *
 * @module
 */
import * as $rt from "../src/runtime.ts";

/** The `difftest.EveryField.Color` enum: open, so any int32 may arrive. */
export type EveryField_Color = number;

/** The values of `difftest.EveryField.Color`. */
export const EveryField_Color = {
  COLOR_UNSPECIFIED: 0,
  RED: 1,
  GREEN: 2,
  NEGATIVE: -1,
  LOWEST: -2147483648,
  HIGHEST: 2147483647,
} as const;

/** The `difftest.EveryField.Nested` message. */
export interface EveryField_Nested {
  a: number;
  b: string;
  child: EveryField_Nested | undefined;
  c: bigint[];
  color: EveryField_Color;
}

/** The `difftest.EveryField.Nested` message type. */
export const EveryField_Nested: $rt.MessageType<EveryField_Nested> = $rt.messageType("difftest.EveryField.Nested", [
  { no: 1, name: "a", localName: "a", kind: "scalar", T: $rt.ScalarType.INT32 },
  { no: 2, name: "b", localName: "b", kind: "scalar", T: $rt.ScalarType.STRING },
  { no: 3, name: "child", localName: "child", kind: "message", T: () => EveryField_Nested },
  { no: 4, name: "c", localName: "c", kind: "scalar", T: $rt.ScalarType.SINT64, repeated: true },
  { no: 5, name: "color", localName: "color", kind: "enum", T: "difftest.EveryField.Color" },
]);

/** The `difftest.EveryField` message. */
export interface EveryField {
  fDouble: number;
  fFloat: number;
  fInt64: bigint;
  fUint64: bigint;
  fInt32: number;
  fFixed64: bigint;
  fFixed32: number;
  fBool: boolean;
  fString: string;
  fBytes: Uint8Array;
  fUint32: number;
  fSfixed32: number;
  fSfixed64: bigint;
  fSint32: number;
  fSint64: bigint;
  fEnum: EveryField_Color;
  fNested: EveryField_Nested | undefined;
  recursive: EveryField | undefined;
  rDouble: number[];
  rFloat: number[];
  rInt64: bigint[];
  rUint64: bigint[];
  rInt32: number[];
  rFixed64: bigint[];
  rFixed32: number[];
  rBool: boolean[];
  rString: string[];
  rBytes: Uint8Array[];
  rUint32: number[];
  rSfixed32: number[];
  rSfixed64: bigint[];
  rSint32: number[];
  rSint64: bigint[];
  rEnum: EveryField_Color[];
  rNested: EveryField_Nested[];
  uDouble: number[];
  uInt32: number[];
  uSint64: bigint[];
  uFixed32: number[];
  uBool: boolean[];
  uEnum: EveryField_Color[];
  uUint64: bigint[];
  oDouble: number | undefined;
  oFloat: number | undefined;
  oInt64: bigint | undefined;
  oUint64: bigint | undefined;
  oInt32: number | undefined;
  oFixed64: bigint | undefined;
  oFixed32: number | undefined;
  oBool: boolean | undefined;
  oString: string | undefined;
  oBytes: Uint8Array | undefined;
  oUint32: number | undefined;
  oSfixed32: number | undefined;
  oSfixed64: bigint | undefined;
  oSint32: number | undefined;
  oSint64: bigint | undefined;
  oEnum: EveryField_Color | undefined;
  mStringString: { [key: string]: string };
  mInt32Nested: { [key: string]: EveryField_Nested };
  mInt64Enum: { [key: string]: EveryField_Color };
  mUint64Bytes: { [key: string]: Uint8Array };
  mSint32Double: { [key: string]: number };
  mBoolString: { [key: string]: string };
  mFixed32Sint64: { [key: string]: bigint };
  mStringNested: { [key: string]: EveryField_Nested };
  mSfixed64Float: { [key: string]: number };
  mUint32Recursive: { [key: string]: EveryField };
  fWide: number;
  fHighest: string;
  choice:
    | { case: "cUint32"; value: number }
    | { case: "cString"; value: string }
    | { case: "cBytes"; value: Uint8Array }
    | { case: "cNested"; value: EveryField_Nested }
    | { case: "cDouble"; value: number }
    | { case: "cEnum"; value: EveryField_Color }
    | { case: undefined; value?: undefined };
}

/** The `difftest.EveryField` message type. */
export const EveryField: $rt.MessageType<EveryField> = $rt.messageType("difftest.EveryField", [
  { no: 1, name: "f_double", localName: "fDouble", kind: "scalar", T: $rt.ScalarType.DOUBLE },
  { no: 2, name: "f_float", localName: "fFloat", kind: "scalar", T: $rt.ScalarType.FLOAT },
  { no: 3, name: "f_int64", localName: "fInt64", kind: "scalar", T: $rt.ScalarType.INT64 },
  { no: 4, name: "f_uint64", localName: "fUint64", kind: "scalar", T: $rt.ScalarType.UINT64 },
  { no: 5, name: "f_int32", localName: "fInt32", kind: "scalar", T: $rt.ScalarType.INT32 },
  { no: 6, name: "f_fixed64", localName: "fFixed64", kind: "scalar", T: $rt.ScalarType.FIXED64 },
  { no: 7, name: "f_fixed32", localName: "fFixed32", kind: "scalar", T: $rt.ScalarType.FIXED32 },
  { no: 8, name: "f_bool", localName: "fBool", kind: "scalar", T: $rt.ScalarType.BOOL },
  { no: 9, name: "f_string", localName: "fString", kind: "scalar", T: $rt.ScalarType.STRING },
  { no: 10, name: "f_bytes", localName: "fBytes", kind: "scalar", T: $rt.ScalarType.BYTES },
  { no: 11, name: "f_uint32", localName: "fUint32", kind: "scalar", T: $rt.ScalarType.UINT32 },
  { no: 12, name: "f_sfixed32", localName: "fSfixed32", kind: "scalar", T: $rt.ScalarType.SFIXED32 },
  { no: 13, name: "f_sfixed64", localName: "fSfixed64", kind: "scalar", T: $rt.ScalarType.SFIXED64 },
  { no: 14, name: "f_sint32", localName: "fSint32", kind: "scalar", T: $rt.ScalarType.SINT32 },
  { no: 15, name: "f_sint64", localName: "fSint64", kind: "scalar", T: $rt.ScalarType.SINT64 },
  { no: 16, name: "f_enum", localName: "fEnum", kind: "enum", T: "difftest.EveryField.Color" },
  { no: 17, name: "f_nested", localName: "fNested", kind: "message", T: () => EveryField_Nested },
  { no: 18, name: "recursive", localName: "recursive", kind: "message", T: () => EveryField },
  { no: 21, name: "r_double", localName: "rDouble", kind: "scalar", T: $rt.ScalarType.DOUBLE, repeated: true },
  { no: 22, name: "r_float", localName: "rFloat", kind: "scalar", T: $rt.ScalarType.FLOAT, repeated: true },
  { no: 23, name: "r_int64", localName: "rInt64", kind: "scalar", T: $rt.ScalarType.INT64, repeated: true },
  { no: 24, name: "r_uint64", localName: "rUint64", kind: "scalar", T: $rt.ScalarType.UINT64, repeated: true },
  { no: 25, name: "r_int32", localName: "rInt32", kind: "scalar", T: $rt.ScalarType.INT32, repeated: true },
  { no: 26, name: "r_fixed64", localName: "rFixed64", kind: "scalar", T: $rt.ScalarType.FIXED64, repeated: true },
  { no: 27, name: "r_fixed32", localName: "rFixed32", kind: "scalar", T: $rt.ScalarType.FIXED32, repeated: true },
  { no: 28, name: "r_bool", localName: "rBool", kind: "scalar", T: $rt.ScalarType.BOOL, repeated: true },
  { no: 29, name: "r_string", localName: "rString", kind: "scalar", T: $rt.ScalarType.STRING, repeated: true },
  { no: 30, name: "r_bytes", localName: "rBytes", kind: "scalar", T: $rt.ScalarType.BYTES, repeated: true },
  { no: 31, name: "r_uint32", localName: "rUint32", kind: "scalar", T: $rt.ScalarType.UINT32, repeated: true },
  { no: 32, name: "r_sfixed32", localName: "rSfixed32", kind: "scalar", T: $rt.ScalarType.SFIXED32, repeated: true },
  { no: 33, name: "r_sfixed64", localName: "rSfixed64", kind: "scalar", T: $rt.ScalarType.SFIXED64, repeated: true },
  { no: 34, name: "r_sint32", localName: "rSint32", kind: "scalar", T: $rt.ScalarType.SINT32, repeated: true },
  { no: 35, name: "r_sint64", localName: "rSint64", kind: "scalar", T: $rt.ScalarType.SINT64, repeated: true },
  { no: 36, name: "r_enum", localName: "rEnum", kind: "enum", T: "difftest.EveryField.Color", repeated: true },
  { no: 37, name: "r_nested", localName: "rNested", kind: "message", T: () => EveryField_Nested, repeated: true },
  {
    no: 41,
    name: "u_double",
    localName: "uDouble",
    kind: "scalar",
    T: $rt.ScalarType.DOUBLE,
    repeated: true,
    packed: false,
  },
  {
    no: 42,
    name: "u_int32",
    localName: "uInt32",
    kind: "scalar",
    T: $rt.ScalarType.INT32,
    repeated: true,
    packed: false,
  },
  {
    no: 43,
    name: "u_sint64",
    localName: "uSint64",
    kind: "scalar",
    T: $rt.ScalarType.SINT64,
    repeated: true,
    packed: false,
  },
  {
    no: 44,
    name: "u_fixed32",
    localName: "uFixed32",
    kind: "scalar",
    T: $rt.ScalarType.FIXED32,
    repeated: true,
    packed: false,
  },
  { no: 45, name: "u_bool", localName: "uBool", kind: "scalar", T: $rt.ScalarType.BOOL, repeated: true, packed: false },
  {
    no: 46,
    name: "u_enum",
    localName: "uEnum",
    kind: "enum",
    T: "difftest.EveryField.Color",
    repeated: true,
    packed: false,
  },
  {
    no: 47,
    name: "u_uint64",
    localName: "uUint64",
    kind: "scalar",
    T: $rt.ScalarType.UINT64,
    repeated: true,
    packed: false,
  },
  { no: 51, name: "o_double", localName: "oDouble", kind: "scalar", T: $rt.ScalarType.DOUBLE, optional: true },
  { no: 52, name: "o_float", localName: "oFloat", kind: "scalar", T: $rt.ScalarType.FLOAT, optional: true },
  { no: 53, name: "o_int64", localName: "oInt64", kind: "scalar", T: $rt.ScalarType.INT64, optional: true },
  { no: 54, name: "o_uint64", localName: "oUint64", kind: "scalar", T: $rt.ScalarType.UINT64, optional: true },
  { no: 55, name: "o_int32", localName: "oInt32", kind: "scalar", T: $rt.ScalarType.INT32, optional: true },
  { no: 56, name: "o_fixed64", localName: "oFixed64", kind: "scalar", T: $rt.ScalarType.FIXED64, optional: true },
  { no: 57, name: "o_fixed32", localName: "oFixed32", kind: "scalar", T: $rt.ScalarType.FIXED32, optional: true },
  { no: 58, name: "o_bool", localName: "oBool", kind: "scalar", T: $rt.ScalarType.BOOL, optional: true },
  { no: 59, name: "o_string", localName: "oString", kind: "scalar", T: $rt.ScalarType.STRING, optional: true },
  { no: 60, name: "o_bytes", localName: "oBytes", kind: "scalar", T: $rt.ScalarType.BYTES, optional: true },
  { no: 61, name: "o_uint32", localName: "oUint32", kind: "scalar", T: $rt.ScalarType.UINT32, optional: true },
  { no: 62, name: "o_sfixed32", localName: "oSfixed32", kind: "scalar", T: $rt.ScalarType.SFIXED32, optional: true },
  { no: 63, name: "o_sfixed64", localName: "oSfixed64", kind: "scalar", T: $rt.ScalarType.SFIXED64, optional: true },
  { no: 64, name: "o_sint32", localName: "oSint32", kind: "scalar", T: $rt.ScalarType.SINT32, optional: true },
  { no: 65, name: "o_sint64", localName: "oSint64", kind: "scalar", T: $rt.ScalarType.SINT64, optional: true },
  { no: 66, name: "o_enum", localName: "oEnum", kind: "enum", T: "difftest.EveryField.Color", optional: true },
  {
    no: 71,
    name: "m_string_string",
    localName: "mStringString",
    kind: "map",
    K: $rt.ScalarType.STRING,
    V: { kind: "scalar", T: $rt.ScalarType.STRING },
  },
  {
    no: 72,
    name: "m_int32_nested",
    localName: "mInt32Nested",
    kind: "map",
    K: $rt.ScalarType.INT32,
    V: { kind: "message", T: () => EveryField_Nested },
  },
  {
    no: 73,
    name: "m_int64_enum",
    localName: "mInt64Enum",
    kind: "map",
    K: $rt.ScalarType.INT64,
    V: { kind: "enum", T: "difftest.EveryField.Color" },
  },
  {
    no: 74,
    name: "m_uint64_bytes",
    localName: "mUint64Bytes",
    kind: "map",
    K: $rt.ScalarType.UINT64,
    V: { kind: "scalar", T: $rt.ScalarType.BYTES },
  },
  {
    no: 75,
    name: "m_sint32_double",
    localName: "mSint32Double",
    kind: "map",
    K: $rt.ScalarType.SINT32,
    V: { kind: "scalar", T: $rt.ScalarType.DOUBLE },
  },
  {
    no: 76,
    name: "m_bool_string",
    localName: "mBoolString",
    kind: "map",
    K: $rt.ScalarType.BOOL,
    V: { kind: "scalar", T: $rt.ScalarType.STRING },
  },
  {
    no: 77,
    name: "m_fixed32_sint64",
    localName: "mFixed32Sint64",
    kind: "map",
    K: $rt.ScalarType.FIXED32,
    V: { kind: "scalar", T: $rt.ScalarType.SINT64 },
  },
  {
    no: 78,
    name: "m_string_nested",
    localName: "mStringNested",
    kind: "map",
    K: $rt.ScalarType.STRING,
    V: { kind: "message", T: () => EveryField_Nested },
  },
  {
    no: 79,
    name: "m_sfixed64_float",
    localName: "mSfixed64Float",
    kind: "map",
    K: $rt.ScalarType.SFIXED64,
    V: { kind: "scalar", T: $rt.ScalarType.FLOAT },
  },
  {
    no: 80,
    name: "m_uint32_recursive",
    localName: "mUint32Recursive",
    kind: "map",
    K: $rt.ScalarType.UINT32,
    V: { kind: "message", T: () => EveryField },
  },
  { no: 91, name: "c_uint32", localName: "cUint32", kind: "scalar", T: $rt.ScalarType.UINT32, oneof: "choice" },
  { no: 92, name: "c_string", localName: "cString", kind: "scalar", T: $rt.ScalarType.STRING, oneof: "choice" },
  { no: 93, name: "c_bytes", localName: "cBytes", kind: "scalar", T: $rt.ScalarType.BYTES, oneof: "choice" },
  { no: 94, name: "c_nested", localName: "cNested", kind: "message", T: () => EveryField_Nested, oneof: "choice" },
  { no: 95, name: "c_double", localName: "cDouble", kind: "scalar", T: $rt.ScalarType.DOUBLE, oneof: "choice" },
  { no: 96, name: "c_enum", localName: "cEnum", kind: "enum", T: "difftest.EveryField.Color", oneof: "choice" },
  { no: 300, name: "f_wide", localName: "fWide", kind: "scalar", T: $rt.ScalarType.INT32 },
  { no: 536870911, name: "f_highest", localName: "fHighest", kind: "scalar", T: $rt.ScalarType.STRING },
]);
