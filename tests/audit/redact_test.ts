import assert from "node:assert/strict";
import {
  marker,
  redactedLength,
  Redactor,
  redactPasswdAttributes,
} from "../../src/audit/redact.ts";

Deno.test("secret values, SASL data and guest passwords are replaced by a marker", () => {
  const redactor = new Redactor([]);
  const set = {
    secret: { uuid: "u", usageType: 1, usageID: "x" },
    value: { length: 6, base64: "c2VjcmV0" },
    flags: 0,
  };
  redactor.body("SECRET_SET_VALUE", "args", set);
  assert.deepEqual(set.value, { redacted: true, length: 6 });
  const get = { value: { length: 6, base64: "c2VjcmV0" } };
  redactor.body("SECRET_GET_VALUE", "ret", get);
  assert.deepEqual(get.value, { redacted: true, length: 6 });
  const step = { nil: 0, data: { length: 12, base64: "AAAAAAAAAAAAAAAA" } };
  redactor.body("AUTH_SASL_STEP", "args", step);
  assert.deepEqual(step.data, { redacted: true, length: 12 });
  const password = { dom: { name: "vm" }, user: "root", password: "hunter2", flags: 0 };
  redactor.body("DOMAIN_SET_USER_PASSWORD", "args", password);
  assert.deepEqual(password.password, { redacted: true, length: 7 });
  const absent = { dom: { name: "vm" }, user: null, password: null, flags: 0 };
  redactor.body("DOMAIN_SET_USER_PASSWORD", "args", absent);
  assert.equal(absent.password, null);
  // Other bodies of the same procedures are left alone.
  const ret = { complete: 1, nil: 0, data: { length: 0, base64: "" } };
  redactor.body("SECRET_SET_VALUE", "ret", ret);
  assert.deepEqual(ret.data, { length: 0, base64: "" });
});

Deno.test("passwd attributes inside XML strings keep the attribute, not the value", () => {
  const xml = `<graphics type='vnc' passwd='s3cr3t' passwdValidTo='2030'/><x passwd = "äb"/>`;
  assert.equal(
    redactPasswdAttributes(xml),
    `<graphics type='vnc' passwd='[redacted, 6 bytes]' passwdValidTo='2030'/>` +
      `<x passwd = "[redacted, 3 bytes]"/>`,
  );
  const args = { xml, flags: 0, list: [xml] };
  new Redactor([]).body("DOMAIN_DEFINE_XML_FLAGS", "args", args);
  assert.doesNotMatch(JSON.stringify(args), /s3cr3t/);
});

Deno.test("configured field names are redacted at any depth", () => {
  const body = {
    dom: { name: "vm", uuid: "u" },
    params: [{ field: "x", value: { token: "abc" } }],
  };
  new Redactor(["uuid", "token"]).body("DOMAIN_SET_PARAMS", "args", body);
  assert.deepEqual(body, {
    dom: { name: "vm", uuid: { redacted: true, length: 1 } },
    params: [{ field: "x", value: { token: { redacted: true, length: 3 } } }],
  });
});

Deno.test("marker lengths: UTF-8 bytes, opaque length, array items, JSON otherwise", () => {
  assert.equal(redactedLength("é"), 2);
  assert.equal(redactedLength({ length: 9, base64: "x" }), 9);
  assert.equal(redactedLength([1, 2, 3]), 3);
  assert.equal(redactedLength({ a: 1 }), 7);
  assert.deepEqual(marker(42), { redacted: true, length: 2 });
});
