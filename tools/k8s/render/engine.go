// engine.go - the template engine: text/template + sprig + helm's own
// functions, over every file of the chart's templates/ folder.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"gopkg.in/yaml.v3"
)

// renderedFile is the output of one template file.
type renderedFile struct {
	name string // "swifteats/templates/deployment.yaml"
	text string
}

// Helm stops runaway recursion of include at this depth.
const maxIncludeDepth = 1000

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	enc.Close()
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return normalizeNumbers(m).(map[string]interface{})
}

func fromYAMLArray(s string) []interface{} {
	var a []interface{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return normalizeNumbers(a).([]interface{})
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return v, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return v, errors.New(msg)
	}
	return v, nil
}

// funcMap is sprig's text functions (less env/expandenv, as in helm: a
// chart must not read the renderer's environment) plus helm's functions.
// include and tpl need the template set, hence the pointer.
func funcMap(set **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	depth := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth[name] >= maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		depth[name]++
		defer func() { depth[name]-- }()
		var buf strings.Builder
		err := (*set).ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := (*set).Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Option("missingkey=zero").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = required
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	// `helm template` has no cluster: lookup finds nothing.
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return f
}

// templateFiles lists templates/** relative to the chart, sorted.
func templateFiles(chartDir string) ([]string, error) {
	var files []string
	root := filepath.Join(chartDir, "templates")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(chartDir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// Go's "template: NAME:LINE:COL: executing ... error calling required: MSG"
// becomes helm's "execution error at (NAME:LINE:COL): MSG".
var execErrRe = regexp.MustCompile(`template: (\S+?:\d+:\d+): executing .* error calling (?:required|fail): (.*)`)

func cleanExecError(err error) error {
	if m := execErrRe.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("execution error at (%s): %s", m[1], m[2])
	}
	return err
}

func renderChart(chartDir, chartName string, top map[string]interface{}) ([]renderedFile, string, error) {
	files, err := templateFiles(chartDir)
	if err != nil {
		return nil, "", err
	}
	var set *template.Template
	set = template.New("chart").Option("missingkey=zero").Funcs(funcMap(&set))
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(chartDir, rel))
		if err != nil {
			return nil, "", err
		}
		if _, err := set.New(chartName + "/" + rel).Parse(string(b)); err != nil {
			return nil, "", fmt.Errorf("parse error in %s: %v", rel, err)
		}
	}
	var out []renderedFile
	notes := ""
	for _, rel := range files {
		if strings.HasPrefix(filepath.Base(rel), "_") {
			continue // partials: only through include/template
		}
		name := chartName + "/" + rel
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var buf strings.Builder
		if err := set.ExecuteTemplate(&buf, name, data); err != nil {
			return nil, "", cleanExecError(err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if rel == "templates/NOTES.txt" {
			notes = text
			continue
		}
		out = append(out, renderedFile{name: name, text: text})
	}
	return out, notes, nil
}
