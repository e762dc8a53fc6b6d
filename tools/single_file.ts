/**
 * The self-contained single file `deno task compile` builds where no `denort` runtime exists to
 * `deno compile` with: a small POSIX shell launcher followed by a payload of the Deno runtime
 * (gzip) and the bundled program, the way makeself-style installers are made.
 *
 * The first run unpacks the payload into `$XDG_CACHE_HOME/virtmux/HASH` (else
 * `$HOME/.cache/virtmux/HASH`; `/tmp/virtmux-UID/HASH`, mode 0700 and owned by the user, when HOME
 * is empty or not writable). It unpacks into a temp dir beside it and renames that into place, so
 * two first runs racing both end up running one complete copy. Every run then execs the runtime
 * on the program with virtmux's V8 flag and permissions, passing the name it was invoked as in
 * `VIRTMUX_ARGV0` so that a symlink named `virt-ssh-helper` or `nc` selects that role.
 *
 * The launcher needs only sh, id, mkdir, mktemp, tail, head, gzip, wc, chmod, mv and rm.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** Options for {@linkcode buildSingleFile}. */
export interface SingleFileOptions {
  /** The Deno runtime binary for the target machine. */
  runtime: Uint8Array;
  /** The bundled program (`deno bundle` output). */
  program: Uint8Array;
  /** The runtime's own flags: the V8 flag and the permissions. */
  flags: readonly string[];
  /** The program version, shown in the launcher's comment. */
  version: string;
}

/** Width of each number written into the launcher, so its length is known before they are. */
const NUMBER_WIDTH = 12;

/** Compresses `data` with gzip (the launcher decompresses it with `gzip -dc`). */
export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Quotes `text` for a POSIX shell. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

function launcher(fields: Record<string, string>, flags: readonly string[], version: string) {
  const assignments = Object.entries(fields).map(([key, value]) => `${key}=${value}`);
  return `#!/bin/sh
# virtmux ${version}: one self-contained file, this launcher followed by the Deno runtime (gzip)
# and the bundled program. The first run unpacks them into a cache directory named after their
# hash; every run execs them from there. Built by "deno task compile".
${assignments.join("\n")}
uid=$(id -u)
base=
if [ -n "\${XDG_CACHE_HOME:-}" ]; then base=$XDG_CACHE_HOME/virtmux
elif [ -n "\${HOME:-}" ]; then base=$HOME/.cache/virtmux
fi
if [ -z "$base" ] || ! mkdir -p -- "$base" 2>/dev/null || [ ! -w "$base" ]; then
  base=/tmp/virtmux-$uid
  mkdir -m 700 -- "$base" 2>/dev/null
  if [ -L "$base" ] || [ ! -d "$base" ] || [ ! -O "$base" ]; then
    echo "virtmux: cannot use cache directory $base: not a directory owned by uid $uid" >&2
    exit 1
  fi
fi
dir=$base/$hash
if [ ! -x "$dir/deno" ] || [ ! -f "$dir/virtmux.js" ]; then
  tmp=$(mktemp -d "$base/.unpack.XXXXXX") || {
    echo "virtmux: cannot unpack into $base: mktemp failed" >&2
    exit 1
  }
  if tail -c "+$((runtime_offset + 1))" -- "$0" | head -c "$runtime_bytes" | gzip -dc >"$tmp/deno" &&
    tail -c "+$((program_offset + 1))" -- "$0" | head -c "$program_bytes" >"$tmp/virtmux.js" &&
    [ "$(wc -c <"$tmp/virtmux.js")" -eq "$program_bytes" ] &&
    chmod 755 "$tmp" "$tmp/deno"; then
    # A rename is atomic. If another first run renamed its copy into place first, ours lands
    # inside theirs (mv into a directory): remove it and keep theirs.
    mv -- "$tmp" "$dir" 2>/dev/null
    rm -rf -- "$tmp" "$dir/\${tmp##*/}"
  else
    rm -rf -- "$tmp"
    echo "virtmux: cannot unpack $0 into $base (is it truncated, or the disk full?)" >&2
    exit 1
  fi
fi
VIRTMUX_ARGV0=$0
DENO_DIR=$dir/deno_dir
DENO_NO_UPDATE_CHECK=1
export VIRTMUX_ARGV0 DENO_DIR DENO_NO_UPDATE_CHECK
exec "$dir/deno" run --quiet --no-config --no-lock --no-prompt --cached-only \\
  ${flags.map(shellQuote).join(" ")} \\
  "$dir/virtmux.js" "$@"
`;
}

/**
 * Builds the single file: the launcher, then the gzip'd runtime, then the program.
 *
 * @param options runtime, program, flags and version
 * @returns the file's bytes (write it with mode 0755)
 */
export async function buildSingleFile(options: SingleFileOptions): Promise<Uint8Array> {
  const runtime = await gzip(options.runtime);
  const hash = createHash("sha256").update(runtime).update(options.program).digest("hex")
    .slice(0, 32);
  // Each number is followed by spaces up to a fixed width (and a comment mark), so the header's
  // length is known before the offsets written into it are.
  const field = (n: number) => `${n}${" ".repeat(NUMBER_WIDTH - String(n).length)} #`;
  const fieldsFor = (headerBytes: number) => ({
    hash,
    runtime_offset: field(headerBytes),
    runtime_bytes: field(runtime.length),
    program_offset: field(headerBytes + runtime.length),
    program_bytes: field(options.program.length),
  });
  const encoder = new TextEncoder();
  const headerBytes = encoder.encode(launcher(fieldsFor(0), options.flags, options.version)).length;
  const header = encoder.encode(launcher(fieldsFor(headerBytes), options.flags, options.version));
  if (header.length !== headerBytes) {
    throw new Error(
      `Cannot build the single file: launcher length ${header.length} != ${headerBytes}`,
    );
  }
  const out = new Uint8Array(header.length + runtime.length + options.program.length);
  out.set(header, 0);
  out.set(runtime, header.length);
  out.set(options.program, header.length + runtime.length);
  return out;
}
