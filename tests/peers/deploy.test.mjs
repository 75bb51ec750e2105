// The Kubernetes manifests in deploy/kubernetes, checked against what `hearth serve` really is:
// every document parses (PyYAML, Debian's python3-yaml) and has the fields its kind requires;
// selectors, labels and ports agree; the container's flags are ones `hearth serve --help` lists;
// the probes' path answers on a running server; the metrics the autoscaler and the inference
// pool read are in its /metrics.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { hearth, REPO_DIR, tmpDir } from "./lib.mjs";
import { startServer } from "./server_lib.mjs";

const DEPLOY = path.join(REPO_DIR, "deploy", "kubernetes");
const dir = tmpDir("deploy");
let docs = [];
let server;

function parseYaml(file) {
  const res = spawnSync("python3", ["-c",
    "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))", file],
    { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`${file}: ${res.stderr}`);
  return JSON.parse(res.stdout).map((d) => ({ ...d, _file: path.basename(file) }));
}

const byKind = (kind) => docs.filter((d) => d.kind === kind);
const matches = (selector, labels) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

before(async () => {
  for (const f of fs.readdirSync(DEPLOY).filter((f) => f.endsWith(".yaml"))) docs.push(...parseYaml(path.join(DEPLOY, f)));
  const model = path.join(dir, "tiny.gguf");
  hearth("mkmodel", "--preset", "qwen2.5-tiny", "--type", "q8_0", "-o", model);
  server = await startServer(model);
});

after(async () => {
  await server?.stop();
});

test("every document parses and has the fields its kind requires", () => {
  assert.ok(docs.length >= 8, `${docs.length} documents`);
  const required = {
    Secret: ["stringData"],
    ConfigMap: ["data"],
    Deployment: ["spec.selector.matchLabels", "spec.template.metadata.labels", "spec.template.spec.containers"],
    StatefulSet: ["spec.selector.matchLabels", "spec.serviceName", "spec.template.spec.containers"],
    Service: ["spec.selector", "spec.ports"],
    PodDisruptionBudget: ["spec.selector.matchLabels"],
    HorizontalPodAutoscaler: ["spec.scaleTargetRef.name", "spec.maxReplicas", "spec.metrics"],
    InferencePool: ["spec.targetPorts", "spec.selector.matchLabels", "spec.endpointPickerRef.name"],
  };
  const apiVersions = {
    Secret: "v1", ConfigMap: "v1", Service: "v1", Deployment: "apps/v1", StatefulSet: "apps/v1",
    PodDisruptionBudget: "policy/v1", HorizontalPodAutoscaler: "autoscaling/v2",
    InferencePool: "inference.networking.k8s.io/v1",
  };
  for (const d of docs) {
    const where = `${d._file}: ${d.kind}/${d.metadata?.name}`;
    assert.ok(required[d.kind], `${where}: unexpected kind`);
    assert.equal(d.apiVersion, apiVersions[d.kind], where);
    assert.match(d.metadata?.name ?? "", /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, where);
    for (const field of required[d.kind]) {
      const v = field.split(".").reduce((o, k) => o?.[k], d);
      assert.ok(v !== undefined && v !== null, `${where}: ${field} missing`);
    }
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      assert.ok(c.name && c.image, `${where}: a container without name or image`);
    }
  }
  for (const kind of ["Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "InferencePool"])
    assert.ok(byKind(kind).some((d) => d.metadata.name === "hearth"), `no ${kind} named hearth`);
});

test("selectors, ports, probes and flags agree with hearth serve", async () => {
  const [deployment] = byKind("Deployment").filter((d) => d.metadata.name === "hearth");
  const pod = deployment.spec.template;
  assert.ok(matches(deployment.spec.selector.matchLabels, pod.metadata.labels));
  const [c] = pod.spec.containers;
  assert.equal(c.args[0], "serve");
  const flags = Object.fromEntries(c.args.slice(1).map((a) => {
    const m = /^(--[a-z-]+)(?:=(.*))?$/.exec(a);
    assert.ok(m, `argument ${a} is not --flag[=value]`);
    return [m[1], m[2] ?? true];
  }));
  const help = hearth("serve", "--help");
  for (const flag of Object.keys(flags)) assert.match(help, new RegExp(`${flag}\\b`), `hearth serve has no ${flag}`);
  const port = Number(flags["--port"]);
  assert.equal(flags["--host"], "0.0.0.0");
  assert.equal(c.ports.find((p) => p.name === "http").containerPort, port);
  // The KV-cache events' port is the one the publisher binds.
  const kvPort = Number(/^tcp:\/\/\*:(\d+)$/.exec(flags["--kv-events-endpoint"])[1]);
  assert.deepEqual(c.ports.map((p) => p.containerPort).sort(), [port, kvPort].sort());
  // $(VAR) in args must name an env var of the container.
  for (const a of c.args)
    for (const [, name] of a.matchAll(/\$\(([A-Z_]+)\)/g)) assert.ok(c.env.some((e) => e.name === name), `$(${name}) undefined`);
  for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
    assert.equal(c[probe].httpGet.port, port, probe);
    const res = await fetch(`${server.url}${c[probe].httpGet.path}`);
    assert.equal(res.status, 200, `${probe} ${c[probe].httpGet.path} on a running server`);
  }
  assert.ok(pod.spec.terminationGracePeriodSeconds > Number(flags["--shutdown-grace"]),
    "the pod must outlive the server's shutdown grace");
  for (const svc of byKind("Service").filter((s) => matches(s.spec.selector, pod.metadata.labels)))
    for (const p of svc.spec.ports) assert.equal(p.targetPort, port, `Service ${svc.metadata.name}`);
  const [pdb] = byKind("PodDisruptionBudget");
  assert.ok(matches(pdb.spec.selector.matchLabels, pod.metadata.labels));
  const [pool] = byKind("InferencePool");
  assert.ok(matches(pool.spec.selector.matchLabels, pod.metadata.labels));
  assert.deepEqual(pool.spec.targetPorts.map((p) => p.number), [port]);
  const [hpa] = byKind("HorizontalPodAutoscaler");
  assert.equal(hpa.spec.scaleTargetRef.kind, "Deployment");
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  // Secrets the env reads exist with those keys.
  for (const e of c.env.filter((e) => e.valueFrom?.secretKeyRef)) {
    const { name, key } = e.valueFrom.secretKeyRef;
    const secret = byKind("Secret").find((s) => s.metadata.name === name);
    assert.ok(secret?.stringData?.[key] !== undefined, `secret ${name}/${key}`);
  }
});

test("the metrics the autoscaler and the inference pool read are in hearth's /metrics", async () => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const [hpa] = byKind("HorizontalPodAutoscaler");
  const wanted = hpa.spec.metrics.map((m) => m.pods.metric.name);
  const pool = fs.readFileSync(path.join(DEPLOY, "inference-pool.yaml"), "utf8");
  wanted.push(...[...pool.matchAll(/vllm:[a-z_]+/g)].map((m) => m[0]));
  for (const name of wanted) assert.match(text, new RegExp(`^${name}[{ ]`, "m"), `${name} not in /metrics`);
});
