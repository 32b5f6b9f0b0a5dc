// output.go - splits the rendered templates into Kubernetes objects and
// writes one file per object.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// helm's releaseutil.SplitManifests separator.
var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// onlyComments reports whether a document has nothing but comments and
// blank lines (helm drops such documents).
func onlyComments(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

var unsafeName = regexp.MustCompile(`[^a-z0-9.-]+`)

// objectFileName checks the document is one Kubernetes object and names
// its file: "007-deployment-swifteats-menu.yaml".
func objectFileName(n int, source, doc string) (string, error) {
	var obj struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		return "", fmt.Errorf("YAML parse error on %s: %v", source, err)
	}
	if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
		return "", fmt.Errorf("%s: a document without apiVersion, kind or metadata.name:\n%s", source, doc)
	}
	base := unsafeName.ReplaceAllString(strings.ToLower(obj.Kind+"-"+obj.Metadata.Name), "-")
	return fmt.Sprintf("%03d-%s.yaml", n, base), nil
}

func writeManifests(outDir string, files []renderedFile, notes string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(outDir, "*.yaml"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	n := 0
	for _, f := range files {
		for _, doc := range docSep.Split(f.text, -1) {
			doc = strings.TrimRight(doc, " \t\n")
			if onlyComments(doc) {
				continue
			}
			n++
			name, err := objectFileName(n, f.name, doc)
			if err != nil {
				return err
			}
			text := "---\n# Source: " + f.name + "\n" + strings.TrimLeft(doc, "\n") + "\n"
			if err := os.WriteFile(filepath.Join(outDir, name), []byte(text), 0o644); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(outDir, "NOTES.txt"), []byte(notes), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "k8s-render: %d objects in %s\n", n, outDir)
	return nil
}
