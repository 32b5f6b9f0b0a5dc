// policy.mjs - our own rules for the rendered manifests, beyond what the
// Kubernetes schemas require. Each rule is a promise the chart makes to
// operators (README, deployment section):
//   - every container: resource requests AND limits (cpu, memory); a
//     security context that is non-root, read-only root filesystem, no
//     privilege escalation, all capabilities dropped; a pinned image tag;
//   - every long-running container (Deployment, StatefulSet): startup,
//     liveness and readiness probes, their ports numeric and declared;
//   - the recommended app.kubernetes.io/* labels on every object and pod
//     template; selectors on name/instance/component only (never the
//     version: selectors are immutable);
//   - Deployments carry a checksum/config annotation; hook Jobs are hooks;
//   - across objects: Services, PDBs and NetworkPolicies select real pods,
//     HPAs target real Deployments (which then leave replicas to them),
//     envFrom ConfigMaps exist and never bind servers to loopback, every
//     workload is fenced by a NetworkPolicy.

export const recommendedLabels = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "app.kubernetes.io/component",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/managed-by",
];
const selectorLabels = ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"];
const workloadKinds = new Set(["Deployment", "StatefulSet"]);

function podSpecOf(obj) {
  if (workloadKinds.has(obj.kind) || obj.kind === "Job") return obj.spec?.template?.spec;
  if (obj.kind === "Pod") return obj.spec;
  return undefined;
}

function checkLabels(labels, where) {
  const errs = [];
  for (const l of recommendedLabels) if (!labels?.[l]) errs.push(`${where} lacks label ${l}`);
  return errs;
}

function checkSelector(sel, where) {
  const errs = [];
  if (!sel || Object.keys(sel).length === 0) return [`${where} is empty (would select every pod)`];
  for (const l of selectorLabels) if (!sel[l]) errs.push(`${where} lacks ${l}`);
  for (const l of Object.keys(sel)) if (!selectorLabels.includes(l)) errs.push(`${where} uses ${l} (only name, instance, component: selectors are immutable)`);
  return errs;
}

function checkProbe(probe, kind, container, longRunning) {
  if (!probe) return longRunning ? [`container ${container.name}: no ${kind}`] : [];
  const errs = [];
  const declared = new Set((container.ports ?? []).map((p) => p.containerPort));
  for (const h of ["httpGet", "tcpSocket", "grpc"]) {
    if (!probe[h]) continue;
    const port = probe[h].port;
    if (!Number.isInteger(port)) errs.push(`container ${container.name}: ${kind} ${h}.port must be a number (got ${JSON.stringify(port)})`);
    else if (!declared.has(port)) errs.push(`container ${container.name}: ${kind} port ${port} is not a declared containerPort`);
  }
  return errs;
}

function checkSecurity(c, pod) {
  const sc = c.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  const errs = [];
  const who = `container ${c.name}`;
  if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) errs.push(`${who}: runAsNonRoot must be true`);
  if ((sc.runAsUser ?? psc.runAsUser) === 0) errs.push(`${who}: runs as uid 0`);
  if (sc.readOnlyRootFilesystem !== true) errs.push(`${who}: readOnlyRootFilesystem must be true`);
  if (sc.allowPrivilegeEscalation !== false) errs.push(`${who}: allowPrivilegeEscalation must be false`);
  if (sc.privileged === true) errs.push(`${who}: privileged`);
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) errs.push(`${who}: capabilities must drop ALL`);
  if ((sc.capabilities?.add ?? []).length) errs.push(`${who}: adds capabilities ${sc.capabilities.add}`);
  return errs;
}

function checkResources(c) {
  const errs = [];
  for (const side of ["requests", "limits"])
    for (const r of ["cpu", "memory"])
      if (c.resources?.[side]?.[r] === undefined) errs.push(`container ${c.name}: no resources.${side}.${r}`);
  return errs;
}

function checkImage(c) {
  const image = c.image ?? "";
  if (image.includes("@sha256:")) return [];
  const tag = image.slice(image.lastIndexOf("/") + 1).split(":")[1];
  if (!tag) return [`container ${c.name}: image ${image} has no tag`];
  if (tag === "latest") return [`container ${c.name}: image ${image} uses the moving tag latest`];
  return [];
}

