// render_test.go - the renderer's helm semantics on a small fixture chart
// (run by tools/k8s/build-render.sh, so by `make k8s-check`).
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCoalesceLikeHelm(t *testing.T) {
	dst := map[string]interface{}{
		"a": map[string]interface{}{"x": 1, "y": 2},
		"b": []interface{}{1, 2},
		"c": "keep",
	}
	coalesce(dst, map[string]interface{}{
		"a": map[string]interface{}{"y": nil, "z": 3}, // maps merge; null deletes
		"b": []interface{}{3},                         // lists replace
	})
	a := dst["a"].(map[string]interface{})
	if a["x"] != 1 || a["z"] != 3 || len(a) != 2 {
		t.Errorf("map merge: got %v", a)
	}
	if b := dst["b"].([]interface{}); len(b) != 1 || b[0] != 3 {
		t.Errorf("list replace: got %v", dst["b"])
	}
	if dst["c"] != "keep" {
		t.Errorf("untouched key: got %v", dst["c"])
	}
}

func TestParseSet(t *testing.T) {
	m, err := parseSet("menu.replicas=3")
	if err != nil || m["menu"].(map[string]interface{})["replicas"] != 3 {
		t.Errorf("got %v, %v", m, err)
	}
	if m, _ := parseSet("image.tag=null"); m["image"].(map[string]interface{})["tag"] != nil {
		t.Errorf("null: got %v", m)
	}
	if _, err := parseSet("novalue"); err == nil {
		t.Error("want an error without =")
	}
}

func TestNumbersAreFloatsLikeHelm(t *testing.T) {
	v := normalizeNumbers(map[string]interface{}{"n": 8388608, "l": []interface{}{1}}).(map[string]interface{})
	if _, ok := v["n"].(float64); !ok {
		t.Errorf("n: %T", v["n"])
	}
	if _, ok := v["l"].([]interface{})[0].(float64); !ok {
		t.Errorf("list item: %T", v["l"].([]interface{})[0])
	}
}

func TestRenderFixtureChart(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"9\"\nkubeVersion: \">=1.27.0-0\"\n",
		"values.yaml":            "name: web\nport: 80\nmsg: \"{{ .Values.name }}-tpl\"\nmon: false\n",
		"values.schema.json":     `{"type":"object","properties":{"port":{"type":"integer","minimum":1}},"required":["name"]}`,
		"templates/_helpers.tpl": `{{- define "demo.name" -}}{{ .Release.Name }}-{{ .Values.name }}{{- end }}`,
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "demo.name" . }}
data:
  port: {{ .Values.port | quote }}
  tpl: {{ tpl .Values.msg . }}
  chart: {{ .Chart.Name }}-{{ .Chart.Version }}
  missing: "{{ .Values.nothere }}"
  upgrade: "{{ .Release.IsUpgrade }}"
---
# only a comment: dropped
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: second
`,
		"templates/mon.yaml": `{{- if and .Values.mon (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: mon
{{- end }}
`,
		"templates/NOTES.txt": "release {{ .Release.Name }}\n",
	})
	out := filepath.Join(t.TempDir(), "out")
	o := &options{chartDir: dir, release: "rel", namespace: "ns", kubeVersion: "v1.29.0", outDir: out,
		sets: multiFlag{"mon=true"}, apiVersions: multiFlag{"monitoring.coreos.com/v1"}}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.yaml"))
	if len(files) != 3 {
		t.Fatalf("want 3 objects (the comment-only document dropped), got %v", files)
	}
	cm, _ := os.ReadFile(filepath.Join(out, "001-configmap-rel-web.yaml"))
	for _, want := range []string{"---\n# Source: demo/templates/cm.yaml\n", `port: "80"`, "tpl: web-tpl",
		"chart: demo-1.2.3", `missing: ""`, `upgrade: "false"`} {
		if !strings.Contains(string(cm), want) {
			t.Errorf("configmap lacks %q:\n%s", want, cm)
		}
	}
	if notes, _ := os.ReadFile(filepath.Join(out, "NOTES.txt")); string(notes) != "release rel\n" {
		t.Errorf("NOTES.txt: %q", notes)
	}

	// Schema violations, required, and the kubeVersion constraint fail.
	o.sets = multiFlag{"port=0"}
	if err := run(o); err == nil || !strings.Contains(err.Error(), "- port: Must be greater than or equal to 1") {
		t.Errorf("schema: got %v", err)
	}
	o.sets = nil
	o.kubeVersion = "v1.26.0"
	if err := run(o); err == nil || !strings.Contains(err.Error(), "incompatible with Kubernetes v1.26.0") {
		t.Errorf("kubeVersion: got %v", err)
	}
	o.kubeVersion = "v1.29.0"
	writeFiles(t, dir, map[string]string{"templates/req.yaml": `{{ required "need .Values.x" .Values.x }}`})
	if err := run(o); err == nil || err.Error() != "execution error at (demo/templates/req.yaml:1:3): need .Values.x" {
		t.Errorf("required: got %v", err)
	}
}
