import assert from "node:assert/strict";
import {
  CONTROL_DEFAULTS,
  controlSocketPath,
  defaultControlSocket,
  readControl,
} from "../../src/config/control_section.ts";
import { problems, table } from "../_helpers/config_section.ts";

Deno.test("[control] socket defaults to auto", () => {
  assert.deepEqual(CONTROL_DEFAULTS, { socket: "auto" });
  const { checker, section } = table("control", 'socket = "/run/x/control.sock"');
  assert.deepEqual(readControl(checker, section), { socket: "/run/x/control.sock" });
  assert.deepEqual(problems(checker), []);
});

Deno.test("[control] refuses a relative socket path", () => {
  const { checker, section } = table("control", 'socket = "control.sock"');
  readControl(checker, section);
  assert.deepEqual(problems(checker), ['2:1: "control.sock" is not an absolute path']);
});

Deno.test("the default control socket lies beside the first listener", () => {
  assert.equal(
    defaultControlSocket(["/run/virtmux/hv1.sock", "/srv/x.sock"]),
    "/run/virtmux/virtmux-control.sock",
  );
  assert.equal(defaultControlSocket(["/hv1.sock"]), "/virtmux-control.sock");
});

Deno.test("with no listener, the default control socket lies in the runtime directory", () => {
  assert.equal(defaultControlSocket([], 0, "/run/user/0"), "/run/virtmux/virtmux-control.sock");
  assert.equal(
    defaultControlSocket([], 1000, "/run/user/1000"),
    "/run/user/1000/virtmux/virtmux-control.sock",
  );
  assert.equal(defaultControlSocket([], 1000, undefined), "/tmp/virtmux-1000/virtmux-control.sock");
});

Deno.test("an empty socket turns the control socket off; auto picks the default", () => {
  assert.equal(controlSocketPath({ socket: "" }, ["/a/b.sock"]), undefined);
  assert.equal(controlSocketPath({ socket: "/x.sock" }, ["/a/b.sock"]), "/x.sock");
  assert.equal(controlSocketPath({ socket: "auto" }, ["/a/b.sock"]), "/a/virtmux-control.sock");
});
