// Tests of the manifest validator: deploy/k8s's manifests pass; a small valid base set
// (testdata/base) passes and every broken variant of it is refused with a message naming the
// object and field (testdata/bad-*.yaml, and the edits in brokenEdits); make-secrets.sh makes
// exactly the Secrets the manifests mount, with certificates whose names match the pods' DNS
// names and roles.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

const manifestDir = ".."

func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", manifestDir, err)
	}
	return files
}

func mustPass(t *testing.T, files []string, opts Options) []*Object {
	t.Helper()
	objs, problems := Validate(files, opts)
	for _, p := range problems {
		t.Errorf("%s", p)
	}
	return objs
}

func TestManifestsPass(t *testing.T) {
	objs := mustPass(t, manifestFiles(t), Options{})
	byName := map[string]*Object{}
	for _, o := range objs {
		byName[o.Kind+"/"+o.Name] = o
	}
	// What issue 15 asks for is there: shards 1-3 and the configuration group as StatefulSets
	// of 3 with a headless Service, claims and a budget; masters as a Deployment of 2-3 behind a
	// Service, with a budget.
	for group, shard := range map[string]string{"s1": "1", "s2": "2", "s3": "3", "cfg": "100"} {
		o := byName["StatefulSet/"+group]
		if o == nil {
			t.Errorf("no StatefulSet %s", group)
			continue
		}
		sts := o.Obj.(*appsv1.StatefulSet)
		if *sts.Spec.Replicas != 3 || len(sts.Spec.VolumeClaimTemplates) == 0 {
			t.Errorf("StatefulSet %s: %d replicas, %d claim templates", group, *sts.Spec.Replicas, len(sts.Spec.VolumeClaimTemplates))
		}
		if got := shardID(sts); got != shard {
			t.Errorf("StatefulSet %s runs --shard_id=%q, want %s", group, got, shard)
		}
		if byName["Service/"+sts.Spec.ServiceName] == nil || byName["PodDisruptionBudget/"+group] == nil {
			t.Errorf("StatefulSet %s: no Service %s or no PodDisruptionBudget %s", group, sts.Spec.ServiceName, group)
		}
	}
	if o := byName["Deployment/master"]; o == nil {
		t.Errorf("no Deployment master")
	} else if n := *o.Obj.(*appsv1.Deployment).Spec.Replicas; n < 2 || n > 3 {
		t.Errorf("Deployment master has %d replicas, want 2 or 3", n)
	}
	if byName["Service/master"] == nil || byName["PodDisruptionBudget/master"] == nil {
		t.Errorf("no Service or PodDisruptionBudget master")
	}
	for _, o := range objs {
		if pdb, ok := o.Obj.(*policyv1.PodDisruptionBudget); ok && pdb.Spec.MinAvailable.IntVal != 2 {
			t.Errorf("%s: minAvailable %s, want 2 (of 3)", o.Ref(), pdb.Spec.MinAvailable.String())
		}
	}
}

var shardIDFlag = regexp.MustCompile(`--shard_id=([0-9]+)`)

func shardID(sts *appsv1.StatefulSet) string {
	for _, c := range sts.Spec.Template.Spec.Containers {
		if m := shardIDFlag.FindStringSubmatch(strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")); m != nil {
			return m[1]
		}
	}
	return ""
}

// baseSet copies testdata/base to a temporary folder, replacing the named base file's text,
// and returns the files.
func baseSet(t *testing.T, replace string, text []byte) []string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	found := replace == ""
	for _, name := range []string{"namespace.yaml", "cfg.yaml", "master.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "base", name))
		if err != nil {
			t.Fatal(err)
		}
		if "base/"+name == replace {
			data, found = text, true
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	if !found {
		t.Fatalf("no base file %q", replace)
	}
	return files
}

func TestBasePasses(t *testing.T) {
	mustPass(t, baseSet(t, "", nil), Options{})
}

func expectRefused(t *testing.T, files []string, wants []string) {
	t.Helper()
	_, problems := Validate(files, Options{})
	if len(problems) == 0 {
		t.Fatalf("accepted; want a refusal with %q", wants)
	}
	var lines []string
	for _, p := range problems {
		lines = append(lines, p.String())
	}
	all := strings.Join(lines, "\n")
	for _, want := range wants {
		if !strings.Contains(all, want) {
			t.Errorf("no problem says %q; the problems:\n%s", want, all)
		}
	}
	t.Logf("refused as expected:\n%s", all)
}

// TestBrokenFilesRefused: each testdata/bad-*.yaml says in its header which base file it
// replaces ("# replaces: base/cfg.yaml") and what the refusal must say ("# want: ...").
func TestBrokenFilesRefused(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad-*.yaml"))
	if len(files) < 3 {
		t.Fatalf("want at least 3 testdata/bad-*.yaml, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var replaces string
			var wants []string
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "# replaces: "); ok {
					replaces = strings.TrimSpace(v)
				}
				if v, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, strings.TrimSpace(v))
				}
			}
			if replaces == "" || len(wants) == 0 {
				t.Fatalf("%s: header has no '# replaces:' or no '# want:' line", f)
			}
			set := baseSet(t, replaces, data)
			// The broken file keeps its own name in the messages' place.
			for i, p := range set {
				if filepath.Base(p) == filepath.Base(replaces) {
					set[i] = f
				}
			}
			expectRefused(t, set, wants)
		})
	}
}

