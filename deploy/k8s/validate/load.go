// Loading of Kubernetes manifests, offline and strictly: every YAML document of a file is
// decoded into the Kubernetes API type its apiVersion and kind name (k8s.io/api), refusing any
// field that type does not have (misspelt or in the wrong place, compared case-sensitively, as
// the API server does), a duplicate key, or a value of the wrong type. No API server is needed.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// Object is one decoded manifest document.
type Object struct {
	File       string
	Line       int // line of the document's first line in File
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Obj        any // *appsv1.StatefulSet, *corev1.Service, ...
}

// Ref names the object in messages: "StatefulSet paxoskv/s1".
func (o *Object) Ref() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Problem is one finding: where (file, line of the document, object, field path) and what.
type Problem struct {
	File   string
	Line   int
	Object string // "StatefulSet paxoskv/s1", or "" before the object is known
	Field  string // "spec.template.spec.containers[0].resources.requests", or ""
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	if p.Object != "" {
		b.WriteString(p.Object + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// kinds are the types the validator knows, by kind: their one accepted apiVersion and a
// constructor. Anything else is refused (add it here, with checks, when the manifests need it).
var kinds = map[string]struct {
	apiVersion string
	newObj     func() any
}{
	"Namespace":           {"v1", func() any { return &corev1.Namespace{} }},
	"Service":             {"v1", func() any { return &corev1.Service{} }},
	"Secret":              {"v1", func() any { return &corev1.Secret{} }},
	"ConfigMap":           {"v1", func() any { return &corev1.ConfigMap{} }},
	"StatefulSet":         {"apps/v1", func() any { return &appsv1.StatefulSet{} }},
	"Deployment":          {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"PodDisruptionBudget": {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }},
}

var yamlLine = regexp.MustCompile(`line ([0-9]+)`)

// A line "---" (optionally followed by a comment or more text) starts a new YAML document.
var docSeparator = regexp.MustCompile(`^---(\s.*)?$`)

type document struct {
	line int
	text []byte
}

// splitDocuments cuts a multi-document YAML file at its "---" lines, remembering where each
// document starts. Documents that hold only comments and blank lines are dropped.
func splitDocuments(data []byte) []document {
	var docs []document
	lines := strings.SplitAfter(string(data), "\n")
	start, cur := 1, []string{}
	flush := func() {
		text := strings.Join(cur, "")
		for _, l := range cur {
			t := strings.TrimSpace(l)
			if t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, document{line: start, text: []byte(text)})
				break
			}
		}
	}
	for i, l := range lines {
		if docSeparator.MatchString(strings.TrimRight(l, "\r\n")) {
			flush()
			start, cur = i+2, nil
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return docs
}

// LoadFile reads and decodes every document of one file.
func LoadFile(path string) ([]*Object, []Problem) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []Problem{{File: path, Msg: err.Error()}}
	}
	var objs []*Object
	var problems []Problem
	docs := splitDocuments(data)
	if len(docs) == 0 {
		problems = append(problems, Problem{File: path, Line: 1, Msg: "no YAML document in the file"})
	}
	for _, d := range docs {
		obj, ps := decodeDocument(path, d)
		problems = append(problems, ps...)
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs, problems
}

func decodeDocument(path string, d document) (*Object, []Problem) {
	at := func(object, field, format string, args ...any) []Problem {
		return []Problem{{File: path, Line: d.line, Object: object, Field: field, Msg: fmt.Sprintf(format, args...)}}
	}
	// The document as a generic tree first: it must be a mapping with apiVersion and kind.
	jsonBytes, err := yaml.YAMLToJSONStrict(d.text)
	if err != nil {
		// The YAML parser counts lines from the document's start; say the file's line.
		msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
			n, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
			return fmt.Sprintf("line %d", n+d.line-1)
		})
		return nil, at("", "", "not valid YAML: %s", msg)
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(jsonBytes))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, at("", "", "not valid YAML: %v", err)
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, at("", "", "a manifest document must be a mapping with apiVersion and kind")
	}
	kind, _ := top["kind"].(string)
	apiVersion, _ := top["apiVersion"].(string)
	var name, namespace string
	if md, ok := top["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
		namespace, _ = md["namespace"].(string)
	}
	ref := strings.TrimSpace(kind + " " + strings.Trim(namespace+"/"+name, "/"))
	if kind == "" || apiVersion == "" {
		return nil, at(ref, "", "apiVersion and kind are required")
	}
	k, known := kinds[kind]
	if !known {
		var names []string
		for n := range kinds {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, at(ref, "kind", "kind %q is not one the validator knows (%s)", kind, strings.Join(names, ", "))
	}
	if apiVersion != k.apiVersion {
		return nil, at(ref, "apiVersion", "%s is %s, not %q", kind, k.apiVersion, apiVersion)
	}
	obj := k.newObj()
	// Unknown fields with their full path (the JSON decoder names only the key, and matches
	// keys case-insensitively, which the API server does not).
	var unknown []Problem
	for _, u := range unknownFields(tree, reflect.TypeOf(obj), "") {
		unknown = append(unknown, at(ref, u.path, "%s", u.msg)...)
	}
	if len(unknown) > 0 {
		return nil, unknown
	}
	// Then the strict decode proper: types of values, duplicate keys, unknown fields.
	if err := yaml.UnmarshalStrict(d.text, obj); err != nil {
		return nil, at(ref, "", "does not decode strictly into %s %s: %v", apiVersion, kind, err)
	}
	// UnmarshalStrict turns a YAML number or boolean into a string where the type wants one;
	// kubectl does not (prometheus.io/port: 9400 unquoted is refused), so neither do we.
	plain := json.NewDecoder(bytes.NewReader(jsonBytes))
	plain.DisallowUnknownFields()
	if err := plain.Decode(k.newObj()); err != nil {
		return nil, at(ref, "", "a value of the wrong type (quote numbers and booleans meant as strings): %v", err)
	}
	return &Object{File: path, Line: d.line, APIVersion: apiVersion, Kind: kind, Name: name, Namespace: namespace, Obj: obj}, nil
}

