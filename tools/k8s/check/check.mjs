// check.mjs - offline validation of the chart's values and rendered
// manifests (scripts/k8s-check.sh runs it; no cluster, no network).
//
//   node check.mjs values SCHEMA BASE_VALUES [OVERRIDE...]
//       ajv (strict) compiles values.schema.json, then validates
//       BASE_VALUES alone and BASE_VALUES merged with each OVERRIDE (helm's
//       merge); a second engine besides the renderer's gojsonschema, and
//       one that rejects a schema with unknown keywords.
//   node check.mjs manifests DIR...
//       every DIR/*.yaml (one object each, from k8s-render): its Kubernetes
//       JSON schema (kubernetes-models), unknown fields (strict-fields.mjs)
//       and our policies (policy.mjs), then cross-object checks per DIR.
//
// Prints one line per problem, "FAIL <where>: <what>", and exits 1 if any.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import Ajv from "ajv";
import { unknownFields } from "./strict-fields.mjs";
import { objectPolicies, setPolicies } from "./policy.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = path.resolve(here, "..", "node_modules");
let failures = 0;
const fail = (where, what) => { failures++; console.log(`FAIL ${where}: ${what}`); };

// apiVersion -> where its models live; the keys are also the only API
// versions our manifests may use (current, non-deprecated ones).
const modelRoots = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "policy/v1": "kubernetes-models/policy/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

function coalesce(dst, src) {
  for (const [k, v] of Object.entries(src ?? {})) {
    if (v === null) delete dst[k];
    else if (v && typeof v === "object" && !Array.isArray(v) && dst[k] && typeof dst[k] === "object" && !Array.isArray(dst[k])) coalesce(dst[k], v);
    else dst[k] = v;
  }
  return dst;
}

function checkValues([schemaFile, base, ...overrides]) {
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
  let validate;
  try {
    validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
  } catch (e) {
    fail(schemaFile, `not a valid strict JSON schema: ${e.message}`);
    return;
  }
  const load = (f) => YAML.parse(fs.readFileSync(f, "utf8")) ?? {};
  const sets = [[base, load(base)], ...overrides.map((f) => [`${base} + ${f}`, coalesce(load(base), load(f))])];
  for (const [name, values] of sets) {
    if (validate(values)) { console.log(`ok   values ${name}`); continue; }
    for (const e of validate.errors) fail(`values ${name}`, `${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`);
  }
}

async function schemaErrors(obj) {
  const root = modelRoots[obj.apiVersion];
  if (!root) return [`apiVersion ${obj.apiVersion} is not one we deploy (current versions only: ${Object.keys(modelRoots).join(", ")})`];
  let model;
  try {
    model = (await import(`${root}/${obj.kind}`))[obj.kind];
  } catch {
    return [`no Kubernetes model for ${obj.apiVersion} ${obj.kind}`];
  }
  const errors = [];
  try {
    new model(obj).validate();
  } catch (e) {
    errors.push(`schema: ${e.message}`);
  }
  const dts = path.join(nodeModules, `${root}/${obj.kind}.d.ts`);
  for (const u of unknownFields(obj, dts, nodeModules)) errors.push(`schema: ${u}`);
  return errors;
}

async function checkManifests(dirs) {
  for (const dir of dirs) {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
    if (files.length === 0) fail(dir, "no manifests");
    const objects = [];
    for (const f of files) {
      const file = path.join(dir, f);
      const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
      if (docs.length !== 1 || docs[0].errors.length) { fail(file, "not exactly one YAML document"); continue; }
      const obj = docs[0].toJS();
      const where = `${file} ${obj.kind}/${obj.metadata?.name}`;
      const errs = [...(await schemaErrors(obj)), ...objectPolicies(obj)];
      errs.forEach((e) => fail(where, e));
      objects.push({ file, obj });
    }
    setPolicies(objects).forEach(([where, e]) => fail(where, e));
    console.log(`${failures ? "..." : "ok  "} ${objects.length} manifests in ${dir}`);
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "values" && args.length >= 2) checkValues(args);
else if (mode === "manifests" && args.length >= 1) await checkManifests(args);
else {
  console.error("usage: check.mjs values SCHEMA BASE [OVERRIDE...] | manifests DIR...");
  process.exit(2);
}
process.exit(failures ? 1 : 0);