// brokenEdits: one edit of one base file each (old -> new; every occurrence when all is set,
// else old must occur exactly once) and what the refusal must say.
var brokenEdits = []struct {
	name, file, old, new string
	all                  bool
	want                 string
}{
	// Strict decoding.
	{"field name case", "base/master.yaml", "containerPort: 50051", "ContainerPort: 50051", false,
		`spec.template.spec.containers[0].ports[0].ContainerPort: unknown field "ContainerPort" (field names are case-sensitive: "containerPort")`},
	{"misplaced field", "base/master.yaml", "      containers:\n", "      replicas: 2\n      containers:\n", false,
		`spec.template.spec.replicas: unknown field "replicas"`},
	{"wrong value type", "base/cfg.yaml", "  replicas: 3\n", "  replicas: three\n", false, "does not decode strictly into apps/v1 StatefulSet"},
	{"unquoted annotation", "base/master.yaml", `prometheus.io/scrape: "true"`, "prometheus.io/scrape: true", false,
		"Deployment paxoskv/master: a value of the wrong type"},
	{"duplicate key", "base/cfg.yaml", "  serviceName: cfg\n", "  serviceName: cfg\n  serviceName: cfg\n", false, `"serviceName" already set`},
	{"unknown kind", "base/master.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", false,
		`kind: kind "PodDisruptionBudgets" is not one the validator knows`},
	{"old apiVersion", "base/cfg.yaml", "apiVersion: apps/v1", "apiVersion: apps/v1beta2", false, `apiVersion: StatefulSet is apps/v1, not "apps/v1beta2"`},
	// Names, namespaces.
	{"no namespace", "base/master.yaml", "  name: master\n  namespace: paxoskv\nspec:\n  replicas", "  name: master\nspec:\n  replicas", false,
		"Deployment master: metadata.namespace: missing"},
	{"undeclared namespace", "base/master.yaml", "namespace: paxoskv", "namespace: kv", true, `namespace "kv" is not declared by a Namespace object`},
	{"duplicate object", "base/namespace.yaml", "  name: paxoskv\n", "  name: paxoskv\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: paxoskv\n", false,
		"Namespace paxoskv: metadata.name: Namespace paxoskv is declared twice"},
	// Services.
	{"service selects nothing", "base/master.yaml", "    component: master\n  ports:", "    component: gateway\n  ports:", false,
		"Service paxoskv/master: spec.selector: app=paxoskv,component=gateway selects no workload's pods"},
	{"service target port", "base/master.yaml", "targetPort: 50051", "targetPort: 50052", false,
		"Service paxoskv/master: spec.ports[0].targetPort: 50052 is not a container port of Deployment paxoskv/master's pods"},
	{"service target port name", "base/cfg.yaml", "targetPort: grpc", "targetPort: gprc", false, "spec.ports[0].targetPort: gprc is not a container port"},
	{"not headless", "base/cfg.yaml", "  clusterIP: None\n", "", false, "spec.serviceName: Service cfg is not headless"},
	{"not ready addresses hidden", "base/cfg.yaml", "  publishNotReadyAddresses: true\n", "", false, "publishNotReadyAddresses: true"},
	{"no governing service", "base/cfg.yaml", "serviceName: cfg", "serviceName: cfg-peers", false,
		"spec.serviceName: names Service paxoskv/cfg-peers, which the manifests do not declare"},
	// Replicas and disruption budgets.
	{"even replicas", "base/cfg.yaml", "  replicas: 3\n", "  replicas: 4\n", false, "spec.replicas: a Paxos group has an odd number of replicas from 3 to 7 (is 4)"},
	{"too many replicas", "base/cfg.yaml", "  replicas: 3\n", "  replicas: 9\n", false, "(is 9)"},
	{"budget of all", "base/cfg.yaml", "minAvailable: 2", "minAvailable: 3", false, "spec.minAvailable: 3 of StatefulSet paxoskv/cfg's 3 replicas: no pod could ever be evicted"},
	{"budget percentage", "base/master.yaml", "minAvailable: 1", `minAvailable: "50%"`, false, `spec.minAvailable: "50%": give a number of pods, not a percentage`},
	{"no budget", "base/master.yaml", "  minAvailable: 1\n  selector:\n    matchLabels:\n      app: paxoskv\n      component: master\n",
		"  minAvailable: 1\n  selector:\n    matchLabels:\n      app: paxoskv\n      component: gateway\n", false,
		"Deployment paxoskv/master: no PodDisruptionBudget selects its pods"},
	{"single master", "base/master.yaml", "replicas: 2", "replicas: 1", false, "Deployment paxoskv/master: spec.replicas: at least 2 pods"},
	// Containers: probes, ports, resources, volumes.
	{"no liveness probe", "base/master.yaml", "          livenessProbe:\n            tcpSocket:\n              port: grpc\n", "", false,
		"spec.template.spec.containers[0].livenessProbe: missing"},
	{"probe port name", "base/master.yaml", "port: grpc", "port: grcp", false,
		"livenessProbe.tcpSocket.port: grcp is not a port of the container (it declares grpc=50051, metrics=9400)"},
	{"probe port number", "base/cfg.yaml", `"127.0.0.1:7000"]`, `"127.0.0.1:7001"]`, true, "readinessProbe.exec.command: dials port 7001, which is not a port of the container"},
	{"no cpu request", "base/master.yaml", "              cpu: 100m\n", "", false, "spec.template.spec.containers[0].resources.requests.cpu: missing"},
	{"init container without requests", "base/cfg.yaml", "            requests: {cpu: 10m, memory: 16Mi}\n", "            limits: {memory: 16Mi}\n", false,
		"spec.template.spec.initContainers[0].resources.requests.cpu: missing"},
	{"mount of no volume", "base/cfg.yaml", "            - name: data\n", "            - name: dta\n", false,
		`spec.template.spec.containers[0].volumeMounts[0].name: "dta" names no volume of the pod and no volumeClaimTemplate`},
	{"unmounted volume", "base/master.yaml", "      volumes:\n", "      volumes:\n        - name: spare\n          emptyDir: {}\n", false, `volume "spare" is mounted by no container`},
	{"duplicate port name", "base/master.yaml", "            - name: metrics\n", "            - name: grpc\n", false, `port name "grpc" is already used`},
	{"host path", "base/cfg.yaml", "          emptyDir:\n            medium: Memory\n", "          hostPath:\n            path: /etc/paxoskv\n", false, "hostPath volume"},
	{"host network", "base/master.yaml", "    spec:\n      containers:", "    spec:\n      hostNetwork: true\n      containers:", false, "hostNetwork, hostPID and hostIPC must be off"},
	{"metrics annotation", "base/master.yaml", `prometheus.io/port: "9400"`, `prometheus.io/port: "9401"`, false, "must be the metrics port 9400"},
	{"no metrics flag", "base/master.yaml", "            - --metrics_listen=0.0.0.0:9400\n", "", false, "the command has no --metrics_listen=0.0.0.0:9400"},
	{"listen port", "base/master.yaml", "--listen=0.0.0.0:50051", "--listen=0.0.0.0:50052", false, "--listen=0.0.0.0:50052: port 50052 is not a port of the container"},
	{"cert dir not mounted", "base/master.yaml", "--cert_dir=/etc/paxoskv/tls\n", "--cert_dir=/etc/paxoskv/certs\n", false,
		"--cert_dir=/etc/paxoskv/certs is not a folder the container mounts"},
	{"data not on a claim", "base/cfg.yaml", "--data_dir=/var/lib/paxoskv ", "--data_dir=/tmp/paxoskv ", false, "--data_dir=/tmp/paxoskv is not on a PersistentVolumeClaim"},
	// Secrets.
	{"secret outside the scheme", "base/master.yaml", "secretName: paxoskv-tls-master", "secretName: master-tls", false,
		`Secret "master-tls" is not declared in the manifests and does not follow make-secrets.sh's names`},
	{"secret of another group", "base/master.yaml", "secretName: paxoskv-tls-master", "secretName: paxoskv-tls-cfg-0", false,
		"a pod mounts only its own StatefulSet's pods' certificates"},
	{"secret of no pod", "base/cfg.yaml", "secretName: paxoskv-tls-cfg-2", "secretName: paxoskv-tls-cfg-3", false,
		`Secret "paxoskv-tls-cfg-3" names pod cfg-3, but StatefulSet cfg has 3 replicas`},
	{"committed key material", "base/namespace.yaml", "  name: paxoskv\n",
		"  name: paxoskv\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: paxoskv-tls-admin\n  namespace: paxoskv\ntype: kubernetes.io/tls\ndata:\n  tls.key: c2VjcmV0\n", false,
		"Secret paxoskv/paxoskv-tls-admin: data: a Secret with key material does not belong in the manifests"},
	// Addresses: pod DNS names of the manifests' own StatefulSets.
	{"peer on localhost", "base/cfg.yaml", "2=cfg-1.cfg.paxoskv.svc.cluster.local:7000", "2=127.0.0.1:7000", false,
		`--peers: "127.0.0.1" is not a pod DNS name <pod>.<service>.<namespace>.svc.cluster.local`},
	{"peer short name", "base/cfg.yaml", "2=cfg-1.cfg.paxoskv.svc.cluster.local:7000", "2=cfg-1:7000", false, `"cfg-1" is not a pod DNS name`},
	{"peer ids", "base/cfg.yaml", "1=cfg-0.cfg", "4=cfg-0.cfg", false, "--peers names cfg-0.cfg.paxoskv.svc.cluster.local:7000 replica 4, but pod cfg-0 is replica 1"},
	{"peers incomplete", "base/cfg.yaml", ",3=cfg-2.cfg.paxoskv.svc.cluster.local:7000", "", false, "--peers: names 2 of the 3 pods of StatefulSet cfg"},
	{"config group of no pod", "base/master.yaml", "cfg-2.cfg.paxoskv", "cfg-3.cfg.paxoskv", false, "StatefulSet cfg (service cfg) has no pod cfg-3 with 3 replicas"},
	{"config group shard id", "base/master.yaml", "--config_group=100=", "--config_group=101=", false, "--config_group names shard 101, but StatefulSet cfg runs --shard_id=100"},
	{"config group port", "base/master.yaml", "cfg-1.cfg.paxoskv.svc.cluster.local:7000", "cfg-1.cfg.paxoskv.svc.cluster.local:7100", false,
		`"cfg-1.cfg.paxoskv.svc.cluster.local:7100": port 7100 is not a container port of StatefulSet cfg`},
}