// Rules about one object. Returns messages.
export function objectPolicies(obj) {
  const errs = checkLabels(obj.metadata?.labels, "metadata.labels");
  if (!obj.metadata?.namespace && obj.kind !== "Namespace") errs.push("metadata.namespace is not set");
  const pod = podSpecOf(obj);
  if (workloadKinds.has(obj.kind)) {
    errs.push(...checkLabels(obj.spec?.template?.metadata?.labels, "pod template labels"));
    errs.push(...checkSelector(obj.spec?.selector?.matchLabels, "spec.selector.matchLabels"));
  }
  if (obj.kind === "Deployment" && !obj.spec?.template?.metadata?.annotations?.["checksum/config"])
    errs.push("pod template lacks the checksum/config annotation (a config change would not roll the pods)");
  if (obj.kind === "Job" && !obj.metadata?.annotations?.["helm.sh/hook"])
    errs.push("a Job that is not a helm hook (migrations must run before install/upgrade)");
  if (obj.kind === "Service" && obj.spec?.selector) errs.push(...checkSelector(obj.spec.selector, "spec.selector"));
  if (obj.kind === "PodDisruptionBudget") errs.push(...checkSelector(obj.spec?.selector?.matchLabels, "spec.selector.matchLabels"));
  if (!pod) return errs;
  if (pod.automountServiceAccountToken !== false) errs.push("automountServiceAccountToken must be false (no component calls the API)");
  const longRunning = workloadKinds.has(obj.kind);
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const isInit = (pod.initContainers ?? []).includes(c);
    errs.push(...checkResources(c), ...checkSecurity(c, pod), ...checkImage(c));
    for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"])
      errs.push(...checkProbe(c[kind], kind, c, longRunning && !isInit));
  }
  return errs;
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

// Rules across the objects of one rendering. Returns [where, message].
export function setPolicies(objects) {
  const out = [];
  const where = ({ file, obj }) => `${file} ${obj.kind}/${obj.metadata?.name}`;
  const pods = objects
    .filter(({ obj }) => podSpecOf(obj))
    .map((o) => ({ ...o, labels: o.obj.kind === "Pod" ? o.obj.metadata.labels : o.obj.spec.template.metadata?.labels }));
  const named = (kind, name) => objects.find(({ obj }) => obj.kind === kind && obj.metadata?.name === name);
  const policies = objects.filter(({ obj }) => obj.kind === "NetworkPolicy");

  for (const o of objects) {
    const { obj } = o;
    let sel;
    if (obj.kind === "Service") sel = obj.spec?.selector;
    if (obj.kind === "PodDisruptionBudget" || obj.kind === "NetworkPolicy")
      sel = obj.kind === "NetworkPolicy" ? obj.spec?.podSelector?.matchLabels : obj.spec?.selector?.matchLabels;
    if (sel && !pods.some((p) => matches(sel, p.labels))) out.push([where(o), "selects no pod of this release"]);
    if (obj.kind === "HorizontalPodAutoscaler") {
      const target = named(obj.spec?.scaleTargetRef?.kind, obj.spec?.scaleTargetRef?.name);
      if (!target) out.push([where(o), `scaleTargetRef ${obj.spec?.scaleTargetRef?.name} does not exist`]);
      else if (target.obj.spec?.replicas !== undefined) out.push([where(target), "has replicas although an HPA scales it"]);
    }
    if (!workloadKinds.has(obj.kind)) continue;
    const labels = obj.spec.template.metadata?.labels;
    if (!policies.some((np) => matches(np.obj.spec?.podSelector?.matchLabels, labels)))
      out.push([where(o), "no NetworkPolicy selects its pods"]);
    for (const c of obj.spec.template.spec.containers ?? []) {
      for (const ef of c.envFrom ?? []) {
        const name = ef.configMapRef?.name;
        if (!name) continue;
        const cm = named("ConfigMap", name);
        if (!cm) { out.push([where(o), `envFrom ConfigMap ${name} does not exist`]); continue; }
        for (const [k, v] of Object.entries(cm.obj.data ?? {}))
          if ((k === "SE_BIND_HOST" || k.endsWith("_ADDR")) && /^(127\.|localhost|\[::1\])/.test(String(v)))
            out.push([where(cm), `${k}=${v} listens on loopback only: unreachable from other pods and probes`]);
        if (!("SE_BIND_HOST" in (cm.obj.data ?? {}))) out.push([where(cm), "SE_BIND_HOST is not set (the code defaults to 127.0.0.1)"]);
      }
    }
  }
  return out;
}
