import koffi from 'koffi';
import { BpfError } from './errors.js';
import { BTF_KIND_DATASEC, libbpf, type Ptr } from './libbpf.js';

// What an object's BTF tells about its globals: where each `const volatile` lives in
// `.rodata`, so read-only config is set by name without a generated skeleton.

export type RodataValue = number | bigint | boolean | string;

export interface BtfVar {
  offset: number;
  size: number;
}

/** The variables of DATASEC `section` (e.g. `.rodata`) in `btf`, by name. */
export function datasecVars(btf: bigint, section: string): Map<string, BtfVar> {
  const lb = libbpf();
  const id = lb.btf_find_by_name_kind(btf, section, BTF_KIND_DATASEC) as number;
  const out = new Map<string, BtfVar>();
  if (id < 0) return out;
  const t = lb.btf_type_by_id(btf, id) as Ptr;
  if (!t) return out;
  // struct btf_type { u32 name_off; u32 info; u32 size; } then vlen btf_var_secinfo { u32 type, offset, size }.
  const head = Buffer.from(koffi.view(t, 12));
  const vlen = head.readUInt32LE(4) & 0xffff;
  const secinfo = Buffer.from(koffi.view(t + 12n, 12 * vlen));
  for (let i = 0; i < vlen; i++) {
    const varId = secinfo.readUInt32LE(i * 12);
    const offset = secinfo.readUInt32LE(i * 12 + 4);
    const size = secinfo.readUInt32LE(i * 12 + 8);
    const vt = lb.btf_type_by_id(btf, varId) as Ptr;
    if (!vt) continue;
    const nameOff = Buffer.from(koffi.view(vt, 4)).readUInt32LE(0);
    out.set(String(lb.btf_name_by_offset(btf, nameOff)), { offset, size });
  }
  return out;
}

/** Write `values` into the section image `mem` at the places `vars` gives. */
export function writeVars(
  mem: Buffer,
  vars: Map<string, BtfVar>,
  values: Record<string, RodataValue>,
  owner: string,
): void {
  for (const [name, value] of Object.entries(values)) {
    const v = vars.get(name);
    if (!v)
      throw new BpfError(
        `${owner}: no read-only global named ${name} (have: ${[...vars.keys()].join(', ') || 'none'})`,
      );
    const { offset, size: sz } = v;
    if (typeof value === 'string') {
      const b = Buffer.from(value, 'utf8');
      if (b.length > sz) throw new BpfError(`${name}: ${b.length} bytes do not fit in ${sz}`);
      mem.fill(0, offset, offset + sz);
      b.copy(mem, offset);
      continue;
    }
    const n = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
    switch (sz) {
      case 1:
        mem.writeUInt8(Number(BigInt.asUintN(8, n)), offset);
        break;
      case 2:
        mem.writeUInt16LE(Number(BigInt.asUintN(16, n)), offset);
        break;
      case 4:
        mem.writeUInt32LE(Number(BigInt.asUintN(32, n)), offset);
        break;
      case 8:
        mem.writeBigUInt64LE(BigInt.asUintN(64, n), offset);
        break;
      default:
        throw new BpfError(`${name}: cannot set a ${sz}-byte global from a number`);
    }
  }
}
