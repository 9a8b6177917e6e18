// Validates a batch of FHIR resources with two public Node validators, one process per batch.
// stdin: a JSON array of resources. stdout: a JSON array, one entry per resource:
//   {"fhir.js": [{path, message, severity}...], "asymmetrik": [{path, message, severity}...]}
// FHIR.js: new Fhir().validate(obj, {errorOnUnexpected: true}) catches required-binding codes,
// required primitives and unexpected properties. Asymmetrik: validate(obj, true) against the
// official fhir.schema.json (the non-verbose call: its friendly-message mode recompiles the
// schema for every resource and is slow).
"use strict";
const { Fhir } = require("fhir");
const JSONSchemaValidator = require("@asymmetrik/fhir-json-schema-validator");

const fhir = new Fhir();
const schema = new JSONSchemaValidator();

function fhirjs(resource) {
  const result = fhir.validate(resource, { errorOnUnexpected: true });
  return (result.messages || [])
    .filter((m) => m.severity === "error" || m.severity === "warning")
    .map((m) => ({ path: m.location || "", message: m.message || "(no message)", severity: m.severity }));
}

function asymmetrik(resource) {
  return (schema.validate(resource, true) || []).map((e) => ({
    path: (e.instancePath || e.dataPath || "").replace(/^\./, ""),
    message: e.message || "(no message)",
    severity: "error",
  }));
}

function guarded(check, resource) {
  try {
    return check(resource);
  } catch (err) {
    // a validator that throws has not validated: say so rather than report a clean result
    return [{ path: "", message: `validator crashed: ${err && err.message}`, severity: "error" }];
  }
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((resource) => ({
    "fhir.js": guarded(fhirjs, resource),
    asymmetrik: guarded(asymmetrik, resource),
  }));
  process.stdout.write(JSON.stringify(results));
});
