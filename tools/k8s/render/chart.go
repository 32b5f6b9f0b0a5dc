// chart.go - Chart.yaml, .Capabilities and the chart's kubeVersion check.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"
)

// Chart is .Chart: the fields of Chart.yaml under helm's names.
type Chart struct {
	APIVersion  string   `yaml:"apiVersion"`
	Name        string   `yaml:"name"`
	Version     string   `yaml:"version"`
	AppVersion  string   `yaml:"appVersion"`
	KubeVersion string   `yaml:"kubeVersion"`
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"`
	Keywords    []string `yaml:"keywords"`
	Home        string   `yaml:"home"`
}

func loadChart(dir string) (*Chart, error) {
	path := filepath.Join(dir, "Chart.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &Chart{}
	if err := yaml.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if c.APIVersion != "v2" {
		return nil, fmt.Errorf("%s: apiVersion must be v2 (got %q)", path, c.APIVersion)
	}
	if c.Name == "" || c.Version == "" {
		return nil, fmt.Errorf("%s: name and version are required", path)
	}
	if _, err := semver.NewVersion(c.Version); err != nil {
		return nil, fmt.Errorf("%s: version %q is not SemVer 2: %v", path, c.Version, err)
	}
	return c, nil
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

// VersionSet is .Capabilities.APIVersions: "group/version" and
// "group/version/Kind" strings, like helm's.
type VersionSet []string

// Has reports whether the cluster serves apiVersion (or apiVersion/Kind).
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
}

// The group versions every supported cluster (>= 1.25) serves, as helm's
// DefaultVersionSet lists them; --api-versions adds CRD-backed ones.
var builtinAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1",
	"coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1",
	"scheduling.k8s.io/v1", "node.k8s.io/v1", "certificates.k8s.io/v1",
	"admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"apiregistration.k8s.io/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1",
}

func newCapabilities(kubeVersion string, extra []string) (*Capabilities, error) {
	v, err := semver.NewVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("--kube-version %q: %v", kubeVersion, err)
	}
	set := append(VersionSet{}, builtinAPIVersions...)
	for _, e := range extra {
		for _, x := range strings.Split(e, ",") {
			if x = strings.TrimSpace(x); x != "" {
				set = append(set, x)
			}
		}
	}
	return &Capabilities{
		KubeVersion: KubeVersion{
			Version:    "v" + v.String(),
			Major:      fmt.Sprint(v.Major()),
			Minor:      fmt.Sprint(v.Minor()),
			GitVersion: "v" + v.String(),
		},
		APIVersions: set,
	}, nil
}

func checkKubeVersion(c *Chart, caps *Capabilities) error {
	if c.KubeVersion == "" {
		return nil
	}
	constraint, err := semver.NewConstraint(c.KubeVersion)
	if err != nil {
		return fmt.Errorf("Chart.yaml kubeVersion %q: %v", c.KubeVersion, err)
	}
	v, _ := semver.NewVersion(caps.KubeVersion.Version)
	if !constraint.Check(v) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
			c.KubeVersion, caps.KubeVersion.Version)
	}
	return nil
}
