/** A failure of libbpf or the kernel, as one line; `errno` is the positive error number. */
export class BpfError extends Error {
  constructor(message: string, readonly errno: number = 0, readonly log: string[] = []) {
    super(message);
    this.name = 'BpfError';
  }
}
