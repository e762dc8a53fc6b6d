/**
 * Makes the C allocator give large buffers back to the system when they are freed. virtmux's
 * large frames live in ArrayBuffers that V8 allocates with the C library's malloc. glibc serves
 * an allocation from its heap, rather than from a mapping of its own, once a freed mapping has
 * raised its dynamic mmap threshold (up to 32 MiB), and memory freed inside the heap stays
 * resident: measured with 2 MiB frames under `max_buffered_bytes = 16 MiB`, virtmux's RSS rose
 * 35 MiB above idle instead of 17. A fixed threshold of 1 MiB keeps every buffer of 1 MiB or more
 * in its own mapping, returned at once when freed; smaller ones, the hot path's included, are
 * served as before.
 *
 * @module
 */

/** mallopt(3)'s M_MMAP_THRESHOLD. */
const M_MMAP_THRESHOLD = -3;
/** Allocations from this size up get a mapping of their own. */
const MMAP_THRESHOLD_BYTES = 1 << 20;

let tuned = false;

/**
 * Sets glibc's mmap threshold once per process. True when it was set (now or before); false
 * where that is not possible (no FFI permission, no glibc): memory is still bounded, only less
 * tightly.
 */
export function tuneMalloc(): boolean {
  if (tuned) return true;
  try {
    const library = Deno.dlopen(
      "libc.so.6",
      {
        mallopt: { parameters: ["i32", "i32"], result: "i32" },
      } as const,
    );
    tuned = library.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1;
    library.close();
  } catch {
    return false;
  }
  return tuned;
}
