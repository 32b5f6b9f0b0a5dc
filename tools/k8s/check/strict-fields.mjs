// strict-fields.mjs - finds fields Kubernetes does not know ("unknown
// field"), which the JSON-schema validators of kubernetes-models let
// through (the Kubernetes OpenAPI schemas do not forbid extra properties)
// but an API server with strict field validation rejects, and which
// otherwise vanish silently (a misspelt readinessProbe is no probe).
//
// HOW: kubernetes-models ships a TypeScript declaration per model
// (apps/v1/Deployment.d.ts: `export interface IDeployment { "spec"?: ... }`)
// listing every field with its type; CRD models declare nested object
// types inline. A small parser of that declaration subset (object
// literals, index signatures, Array<T>, unions, literals, references to
// imported models) gives the set of known fields at every path; anything
// else in a manifest is reported. Types it cannot follow (unions of
// objects, aliases like IntOrString) are leaves: not checked, never
// wrongly failed.
import fs from "node:fs";
import path from "node:path";

const cache = new Map(); // .d.ts path -> {imports, type}

function tokenize(src) {
  const toks = [];
  const re = /\s+|\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*|-?\d+(?:\.\d+)?|[{}[\]<>():;?|,=&.]/y;
  let m;
  while (re.lastIndex < src.length && (m = re.exec(src)) !== null) {
    const t = m[0];
    if (/^\s/.test(t) || t.startsWith("/*") || t.startsWith("//")) continue;
    toks.push(t);
  }
  return toks;
}

class Parser {
  constructor(toks, file) {
    this.t = toks;
    this.i = 0;
    this.file = file;
  }
  peek(k = 0) { return this.t[this.i + k]; }
  next() { return this.t[this.i++]; }
  expect(x) {
    const got = this.next();
    if (got !== x) throw new Error(`${this.file}: expected ${x}, got ${got} at token ${this.i}`);
  }
  type() {
    const members = [this.postfix()];
    while (this.peek() === "|") { this.next(); members.push(this.postfix()); }
    return members.length === 1 ? members[0] : { kind: "union", members };
  }
  postfix() {
    let t = this.primary();
    while (this.peek() === "[" && this.peek(1) === "]") { this.next(); this.next(); t = { kind: "array", item: t }; }
    return t;
  }
  primary() {
    const tok = this.next();
    if (tok === "{") return this.objectBody();
    if (tok === "(") { const t = this.type(); this.expect(")"); return t; }
    if (tok === "Array" && this.peek() === "<") { this.next(); const item = this.type(); this.expect(">"); return { kind: "array", item }; }
    if (tok.startsWith('"') || tok.startsWith("'") || /^-?\d/.test(tok)) return { kind: "leaf" };
    if (/^(string|number|boolean|any|unknown|object|null|undefined|true|false)$/.test(tok)) return { kind: "leaf" };
    if (/^[A-Za-z_$]/.test(tok)) {
      if (this.peek() === "<") { this.skipGeneric(); return { kind: "leaf" }; }
      return { kind: "ref", name: tok, file: this.file };
    }
    throw new Error(`${this.file}: unexpected token ${tok}`);
  }
  skipGeneric() {
    let depth = 0;
    do {
      const t = this.next();
      if (t === "<") depth++;
      else if (t === ">") depth--;
    } while (depth > 0);
  }
  objectBody() {
    if (this.peek() === "[") { // { [key: string]: T; }
      while (this.next() !== "]") { /* key: string */ }
      this.expect(":");
      const value = this.type();
      if (this.peek() === ";") this.next();
      this.expect("}");
      return { kind: "map", value };
    }
    const props = {};
    while (this.peek() !== "}") {
      let name = this.next();
      if (name.startsWith('"')) name = JSON.parse(name);
      if (this.peek() === "?") this.next();
      this.expect(":");
      props[name] = this.type();
      if (this.peek() === ";" || this.peek() === ",") this.next();
    }
    this.next();
    return { kind: "object", props };
  }
}

// The model declared in a .d.ts: its first exported interface (or a leaf
// for type aliases), and its imports by local name.
function loadDts(file) {
  if (cache.has(file)) return cache.get(file);
  const src = fs.readFileSync(file, "utf8");
  const imports = {};
  for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const part of m[1].split(",")) {
      const [orig, alias] = part.trim().split(/\s+as\s+/);
      if (orig) imports[(alias || orig).trim()] = m[2];
    }
  }
  const entry = { imports, type: { kind: "leaf" } };
  cache.set(file, entry);
  const start = src.search(/export interface \w+(\s+extends\s+[^{]+)?\s*\{/);
  if (start >= 0) {
    const body = src.slice(src.indexOf("{", start));
    const p = new Parser(tokenize(body), file);
    p.next(); // {
    entry.type = p.objectBody();
  }
  return entry;
}

function resolveRef(ref, nodeModules) {
  const spec = loadDts(ref.file).imports[ref.name];
  if (!spec) return { kind: "leaf" };
  const file = spec.startsWith(".")
    ? path.resolve(path.dirname(ref.file), spec + ".d.ts")
    : path.join(nodeModules, spec + ".d.ts");
  if (!fs.existsSync(file)) return { kind: "leaf" };
  return loadDts(file).type;
}

function walk(data, type, where, errors, nodeModules) {
  if (data === null || data === undefined) return;
  switch (type.kind) {
    case "ref":
      return walk(data, resolveRef(type, nodeModules), where, errors, nodeModules);
    case "union": {
      const structural = type.members.filter((m) => m.kind !== "leaf");
      if (structural.length === 1) walk(data, structural[0], where, errors, nodeModules);
      return;
    }
    case "array":
      if (Array.isArray(data)) data.forEach((d, i) => walk(d, type.item, `${where}[${i}]`, errors, nodeModules));
      return;
    case "map":
      if (typeof data === "object" && !Array.isArray(data))
        for (const [k, v] of Object.entries(data)) walk(v, type.value, `${where}.${k}`, errors, nodeModules);
      return;
    case "object":
      if (typeof data !== "object" || Array.isArray(data)) return;
      for (const [k, v] of Object.entries(data)) {
        if (!(k in type.props)) errors.push(`${where ? where + "." : ""}${k}: unknown field`);
        else walk(v, type.props[k], `${where ? where + "." : ""}${k}`, errors, nodeModules);
      }
      return;
    default:
  }
}

// Unknown fields of `obj` against the model declared in `dtsFile`.
export function unknownFields(obj, dtsFile, nodeModules) {
  const errors = [];
  if (loadDts(dtsFile).type.kind !== "object") return [`no field list in ${dtsFile}: cannot check unknown fields`];
  walk(obj, loadDts(dtsFile).type, "", errors, nodeModules);
  return errors;
}