type unknownField struct{ path, msg string }

var jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// unknownFields walks the decoded YAML tree v along the Go type t (by its json tags) and
// returns every key t has no field for, with its path. Values of the wrong shape are left to
// the strict decoder; types that decode themselves (Quantity, IntOrString, Time) are leaves.
func unknownFields(v any, t reflect.Type, path string) []unknownField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || t.Implements(jsonUnmarshaler) {
		return nil
	}
	var out []unknownField
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				out = append(out, unknownField{joinPath(path, k), describeUnknown(k, fields)})
				continue
			}
			out = append(out, unknownFields(m[k], ft, joinPath(path, k))...)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, unknownFields(m[k], t.Elem(), mapPath(path, k))...)
		}
	case reflect.Slice, reflect.Array:
		s, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range s {
			out = append(out, unknownFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

// jsonFields maps the JSON names of a struct's fields to their types, with the fields of
// embedded structs (TypeMeta, ...) promoted as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, nt := range jsonFields(ft) {
					if _, taken := fields[n]; !taken {
						fields[n] = nt
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// describeUnknown says a key is unknown, naming the field it most likely meant.
func describeUnknown(key string, fields map[string]reflect.Type) string {
	best, bestDist := "", 3
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf("unknown field %q (field names are case-sensitive: %q)", key, name)
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(name)); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", key, best)
	}
	return fmt.Sprintf("unknown field %q", key)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// mapPath indexes a map value: labels.app, or annotations["prometheus.io/port"].
func mapPath(path, key string) string {
	if plainKey.MatchString(key) {
		return joinPath(path, key)
	}
	return fmt.Sprintf("%s[%q]", path, key)
}
