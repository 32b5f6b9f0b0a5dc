#!/usr/bin/env bash
# `make k8s-check` (and CI, through .ci/run): validates the Kubernetes chart
# (deploy/k8s) and the container image build offline, with no helm, no
# cluster and no Docker engine:
#   1. build the renderer (tools/k8s/render: Go text/template + sprig, the
#      engine helm uses) and install the Node checker's locked packages
#      (tools/k8s/package-lock.json: kubernetes-models, ajv, yaml)
#   2. render the chart with the default values, values-production.yaml
#      (as an upgrade, with the Prometheus Operator's API), values-trial.yaml,
#      and with the ServiceMonitor enabled with and without its API
#   3. values files against values.schema.json (ajv, strict; the renderer
#      also validates them with gojsonschema, as helm does)
#   4. every rendered object against its Kubernetes JSON schema, for unknown
#      fields, and against our policies (tools/k8s/check/policy.mjs)
#   5. yamllint on the rendered manifests and the values files
#   6. negative tests: a negative replica count and a missing image tag must
#      fail with a message naming the field; a manifest breaking each policy
#      must be reported
#   7. the image: scripts/image-build.sh (the Dockerfile's build step) stages
#      the binaries; every binary the chart runs must be there, and the
#      Dockerfile must build with that script and run as the chart's user
# Prints "k8s-check: N passed, M failed" last; exit 1 on any failure.
#
# Environment: SE_K8S_DIR (default build-k8s) holds the renderer, the
# renderings (SE_K8S_DIR/rendered/<set>) and the staged image root;
# SE_BUILD_DIR (default build) is the build folder whose binaries are
# staged; when it has none, image-build.sh makes a Release build in
# SE_K8S_DIR/image-build (minutes; CI runs this after `make test`, which
# built build/).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
work=${SE_K8S_DIR:-build-k8s}
build=${SE_BUILD_DIR:-build}
chart=deploy/k8s
testdata=tools/k8s/testdata
render=$work/bin/k8s-render
out=$work/rendered
log=$work/logs
passed=0 failed=0 started=$SECONDS

ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
# check NAME CMD...: runs CMD, its output in $log/NAME.log (shown on failure).
check() {
    local name=$1; shift
    if "$@" >"$log/$name.log" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/    /' "$log/$name.log"; fi
}
# expect_failure NAME "TEXT"... -- CMD...: CMD must fail and print every TEXT.
expect_failure() {
    local name=$1; shift
    local texts=()
    while [ "$1" != "--" ]; do texts+=("$1"); shift; done
    shift
    if "$@" >"$log/$name.log" 2>&1; then
        bad "$name: succeeded but must fail"; return
    fi
    local t missing=0
    for t in "${texts[@]}"; do
        grep -qF -- "$t" "$log/$name.log" || { bad "$name: no message '$t' in:"; missing=1; }
    done
    if [ $missing = 0 ]; then
        ok "$name (fails: $(grep -m1 -F -- "${texts[0]}" "$log/$name.log" | sed 's/^[- ]*//'))"
    else
        sed 's/^/    /' "$log/$name.log"
    fi
}
step() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - started)); }
finish() {
    printf '\nk8s-check: %ds\n' $((SECONDS - started))
    echo "k8s-check: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

rm -rf "$out" "$log" "$work/no-monitoring-api" "$work/bad"
mkdir -p "$work/bin" "$out" "$log"
for tool in go node npm yamllint; do
    command -v "$tool" >/dev/null || { bad "$tool is not installed (scripts/install-deps.sh)"; finish; }
done

step "tools"
check build-renderer tools/k8s/build-render.sh "$render"
# npm ci only when the lock file changed since the last install.
stamp=tools/k8s/node_modules/.swifteats-package-lock.json
if cmp -s tools/k8s/package-lock.json "$stamp"; then
    ok "node packages (up to date)"
else
    check npm-ci bash -c 'cd tools/k8s && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.swifteats-package-lock.json'
fi
if [ ! -x "$render" ] || [ ! -d tools/k8s/node_modules ]; then finish; fi

step "render"
sets=(default production trial monitoring)
check render-default "$render" --chart $chart --out "$out/default"
check render-production "$render" --chart $chart -f $chart/values-production.yaml --upgrade \
    --namespace swifteats --api-versions monitoring.coreos.com/v1 --out "$out/production"
check render-trial "$render" --chart $chart -f $chart/values-trial.yaml \
    --namespace swifteats-trial --out "$out/trial"
check render-monitoring "$render" --chart $chart --set serviceMonitor.enabled=true \
    --api-versions monitoring.coreos.com/v1 --out "$out/monitoring"
check render-no-monitoring-api "$render" --chart $chart --set serviceMonitor.enabled=true \
    --out "$work/no-monitoring-api"
if compgen -G "$out/monitoring/*-servicemonitor-*" >/dev/null &&
    ! compgen -G "$work/no-monitoring-api/*-servicemonitor-*" >/dev/null; then
    ok "ServiceMonitor rendered only when monitoring.coreos.com/v1 exists"
else
    bad "ServiceMonitor must be rendered with monitoring.coreos.com/v1 and only then"
fi
if compgen -G "$out/production/*-servicemonitor-*" >/dev/null; then
    bad "production: serviceMonitor is disabled there, yet a ServiceMonitor was rendered"
fi

step "values schema (ajv)"
check values-schema node tools/k8s/check/check.mjs values $chart/values.schema.json \
    $chart/values.yaml $chart/values-production.yaml $chart/values-trial.yaml

step "manifests: Kubernetes schemas, unknown fields, policies"
manifest_dirs=()
for s in "${sets[@]}"; do manifest_dirs+=("$out/$s"); done
check manifests node tools/k8s/check/check.mjs manifests "${manifest_dirs[@]}"

step "yamllint"
check yamllint yamllint -s -c tools/k8s/yamllint.yaml "${manifest_dirs[@]}" \
    $chart/Chart.yaml $chart/values.yaml $chart/values-production.yaml $chart/values-trial.yaml \
    $testdata tools/k8s/yamllint.yaml

step "negative tests"
expect_failure bad-values-negative-replicas "menu.replicas: Must be greater than or equal to 0" -- \
    "$render" --chart $chart -f $testdata/bad-negative-replicas.yaml --out "$work/bad"
expect_failure bad-values-missing-tag "image: tag is required" -- \
    "$render" --chart $chart -f $testdata/bad-missing-tag.yaml --out "$work/bad"
expect_failure bad-values-ajv "/menu/replicas must be >= 0" "must have required property 'tag'" -- \
    node tools/k8s/check/check.mjs values $chart/values.schema.json $chart/values.yaml \
    $testdata/bad-negative-replicas.yaml $testdata/bad-missing-tag.yaml
expect_failure bad-manifests-policies \
    "readinesProbe: unknown field" \
    "no readinessProbe" "no startupProbe" \
    "livenessProbe httpGet.port must be a number" \
    "no resources.limits.memory" \
    "readOnlyRootFilesystem must be true" \
    "capabilities must drop ALL" \
    "uses the moving tag latest" \
    "lacks label app.kubernetes.io/managed-by" \
    "spec.selector.matchLabels uses app.kubernetes.io/version" \
    "lacks the checksum/config annotation" \
    "apiVersion autoscaling/v2beta2 is not one we deploy" \
    "no NetworkPolicy selects its pods" -- \
    node tools/k8s/check/check.mjs manifests $testdata/bad-manifests

step "image"
image_root=$work/image-root
if [ -x "$build/gateway/se-gateway" ]; then
    check image-build scripts/image-build.sh --from-build "$build" --dest "$image_root"
else
    echo "no binaries in $build: a Release build in $work/image-build (minutes)"
    check image-build scripts/image-build.sh --build-dir "$work/image-build" --dest "$image_root"
fi
mapfile -t chart_binaries < <(for d in "${manifest_dirs[@]}"; do cat "$d"/*.yaml; done |
    grep -o '/usr/local/bin/se-[a-z-]*' | sort -u)
missing=()
for b in "${chart_binaries[@]}"; do [ -x "$image_root$b" ] || missing+=("$b"); done
if [ ${#chart_binaries[@]} -gt 0 ] && [ ${#missing[@]} = 0 ]; then
    ok "the image holds the ${#chart_binaries[@]} binaries the chart runs"
else
    bad "binaries the chart runs but the image lacks: ${missing[*]:-none found in the manifests}"
fi
if [ -s "$image_root/usr/local/share/swifteats/runtime-packages" ]; then
    ok "runtime packages listed for the slim stage"
else
    bad "no runtime-packages list in the staged image"
fi
# The migration Job runs `se-menu --migrate-only` and `se-order --migrate-only`.
for b in se-menu se-order; do
    if grep -qaF -- "--migrate-only" "$image_root/usr/local/bin/$b" 2>/dev/null; then
        ok "$b knows --migrate-only (migration Job)"
    else
        bad "$b does not know --migrate-only, which the migration Job runs (deploy/k8s/templates/migrations-job.yaml)"
    fi
done
if grep -q '^RUN scripts/image-build.sh ' Dockerfile; then
    ok "Dockerfile builds with scripts/image-build.sh"
else
    bad "Dockerfile does not RUN scripts/image-build.sh: its build steps could drift from CI's"
fi
uid=$(awk '/^podSecurityContext:/ {p=1} p && /runAsUser:/ {print $2; exit}' $chart/values.yaml)
if grep -q "^USER $uid:$uid\$" Dockerfile; then
    ok "Dockerfile runs as the chart's user ($uid)"
else
    bad "Dockerfile USER is not $uid:$uid, the chart's podSecurityContext.runAsUser"
fi

finish
