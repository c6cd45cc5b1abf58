// validate: checks Kubernetes manifests offline (no API server, no kubectl). Every document is
// decoded strictly into its k8s.io/api type (load.go), then the set is checked as a whole
// (check.go). Prints one line per problem, "FILE:LINE: KIND NAMESPACE/NAME: FIELD: what", and
// exits 1 when there is any; 0 and a summary line when there is none; 2 on a usage error.
//
//	go run . [-allow-secret-data] [-cluster-domain=cluster.local] FILE.yaml|DIR...
//
// A DIR stands for its *.yaml and *.yml files (not its subfolders), as with kubectl apply -f DIR.
// deploy/k8s/validate/run.sh runs it over deploy/k8s (ctest k8s_manifests); README.md there.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Validate loads the files and checks them together; the semantic checks run only when every
// document decoded.
func Validate(paths []string, opts Options) ([]*Object, []Problem) {
	var objs []*Object
	var problems []Problem
	for _, p := range paths {
		o, ps := LoadFile(p)
		objs = append(objs, o...)
		problems = append(problems, ps...)
	}
	if len(problems) > 0 {
		// The checks below would only repeat the loss of what did not decode (a Service then
		// selects nothing, an address names no pod): fix the decoding first.
		return objs, problems
	}
	return objs, Check(objs, opts)
}

// expand replaces each directory argument by its YAML files.
func expand(args []string) ([]string, error) {
	var paths []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			paths = append(paths, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				found = append(found, filepath.Join(a, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml file in the folder", a)
		}
		sort.Strings(found)
		paths = append(paths, found...)
	}
	return paths, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts Options
	fs.BoolVar(&opts.AllowSecretData, "allow-secret-data", false,
		"accept Secrets that hold data (make-secrets.sh's output); the committed manifests must have none")
	fs.StringVar(&opts.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain (pod names end in .svc.DOMAIN)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: validate [-allow-secret-data] [-cluster-domain=cluster.local] FILE.yaml|DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	paths, err := expand(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "validate: %v\n", err)
		return 2
	}
	objs, problems := Validate(paths, opts)
	for _, p := range problems {
		fmt.Fprintln(stdout, p.String())
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "validate: FAILED: %d problem(s) in %d file(s)\n", len(problems), len(paths))
		return 1
	}
	counts := map[string]int{}
	for _, o := range objs {
		counts[o.Kind]++
	}
	var kinds []string
	for k, n := range counts {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	fmt.Fprintf(stdout, "validate: OK: %d file(s), %d object(s): %s\n", len(paths), len(objs), strings.Join(kinds, ", "))
	return 0
}
