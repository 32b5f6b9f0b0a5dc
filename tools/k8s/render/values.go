// values.go - .Values: values.yaml, -f files and --set, merged with helm's
// rules, then checked against values.schema.json.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xeipuuv/gojsonschema"
	"gopkg.in/yaml.v3"
)

func readYAMLMap(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return normalizeNumbers(m).(map[string]interface{}), nil
}

// normalizeNumbers turns every integer into a float64, in place: helm
// reads YAML through JSON (sigs.k8s.io/yaml), so .Values and fromYaml
// results hold float64 numbers. Rendering with the same types keeps
// helm's pitfalls visible here: printf "%d" of a raw value, or 8388608
// printed as 8.388608e+06.
func normalizeNumbers(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return v
}

// coalesce merges src over dst in place, helm's way: two maps merge key by
// key, any other value replaces, and a null in src deletes the key.
func coalesce(dst, src map[string]interface{}) {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := sv.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			coalesce(dm, sm)
			continue
		}
		dst[k] = sv
	}
}

// parseSet turns "a.b.c=value" into {a: {b: {c: value}}}; the value is an
// int, a bool, null or else a string, as helm's --set guesses.
func parseSet(s string) (map[string]interface{}, error) {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return nil, fmt.Errorf("--set %q: want key.path=value", s)
	}
	keys := strings.Split(s[:eq], ".")
	raw := s[eq+1:]
	var val interface{} = raw
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		val = int(n)
	} else if raw == "true" || raw == "false" {
		val = raw == "true"
	} else if raw == "null" {
		val = nil
	}
	out := map[string]interface{}{}
	cur := out
	for i, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("--set %q: empty key", s)
		}
		if i == len(keys)-1 {
			cur[k] = val
		} else {
			next := map[string]interface{}{}
			cur[k] = next
			cur = next
		}
	}
	return out, nil
}

func loadValues(chartDir string, files, sets []string) (map[string]interface{}, error) {
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		m, err := readYAMLMap(f)
		if err != nil {
			return nil, err
		}
		coalesce(values, m)
	}
	for _, s := range sets {
		m, err := parseSet(s)
		if err != nil {
			return nil, err
		}
		coalesce(values, m)
	}
	return values, nil
}

// validateValues checks the merged values against values.schema.json when
// the chart has one, with helm's error wording, one line per violation
// naming the field ("menu.replicas: Must be greater than or equal to 0").
func validateValues(chartDir, chartName string, values map[string]interface{}) error {
	path := filepath.Join(chartDir, "values.schema.json")
	schema, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema),
		gojsonschema.NewGoLoader(values))
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if res.Valid() {
		return nil
	}
	var lines []string
	for _, e := range res.Errors() {
		lines = append(lines, fmt.Sprintf("- %s: %s", e.Field(), e.Description()))
	}
	sort.Strings(lines)
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s",
		chartName, strings.Join(lines, "\n"))
}
