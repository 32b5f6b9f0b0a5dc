// k8s-render - renders a Helm (v3) chart offline, the way `helm template`
// does, for CI machines that have neither helm nor a cluster.
//
//	k8s-render --chart deploy/k8s [-f values.yaml]... [--set a.b=c]...
//	           [--release-name swifteats] [--namespace default] [--upgrade]
//	           [--kube-version v1.29.0] [--api-versions monitoring.coreos.com/v1]...
//	           --out DIR
//
// WHY our own tool: helm is not packaged for Debian 12 and nothing may be
// downloaded, but helm's template engine is only Go's text/template plus
// sprig (Debian: golang-github-masterminds-sprig-dev) plus a handful of
// functions of its own (include, tpl, required, toYaml, fromYaml, ...).
// Rendering with that same engine validates the chart's real template code,
// not a text substitution that merely looks like it.
//
// What it implements (helm's essentials, same semantics):
//   - .Values: values.yaml, then each -f file, then each --set, deep-merged
//     (maps merge, anything else replaces, null deletes a key), then
//     validated against values.schema.json (gojsonschema, as helm does);
//   - .Release (Name, Namespace, Service, IsInstall, IsUpgrade, Revision),
//     .Chart (Chart.yaml), .Capabilities (KubeVersion, APIVersions.Has),
//     .Template (Name, BasePath);
//   - Chart.yaml's kubeVersion constraint is checked against --kube-version;
//   - every file under templates/ is parsed into one template set; files
//     whose name starts with "_" are partials only; NOTES.txt is rendered
//     to OUT/NOTES.txt, never into the manifests;
//   - missing keys render as empty (helm's "<no value>" removal).
//
// Not implemented: subcharts, .Files, lookup (always empty, as in `helm
// template`), --set with lists or escaped dots.
//
// Output: one file per Kubernetes object, OUT/NNN-<kind>-<name>.yaml, each
// starting with "---" and a "# Source:" comment naming its template; the
// rendered documents must parse as YAML objects with apiVersion, kind and
// metadata.name, otherwise rendering fails naming the template.
//
// Exit status: 0 rendered, 1 a template, values or schema error (printed on
// stderr with helm's wording), 2 bad usage.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	chartDir    string
	valueFiles  multiFlag
	sets        multiFlag
	apiVersions multiFlag
	release     string
	namespace   string
	upgrade     bool
	kubeVersion string
	outDir      string
}

func parseFlags() *options {
	o := &options{}
	flag.StringVar(&o.chartDir, "chart", "deploy/k8s", "chart directory")
	flag.Var(&o.valueFiles, "f", "values file merged over values.yaml (repeatable, in order)")
	flag.Var(&o.sets, "set", "key.path=value merged last (repeatable)")
	flag.Var(&o.apiVersions, "api-versions", "extra API version the cluster serves, e.g. monitoring.coreos.com/v1 (repeatable)")
	flag.StringVar(&o.release, "release-name", "swifteats", "release name")
	flag.StringVar(&o.namespace, "namespace", "default", "release namespace")
	flag.BoolVar(&o.upgrade, "upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	flag.StringVar(&o.kubeVersion, "kube-version", "v1.29.0", "Kubernetes version for .Capabilities.KubeVersion")
	flag.StringVar(&o.outDir, "out", "", "output directory (required; created, existing *.yaml removed)")
	flag.Parse()
	if o.outDir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: k8s-render --chart DIR [-f FILE]... [--set k=v]... --out DIR")
		flag.PrintDefaults()
		os.Exit(2)
	}
	return o
}

func main() {
	o := parseFlags()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	chart, err := loadChart(o.chartDir)
	if err != nil {
		return err
	}
	caps, err := newCapabilities(o.kubeVersion, o.apiVersions)
	if err != nil {
		return err
	}
	if err := checkKubeVersion(chart, caps); err != nil {
		return err
	}
	values, err := loadValues(o.chartDir, o.valueFiles, o.sets)
	if err != nil {
		return err
	}
	if err := validateValues(o.chartDir, chart.Name, values); err != nil {
		return err
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name":      o.release,
			"Namespace": o.namespace,
			"Service":   "Helm",
			"IsInstall": !o.upgrade,
			"IsUpgrade": o.upgrade,
			"Revision":  map[bool]int{false: 1, true: 2}[o.upgrade],
		},
		"Capabilities": caps,
	}
	rendered, notes, err := renderChart(o.chartDir, chart.Name, top)
	if err != nil {
		return err
	}
	return writeManifests(o.outDir, rendered, notes)
}
