// A WGSL uniform struct described once, in TypeScript: field order and types give the byte
// offsets (WGSL alignment rules for 4-byte scalars), the WGSL declaration that is prepended to
// the shader, and a writer — so no offset is ever typed by hand on either side.

export type ScalarType = 'f32' | 'u32' | 'i32';

export interface UniformStruct<Field extends string> {
  name: string;
  fields: readonly (readonly [Field, ScalarType])[];
  /** Byte offset of each field. */
  offsets: Record<Field, number>;
  /** Struct size in bytes, rounded up to 16 (uniform buffer rule). */
  size: number;
  /** `struct Name { field: type, … }` for the shader source. */
  wgsl: string;
  /** Writes all fields at `byteOffset`; every field is required. */
  write(view: DataView, byteOffset: number, values: Record<Field, number>): void;
}

export function defineUniformStruct<const Field extends string>(name: string, fields: readonly (readonly [Field, ScalarType])[]): UniformStruct<Field> {
  const offsets = {} as Record<Field, number>;
  fields.forEach(([f], i) => (offsets[f] = 4 * i)); // 4-byte scalars: size = align = 4
  const size = Math.ceil((4 * fields.length) / 16) * 16;
  const wgsl = `struct ${name} {\n${fields.map(([f, t]) => `  ${f}: ${t},\n`).join('')}}\n`;
  return {
    name,
    fields,
    offsets,
    size,
    wgsl,
    write(view, byteOffset, values) {
      for (const [f, t] of fields) {
        const v = values[f];
        if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name}.${f}: expected a number, got ${v}`);
        const at = byteOffset + offsets[f];
        if (t === 'f32') view.setFloat32(at, v, true);
        else if (t === 'u32') view.setUint32(at, v, true);
        else view.setInt32(at, v, true);
      }
    },
  };
}