func TestBrokenEditsRefused(t *testing.T) {
	for _, e := range brokenEdits {
		t.Run(e.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", e.file))
			if err != nil {
				t.Fatal(err)
			}
			n := bytes.Count(data, []byte(e.old))
			if n == 0 || (!e.all && n != 1) {
				t.Fatalf("%q occurs %d times in %s", e.old, n, e.file)
			}
			edited := bytes.ReplaceAll(data, []byte(e.old), []byte(e.new))
			expectRefused(t, baseSet(t, e.file, edited), []string{e.want})
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{filepath.Join("testdata", "base")}, &out, &errOut); code != 0 {
		t.Errorf("run(testdata/base) = %d, want 0; output:\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "validate: OK: 3 file(s), 7 object(s)") {
		t.Errorf("no summary line: %s", out.String())
	}
	out.Reset()
	bad := []string{"testdata/base/namespace.yaml", "testdata/base/master.yaml", "testdata/bad-pdb-no-majority.yaml"}
	if code := run(bad, &out, &errOut); code != 1 {
		t.Errorf("run(bad) = %d, want 1", code)
	}
	if !strings.Contains(out.String(), "testdata/bad-pdb-no-majority.yaml:") || !strings.Contains(out.String(), "validate: FAILED: 1 problem(s)") {
		t.Errorf("the refusal does not name the file or count the problems:\n%s", out.String())
	}
	if code := run(nil, &out, &errOut); code != 2 {
		t.Errorf("run() = %d, want 2 (usage)", code)
	}
	if code := run([]string{"testdata/no-such.yaml"}, &out, &errOut); code != 2 {
		t.Errorf("run(missing file) = %d, want 2", code)
	}
}

// makeSecretNames runs make-secrets.sh --names.
func makeSecretNames(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(manifestDir, "make-secrets.sh"), "--names").Output()
	if err != nil {
		t.Fatalf("make-secrets.sh --names: %v", err)
	}
	return strings.Fields(string(out))
}

// TestMakeSecretsNamesTheMountedSecrets: the script creates every Secret a pod mounts, and
// nothing else but the applications' client certificate.
func TestMakeSecretsNamesTheMountedSecrets(t *testing.T) {
	objs := mustPass(t, manifestFiles(t), Options{})
	made := makeSecretNames(t)
	used := ReferencedSecrets(objs)
	for _, s := range used {
		if !slices.Contains(made, s) {
			t.Errorf("the manifests mount Secret %s, which make-secrets.sh does not make (it makes %v)", s, made)
		}
	}
	for _, s := range made {
		if !slices.Contains(used, s) && s != "paxoskv-tls-client" {
			t.Errorf("make-secrets.sh makes Secret %s, which no pod mounts", s)
		}
	}
}

// TestMakeSecretsCertificates runs make-secrets.sh (openssl, a few seconds) and checks its
// Secrets together with the manifests: each replica pod's certificate names its role
// replica:<shard>:<ordinal + 1> and the DNS name its peers and the masters dial, the masters'
// the Service name clients dial; all are signed by the CA in ca.crt and match their keys.
func TestMakeSecretsCertificates(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl not found (CI=true: it must be there; deploy/certs.sh needs it)")
		}
		t.Skip("openssl not found")
	}
	out := filepath.Join(t.TempDir(), "k8s-secrets")
	cmd := exec.Command("bash", filepath.Join(manifestDir, "make-secrets.sh"), out)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, output)
	}
	secretsFile := filepath.Join(out, "secrets.yaml")
	if info, err := os.Stat(secretsFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v (mode %v, want 0600)", secretsFile, err, info.Mode().Perm())
	}
	// Committed manifests refuse Secrets with data; make-secrets.sh's output is accepted with
	// the flag, and then every mounted Secret exists as an object.
	if _, problems := Validate(append(manifestFiles(t), secretsFile), Options{}); len(problems) == 0 {
		t.Errorf("Secrets with key material were accepted without -allow-secret-data")
	}
	objs := mustPass(t, append(manifestFiles(t), secretsFile), Options{AllowSecretData: true})

	statefulSets := map[string]*appsv1.StatefulSet{}
	secrets := map[string]*corev1.Secret{}
	for _, o := range objs {
		switch obj := o.Obj.(type) {
		case *appsv1.StatefulSet:
			statefulSets[o.Name] = obj
		case *corev1.Secret:
			secrets[o.Name] = obj
		}
	}
	for _, name := range ReferencedSecrets(objs) {
		if secrets[name] == nil {
			t.Errorf("a pod mounts Secret %s, which make-secrets.sh did not write", name)
		}
	}
	if len(secrets) != len(makeSecretNames(t)) {
		t.Errorf("secrets.yaml has %d Secrets, make-secrets.sh --names lists %d", len(secrets), len(makeSecretNames(t)))
	}
	for name, s := range secrets {
		var cn, dns string
		if m := podSecret.FindStringSubmatch(name); m != nil && !roleSecrets[name] {
			sts := statefulSets[m[1]]
			if sts == nil {
				t.Errorf("Secret %s: no StatefulSet %s", name, m[1])
				continue
			}
			var ordinal int
			fmt.Sscan(m[3], &ordinal)
			cn = fmt.Sprintf("replica:%s:%d", shardID(sts), ordinal+1)
			dns = fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", sts.Name, ordinal, sts.Spec.ServiceName, sts.Namespace)
		} else {
			cn = strings.TrimPrefix(name, secretPrefix)
			if cn == "master" {
				dns = "master.paxoskv.svc.cluster.local" // Service master (30-master.yaml)
			}
		}
		checkCertificate(t, name, s, cn, dns)
	}
}

func checkCertificate(t *testing.T, name string, s *corev1.Secret, cn, dns string) {
	t.Helper()
	if _, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"]); err != nil {
		t.Errorf("Secret %s: tls.crt and tls.key do not match: %v", name, err)
		return
	}
	block, _ := pem.Decode(s.Data["tls.crt"])
	if block == nil {
		t.Errorf("Secret %s: tls.crt is not PEM", name)
		return
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Errorf("Secret %s: %v", name, err)
		return
	}
	if cert.Subject.CommonName != cn {
		t.Errorf("Secret %s: CN %q, want %q", name, cert.Subject.CommonName, cn)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.Data["ca.crt"]) {
		t.Errorf("Secret %s: ca.crt holds no certificate", name)
		return
	}
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if dns != "" {
		opts.DNSName = dns
	}
	if _, err := cert.Verify(opts); err != nil {
		t.Errorf("Secret %s: does not verify as %q against its ca.crt: %v", name, dns, err)
	}
	if dns != "" && !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) }) {
		t.Errorf("Secret %s: no IP 127.0.0.1 (the health probes dial it)", name)
	}
}
