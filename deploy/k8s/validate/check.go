// Semantic checks of a set of decoded manifests (load.go), the ones an API server would not
// make or would make only once objects meet at run time: selectors that match, Services that
// exist, ports and volumes that are named, Secrets that follow make-secrets.sh's scheme,
// disruption budgets that keep a Paxos majority, addresses that are pod DNS names of the
// manifests' own StatefulSets (nothing may assume one host), probes, resource requests.
package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Options of a validation run.
type Options struct {
	// AllowSecretData accepts Secrets that hold data: make-secrets.sh's output. The committed
	// manifests must hold no key material, so by default such a Secret is refused.
	AllowSecretData bool
	// ClusterDomain is the DNS domain of the cluster's Services (pod DNS names end in
	// .<namespace>.svc.<ClusterDomain>).
	ClusterDomain string
}

// The Secrets make-secrets.sh creates: paxoskv-tls-<group>-<ordinal> for a replica pod and
// these, one per role.
const secretPrefix = "paxoskv-tls-"

var roleSecrets = map[string]bool{"paxoskv-tls-master": true, "paxoskv-tls-admin": true, "paxoskv-tls-client": true}

var podSecret = regexp.MustCompile(`^paxoskv-tls-([a-z0-9]([-a-z0-9]*[a-z0-9])?)-([0-9]+)$`)

// The files a kubernetes.io/tls Secret of ours holds (the binaries' --cert_dir layout).
var tlsSecretKeys = []string{"ca.crt", "tls.crt", "tls.key"}

// A Deployment or StatefulSet, seen the same way.
type workload struct {
	obj         *Object
	stateful    bool
	replicas    *int32
	selector    *metav1.LabelSelector
	template    *corev1.PodTemplateSpec
	claims      []corev1.PersistentVolumeClaim
	serviceName string
	shardID     string // --shard_id of a StatefulSet's replica container
	flags       []flagUse
}

func (w *workload) n() int {
	if w.replicas == nil {
		return 1
	}
	return int(*w.replicas)
}

// podName is the name of a StatefulSet's pod: <name>-<ordinal>.
func (w *workload) podName(ordinal int) string { return fmt.Sprintf("%s-%d", w.obj.Name, ordinal) }

// flagUse is one --name=value of a container's command line.
type flagUse struct {
	container *corev1.Container
	field     string // the container's path
	name      string
	value     string
}

type checker struct {
	opts      Options
	objs      []*Object
	problems  []Problem
	workloads []*workload
	services  []*Object
}

func (c *checker) add(o *Object, field, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: o.File, Line: o.Line, Object: o.Ref(), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Check runs every semantic check over the objects and returns what it found.
func Check(objs []*Object, opts Options) []Problem {
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	c := &checker{opts: opts, objs: objs}
	c.checkIdentity()
	for _, o := range objs {
		switch obj := o.Obj.(type) {
		case *appsv1.StatefulSet:
			c.workloads = append(c.workloads, &workload{obj: o, stateful: true, replicas: obj.Spec.Replicas,
				selector: obj.Spec.Selector, template: &obj.Spec.Template, claims: obj.Spec.VolumeClaimTemplates,
				serviceName: obj.Spec.ServiceName})
		case *appsv1.Deployment:
			c.workloads = append(c.workloads, &workload{obj: o, replicas: obj.Spec.Replicas,
				selector: obj.Spec.Selector, template: &obj.Spec.Template})
		case *corev1.Service:
			c.services = append(c.services, o)
		}
	}
	for _, w := range c.workloads {
		c.checkWorkload(w)
	}
	for _, w := range c.workloads {
		c.checkAddresses(w)
	}
	for _, o := range objs {
		switch obj := o.Obj.(type) {
		case *corev1.Service:
			c.checkService(o, obj)
		case *policyv1.PodDisruptionBudget:
			c.checkPDB(o, obj)
		case *corev1.Secret:
			c.checkSecret(o, obj)
		}
	}
	c.checkEveryWorkloadHasPDB()
	return c.problems
}

// ---- every object: names, namespaces, duplicates -------------------------------------------

func (c *checker) checkIdentity() {
	namespaces := map[string]bool{}
	for _, o := range c.objs {
		if o.Kind == "Namespace" {
			namespaces[o.Name] = true
		}
	}
	seen := map[string]*Object{}
	for _, o := range c.objs {
		if o.Name == "" {
			c.add(o, "metadata.name", "missing")
		}
		if o.Kind == "Namespace" {
			if o.Namespace != "" {
				c.add(o, "metadata.namespace", "a Namespace has no namespace")
			}
		} else if o.Namespace == "" {
			c.add(o, "metadata.namespace", "missing: every object names its namespace (nothing depends on kubectl's current context)")
		} else if !namespaces[o.Namespace] {
			c.add(o, "metadata.namespace", "namespace %q is not declared by a Namespace object in the manifests", o.Namespace)
		}
		key := o.Kind + "/" + o.Namespace + "/" + o.Name
		if first, dup := seen[key]; dup {
			c.add(o, "metadata.name", "%s is declared twice (first at %s:%d)", o.Ref(), first.File, first.Line)
		} else {
			seen[key] = o
		}
	}
}

// ---- workloads ---------------------------------------------------------------------------------

func selectorOf(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		return nil, fmt.Errorf("missing or empty (it would select every pod of the namespace)")
	}
	return metav1.LabelSelectorAsSelector(ls)
}

func (c *checker) checkWorkload(w *workload) {
	o := w.obj
	if w.replicas == nil {
		c.add(o, "spec.replicas", "missing: set the number of replicas explicitly")
	}
	sel, err := selectorOf(w.selector)
	if err != nil {
		c.add(o, "spec.selector", "%v", err)
	} else if !sel.Matches(labels.Set(w.template.Labels)) {
		c.add(o, "spec.selector", "%q does not match the pod template's labels (spec.template.metadata.labels: %v)",
			sel.String(), labels.Set(w.template.Labels))
	}
	if w.stateful {
		if w.replicas != nil {
			if n := w.n(); n%2 == 0 || n < 3 || n > 7 {
				c.add(o, "spec.replicas", "a Paxos group has an odd number of replicas from 3 to 7 (is %d)", n)
			}
		}
		c.checkGoverningService(w)
		for i, claim := range w.claims {
			field := fmt.Sprintf("spec.volumeClaimTemplates[%d]", i)
			if claim.Name == "" {
				c.add(o, field+".metadata.name", "missing")
			}
			if len(claim.Spec.AccessModes) == 0 {
				c.add(o, field+".spec.accessModes", "missing")
			}
			if _, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				c.add(o, field+".spec.resources.requests.storage", "missing: how large a volume to claim")
			}
		}
	} else if w.replicas != nil && w.n() < 2 {
		c.add(o, "spec.replicas", "at least 2 pods, so that one can go (a rollout, a node drain) while another serves (is %d)", w.n())
	}
	c.checkPodSpec(w)
}

// checkGoverningService: spec.serviceName names a headless Service that selects the pods and
// publishes them before they are ready (peers must resolve each other while they start).
func (c *checker) checkGoverningService(w *workload) {
	o := w.obj
	if w.serviceName == "" {
		c.add(o, "spec.serviceName", "missing: a headless Service gives the pods their DNS names")
		return
	}
	svcObj := c.findService(o.Namespace, w.serviceName)
	if svcObj == nil {
		c.add(o, "spec.serviceName", "names Service %s/%s, which the manifests do not declare", o.Namespace, w.serviceName)
		return
	}
	svc := svcObj.Obj.(*corev1.Service)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		c.add(o, "spec.serviceName", "Service %s is not headless (%s:%d: spec.clusterIP must be None, is %q)",
			w.serviceName, svcObj.File, svcObj.Line, svc.Spec.ClusterIP)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		c.add(o, "spec.serviceName", "Service %s must set spec.publishNotReadyAddresses: true (%s:%d): replicas dial their peers before they are Ready",
			w.serviceName, svcObj.File, svcObj.Line)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
		c.add(o, "spec.serviceName", "Service %s's selector %v does not select this StatefulSet's pods (labels %v)",
			w.serviceName, labels.Set(svc.Spec.Selector), labels.Set(w.template.Labels))
	}
}

func (c *checker) findService(namespace, name string) *Object {
	for _, s := range c.services {
		if s.Namespace == namespace && s.Name == name {
			return s
		}
	}
	return nil
}

var ianaSvcName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// flagPattern finds --name=value on a command line or in a shell script (values without
// spaces or quotes: the ones checked here are literal).
var flagPattern = regexp.MustCompile(`--([a-z_]+)=([^\s"'\\]+)`)

func (c *checker) checkPodSpec(w *workload) {
	o := w.obj
	spec := &w.template.Spec
	const p = "spec.template.spec"
	// Nothing may assume one host.
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		c.add(o, p, "hostNetwork, hostPID and hostIPC must be off")
	}
	if spec.NodeName != "" {
		c.add(o, p+".nodeName", "pins the pods to one node; let the scheduler place them")
	}
	// Volumes: names unique; each mounted somewhere; backed by Secrets that exist or follow the scheme.
	volumes := map[string]*corev1.Volume{}
	claimNames := map[string]bool{}
	for i := range w.claims {
		claimNames[w.claims[i].Name] = true
	}
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		field := fmt.Sprintf("%s.volumes[%d]", p, i)
		if volumes[v.Name] != nil || claimNames[v.Name] {
			c.add(o, field+".name", "volume %q is declared twice", v.Name)
		}
		volumes[v.Name] = v
		if v.HostPath != nil {
			c.add(o, field+".hostPath", "a hostPath volume ties the data to one node; use a volumeClaimTemplate or a Secret")
		}
		if v.Secret != nil {
			c.checkSecretRef(w, v.Secret.SecretName, field+".secret.secretName")
			for j, item := range v.Secret.Items {
				c.checkSecretKey(w, v.Secret.SecretName, item.Key, fmt.Sprintf("%s.secret.items[%d].key", field, j))
			}
		}
		if v.Projected != nil {
			for j, src := range v.Projected.Sources {
				if src.Secret != nil {
					c.checkSecretRef(w, src.Secret.Name, fmt.Sprintf("%s.projected.sources[%d].secret.name", field, j))
				}
			}
		}
		if v.ConfigMap != nil && (v.ConfigMap.Optional == nil || !*v.ConfigMap.Optional) && c.find("ConfigMap", o.Namespace, v.ConfigMap.Name) == nil {
			c.add(o, field+".configMap.name", "ConfigMap %q is not declared in the manifests", v.ConfigMap.Name)
		}
	}
	used := map[string]bool{}
	portNames := map[string]string{}
	type group struct {
		list []corev1.Container
		path string
		main bool
	}
	for _, g := range []group{{spec.InitContainers, p + ".initContainers", false}, {spec.Containers, p + ".containers", true}} {
		for i := range g.list {
			ct := &g.list[i]
			field := fmt.Sprintf("%s[%d]", g.path, i)
			if ct.Image == "" {
				c.add(o, field+".image", "missing")
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := ct.Resources.Requests[r]; !ok {
					c.add(o, field+".resources.requests."+string(r), "missing: every container requests CPU and memory (the scheduler places pods by them)")
				}
			}
			mountPaths := map[string]bool{}
			for j, m := range ct.VolumeMounts {
				mfield := fmt.Sprintf("%s.volumeMounts[%d]", field, j)
				if volumes[m.Name] == nil && !claimNames[m.Name] {
					c.add(o, mfield+".name", "%q names no volume of the pod and no volumeClaimTemplate", m.Name)
				}
				used[m.Name] = true
				if mountPaths[m.MountPath] {
					c.add(o, mfield+".mountPath", "%s is mounted twice in this container", m.MountPath)
				}
				mountPaths[m.MountPath] = true
			}
			for j, port := range ct.Ports {
				pfield := fmt.Sprintf("%s.ports[%d]", field, j)
				if port.HostPort != 0 {
					c.add(o, pfield+".hostPort", "a host port ties the pod to one node's port; use a Service")
				}
				if port.ContainerPort < 1 || port.ContainerPort > 65535 {
					c.add(o, pfield+".containerPort", "not a port number: %d", port.ContainerPort)
				}
				if port.Name != "" {
					if len(port.Name) > 15 || !ianaSvcName.MatchString(port.Name) || strings.Contains(port.Name, "--") ||
						!strings.ContainsAny(port.Name, "abcdefghijklmnopqrstuvwxyz") {
						c.add(o, pfield+".name", "%q is not a valid port name (at most 15 of a-z, 0-9 and '-', with a letter)", port.Name)
					}
					if other, dup := portNames[port.Name]; dup {
						c.add(o, pfield+".name", "port name %q is already used by %s", port.Name, other)
					}
					portNames[port.Name] = field
				}
			}
			for j, e := range ct.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					c.checkSecretRef(w, e.ValueFrom.SecretKeyRef.Name, fmt.Sprintf("%s.env[%d].valueFrom.secretKeyRef.name", field, j))
				}
				if e.Name == "PAXOSKV_CERT_DIR" && !underMount(ct, e.Value) {
					c.add(o, fmt.Sprintf("%s.env[%d].value", field, j), "PAXOSKV_CERT_DIR=%s is not a folder the container mounts", e.Value)
				}
			}
			for j, e := range ct.EnvFrom {
				if e.SecretRef != nil {
					c.checkSecretRef(w, e.SecretRef.Name, fmt.Sprintf("%s.envFrom[%d].secretRef.name", field, j))
				}
			}
			if g.main {
				c.checkProbes(w, ct, field)
				c.checkMetrics(w, ct, field)
			} else if ct.LivenessProbe != nil || ct.ReadinessProbe != nil || ct.StartupProbe != nil {
				c.add(o, field, "an init container takes no probes")
			}
			c.checkFlags(w, ct, field)
		}
	}
	for i := range spec.Volumes {
		if !used[spec.Volumes[i].Name] {
			c.add(o, fmt.Sprintf("%s.volumes[%d]", p, i), "volume %q is mounted by no container", spec.Volumes[i].Name)
		}
	}
	for i, claim := range w.claims {
		if claim.Name != "" && !used[claim.Name] {
			c.add(o, fmt.Sprintf("spec.volumeClaimTemplates[%d]", i), "claim %q is mounted by no container", claim.Name)
		}
	}
	if len(spec.Containers) == 0 {
		c.add(o, p+".containers", "missing")
	}
}

func (c *checker) find(kind, namespace, name string) *Object {
	for _, o := range c.objs {
		if o.Kind == kind && o.Namespace == namespace && o.Name == name {
			return o
		}
	}
	return nil
}

// containerPort finds a container's port by name or number.
func containerPort(ct *corev1.Container, port intstr.IntOrString) *corev1.ContainerPort {
	for i := range ct.Ports {
		if (port.Type == intstr.String && ct.Ports[i].Name == port.StrVal) ||
			(port.Type == intstr.Int && ct.Ports[i].ContainerPort == port.IntVal) {
			return &ct.Ports[i]
		}
	}
	return nil
}

// underMount: path is a mount path of the container, or inside one.
func underMount(ct *corev1.Container, path string) bool {
	return mountOf(ct, path) != nil
}

func mountOf(ct *corev1.Container, path string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i := range ct.VolumeMounts {
		m := &ct.VolumeMounts[i]
		mp := strings.TrimRight(m.MountPath, "/")
		if path == mp || strings.HasPrefix(path, mp+"/") {
			if best == nil || len(mp) > len(strings.TrimRight(best.MountPath, "/")) {
				best = m
			}
		}
	}
	return best
}

// localAddress finds 127.0.0.1:PORT or localhost:PORT in a probe's command.
var localAddress = regexp.MustCompile(`^(127\.0\.0\.1|localhost|\[::1\]):([0-9]+)$`)

// checkProbes: a long-running container has a readiness and a liveness probe, and what they
// dial is one of its ports.
func (c *checker) checkProbes(w *workload, ct *corev1.Container, field string) {
	o := w.obj
	probes := []struct {
		name     string
		probe    *corev1.Probe
		required bool
	}{{"readinessProbe", ct.ReadinessProbe, true}, {"livenessProbe", ct.LivenessProbe, true}, {"startupProbe", ct.StartupProbe, false}}
	for _, pr := range probes {
		pfield := field + "." + pr.name
		if pr.probe == nil {
			if pr.required {
				c.add(o, pfield, "missing: every long-running container has a readiness and a liveness probe")
			}
			continue
		}
		h := pr.probe.ProbeHandler
		switch {
		case h.Exec != nil:
			if len(h.Exec.Command) == 0 {
				c.add(o, pfield+".exec.command", "empty")
			}
			for _, arg := range h.Exec.Command {
				if m := localAddress.FindStringSubmatch(arg); m != nil {
					n, _ := strconv.Atoi(m[2])
					if containerPort(ct, intstr.FromInt32(int32(n))) == nil {
						c.add(o, pfield+".exec.command", "dials port %d, which is not a port of the container (%s)", n, portList(ct))
					}
				}
				if dir, ok := strings.CutPrefix(arg, "--cert_dir="); ok && !underMount(ct, dir) {
					c.add(o, pfield+".exec.command", "--cert_dir=%s is not a folder the container mounts", dir)
				}
			}
		case h.HTTPGet != nil:
			c.checkProbePort(o, ct, pfield+".httpGet.port", h.HTTPGet.Port)
		case h.TCPSocket != nil:
			c.checkProbePort(o, ct, pfield+".tcpSocket.port", h.TCPSocket.Port)
		case h.GRPC != nil:
			c.checkProbePort(o, ct, pfield+".grpc.port", intstr.FromInt32(h.GRPC.Port))
		default:
			c.add(o, pfield, "has no handler (exec, httpGet, tcpSocket or grpc)")
		}
	}
}

func (c *checker) checkProbePort(o *Object, ct *corev1.Container, field string, port intstr.IntOrString) {
	if containerPort(ct, port) == nil {
		c.add(o, field, "%s is not a port of the container (%s)", port.String(), portList(ct))
	}
}

func portList(ct *corev1.Container) string {
	var ports []string
	for _, p := range ct.Ports {
		ports = append(ports, fmt.Sprintf("%s=%d", p.Name, p.ContainerPort))
	}
	if len(ports) == 0 {
		return "it declares none"
	}
	return "it declares " + strings.Join(ports, ", ")
}

// checkMetrics: every process serves Prometheus metrics on a port named metrics, which the
// pod's prometheus.io annotations name.
func (c *checker) checkMetrics(w *workload, ct *corev1.Container, field string) {
	o := w.obj
	metrics := containerPort(ct, intstr.FromString("metrics"))
	if metrics == nil {
		c.add(o, field+".ports", "no port named metrics (Prometheus /metrics, --metrics_listen)")
		return
	}
	ann := w.template.Annotations
	if ann["prometheus.io/scrape"] != "true" {
		c.add(o, `spec.template.metadata.annotations["prometheus.io/scrape"]`, `must be "true" (is %q)`, ann["prometheus.io/scrape"])
	}
	if want := strconv.Itoa(int(metrics.ContainerPort)); ann["prometheus.io/port"] != want {
		c.add(o, `spec.template.metadata.annotations["prometheus.io/port"]`, "must be the metrics port %s (is %q)", want, ann["prometheus.io/port"])
	}
	found := false
	for _, f := range commandFlags(ct) {
		if f.name == "metrics_listen" {
			found = true
			if _, port, ok := strings.Cut(f.value, ":"); !ok || port != strconv.Itoa(int(metrics.ContainerPort)) {
				c.add(o, field, "--metrics_listen=%s does not listen on the metrics port %d", f.value, metrics.ContainerPort)
			}
		}
	}
	if !found {
		c.add(o, field, "the command has no --metrics_listen=0.0.0.0:%d for its metrics port", metrics.ContainerPort)
	}
}

func commandFlags(ct *corev1.Container) []flagUse {
	var out []flagUse
	for _, m := range flagPattern.FindAllStringSubmatch(strings.Join(append(append([]string{}, ct.Command...), ct.Args...), " "), -1) {
		out = append(out, flagUse{container: ct, name: m[1], value: m[2]})
	}
	return out
}

// checkFlags: the ports, folders and data directory the command line names exist in the pod.
// Addresses of other pods (--peers, --shards, --config_group) are checked by checkAddresses.
func (c *checker) checkFlags(w *workload, ct *corev1.Container, field string) {
	o := w.obj
	claimNames := map[string]bool{}
	for _, claim := range w.claims {
		claimNames[claim.Name] = true
	}
	for _, f := range commandFlags(ct) {
		f.field = field
		switch f.name {
		case "listen":
			_, port, ok := strings.Cut(f.value, ":")
			n, err := strconv.Atoi(port)
			if !ok || err != nil {
				c.add(o, field, "--listen=%s is not HOST:PORT", f.value)
			} else if containerPort(ct, intstr.FromInt32(int32(n))) == nil {
				c.add(o, field+".ports", "--listen=%s: port %d is not a port of the container (%s)", f.value, n, portList(ct))
			}
		case "cert_dir":
			if !underMount(ct, f.value) {
				c.add(o, field, "--cert_dir=%s is not a folder the container mounts", f.value)
			}
		case "data_dir":
			if m := mountOf(ct, f.value); m == nil || !claimNames[m.Name] {
				c.add(o, field, "--data_dir=%s is not on a PersistentVolumeClaim (a volumeClaimTemplate mounted in the container): data must outlive the pod and its node", f.value)
			}
		case "shard_id":
			if w.stateful {
				if w.shardID != "" && w.shardID != f.value {
					c.add(o, field, "--shard_id=%s, but another container says %s", f.value, w.shardID)
				}
				w.shardID = f.value
			}
		case "peers", "shards", "config_group":
			w.flags = append(w.flags, f)
		}
	}
}

// ---- addresses: pod DNS names of the manifests' StatefulSets ---------------------------------

// resolve maps HOST:PORT to a StatefulSet pod: HOST must be <pod>.<service>.<namespace>.svc.<domain>.
func (c *checker) resolve(addr string) (*workload, int, error) {
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		return nil, 0, fmt.Errorf("%q is not HOST:PORT", addr)
	}
	suffix := ".svc." + c.opts.ClusterDomain
	parts := strings.Split(strings.TrimSuffix(host, suffix), ".")
	if !strings.HasSuffix(host, suffix) || len(parts) != 3 {
		return nil, 0, fmt.Errorf("%q is not a pod DNS name <pod>.<service>.<namespace>%s (nothing may assume one host: no IP addresses, no localhost, no short names)", host, suffix)
	}
	pod, service, namespace := parts[0], parts[1], parts[2]
	for _, w := range c.workloads {
		if !w.stateful || w.obj.Namespace != namespace || w.serviceName != service {
			continue
		}
		for i := 0; i < w.n(); i++ {
			if w.podName(i) != pod {
				continue
			}
			n, err := strconv.Atoi(port)
			if err != nil {
				return nil, 0, fmt.Errorf("%q: port %q is not a number", addr, port)
			}
			for ci := range w.template.Spec.Containers {
				if containerPort(&w.template.Spec.Containers[ci], intstr.FromInt32(int32(n))) != nil {
					return w, i, nil
				}
			}
			return nil, 0, fmt.Errorf("%q: port %d is not a container port of StatefulSet %s", addr, n, w.obj.Name)
		}
		return nil, 0, fmt.Errorf("%q: StatefulSet %s (service %s) has no pod %s with %d replicas", addr, w.obj.Name, service, pod, w.n())
	}
	return nil, 0, fmt.Errorf("%q: no StatefulSet in namespace %s has service %s", addr, namespace, service)
}

// groupAddresses checks that a list of addresses is the whole of one StatefulSet, each pod once.
func (c *checker) groupAddresses(addrs []string) (*workload, error) {
	var group *workload
	seen := map[int]bool{}
	for _, a := range addrs {
		w, ordinal, err := c.resolve(a)
		if err != nil {
			return nil, err
		}
		if group != nil && w != group {
			return nil, fmt.Errorf("%q is a pod of StatefulSet %s, the others of %s", a, w.obj.Name, group.obj.Name)
		}
		group = w
		if seen[ordinal] {
			return nil, fmt.Errorf("%q is named twice", a)
		}
		seen[ordinal] = true
	}
	if group == nil {
		return nil, fmt.Errorf("no address")
	}
	if len(seen) != group.n() {
		return nil, fmt.Errorf("names %d of the %d pods of StatefulSet %s", len(seen), group.n(), group.obj.Name)
	}
	return group, nil
}

func (c *checker) checkAddresses(w *workload) {
	o := w.obj
	for _, f := range w.flags {
		switch f.name {
		case "peers":
			// 1=addr,2=addr,...: the StatefulSet's own pods, replica id = ordinal + 1.
			if !w.stateful {
				c.add(o, f.field, "--peers in a %s: replica groups are StatefulSets", o.Kind)
				continue
			}
			var addrs []string
			for _, entry := range strings.Split(f.value, ",") {
				id, addr, ok := strings.Cut(entry, "=")
				if !ok {
					c.add(o, f.field, "--peers entry %q is not ID=HOST:PORT", entry)
					continue
				}
				addrs = append(addrs, addr)
				if gw, ordinal, err := c.resolve(addr); err == nil && gw == w && strconv.Itoa(ordinal+1) != id {
					c.add(o, f.field, "--peers names %s replica %s, but pod %s is replica %d (ordinal + 1)", addr, id, w.podName(ordinal), ordinal+1)
				}
			}
			if g, err := c.groupAddresses(addrs); err != nil {
				c.add(o, f.field, "--peers: %v", err)
			} else if g != w {
				c.add(o, f.field, "--peers names the pods of StatefulSet %s, not this one's", g.obj.Name)
			}
		case "shards", "config_group":
			// S=addr,addr,...[;S=...]: every pod of the StatefulSet whose --shard_id is S.
			for _, entry := range strings.Split(f.value, ";") {
				id, list, ok := strings.Cut(entry, "=")
				if !ok {
					c.add(o, f.field, "--%s entry %q is not ID=HOST:PORT,...", f.name, entry)
					continue
				}
				g, err := c.groupAddresses(strings.Split(list, ","))
				if err != nil {
					c.add(o, f.field, "--%s shard %s: %v", f.name, id, err)
				} else if g.shardID != id {
					c.add(o, f.field, "--%s names shard %s, but StatefulSet %s runs --shard_id=%s", f.name, id, g.obj.Name, g.shardID)
				}
			}
		}
	}
}

// ---- Secrets -----------------------------------------------------------------------------------

// checkSecretRef: a Secret a pod uses is declared in the inputs, or is one make-secrets.sh
// creates: a role's (master, admin, client) or a pod's of this very StatefulSet (a pod never
// holds another group's keys).
func (c *checker) checkSecretRef(w *workload, name, field string) {
	o := w.obj
	if name == "" {
		c.add(o, field, "missing")
		return
	}
	if c.find("Secret", o.Namespace, name) != nil || roleSecrets[name] {
		return
	}
	m := podSecret.FindStringSubmatch(name)
	if m == nil {
		c.add(o, field, "Secret %q is not declared in the manifests and does not follow make-secrets.sh's names (paxoskv-tls-<pod>, paxoskv-tls-master, paxoskv-tls-admin, paxoskv-tls-client)", name)
		return
	}
	group, ordinal := m[1], m[3]
	n, _ := strconv.Atoi(ordinal)
	if !w.stateful || group != o.Name {
		c.add(o, field, "Secret %q is the certificate of pod %s-%s; a pod mounts only its own StatefulSet's pods' certificates", name, group, ordinal)
		return
	}
	if n >= w.n() {
		c.add(o, field, "Secret %q names pod %s-%d, but StatefulSet %s has %d replicas", name, group, n, o.Name, w.n())
	}
}

func (c *checker) checkSecretKey(w *workload, name, key, field string) {
	if strings.HasPrefix(name, secretPrefix) && !contains(tlsSecretKeys, key) {
		c.add(w.obj, field, "Secret %q holds only %s", name, strings.Join(tlsSecretKeys, ", "))
	}
}

func (c *checker) checkSecret(o *Object, s *corev1.Secret) {
	if len(s.Data)+len(s.StringData) == 0 {
		return
	}
	if !c.opts.AllowSecretData {
		c.add(o, "data", "a Secret with key material does not belong in the manifests: make-secrets.sh writes the Secrets outside the repository")
		return
	}
	if strings.HasPrefix(o.Name, secretPrefix) {
		if s.Type != corev1.SecretTypeTLS {
			c.add(o, "type", "must be %s (is %q)", corev1.SecretTypeTLS, s.Type)
		}
		for _, k := range tlsSecretKeys {
			if _, ok := s.Data[k]; !ok {
				c.add(o, "data", "has no %s", k)
			}
		}
	}
}

// ---- Services ------------------------------------------------------------------------------------

// checkService: the selector selects some workload's pods, and every port's targetPort is a
// container port of each of them (by name or number).
func (c *checker) checkService(o *Object, svc *corev1.Service) {
	if len(svc.Spec.Selector) == 0 {
		c.add(o, "spec.selector", "missing: the Service would have no endpoints")
		return
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var matched []*workload
	for _, w := range c.workloads {
		if w.obj.Namespace == o.Namespace && sel.Matches(labels.Set(w.template.Labels)) {
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		c.add(o, "spec.selector", "%v selects no workload's pods (%s)", labels.Set(svc.Spec.Selector), c.workloadLabels(o.Namespace))
		return
	}
	if len(svc.Spec.Ports) == 0 {
		c.add(o, "spec.ports", "missing")
	}
	names := map[string]bool{}
	for i, port := range svc.Spec.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		if len(svc.Spec.Ports) > 1 && port.Name == "" {
			c.add(o, field+".name", "missing: a Service with several ports names each")
		}
		if names[port.Name] {
			c.add(o, field+".name", "%q is used twice", port.Name)
		}
		names[port.Name] = true
		target := port.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(port.Port)
		}
		for _, w := range matched {
			found := false
			for ci := range w.template.Spec.Containers {
				if containerPort(&w.template.Spec.Containers[ci], target) != nil {
					found = true
				}
			}
			if !found {
				c.add(o, field+".targetPort", "%s is not a container port of %s's pods", target.String(), w.obj.Ref())
			}
		}
	}
}

func (c *checker) workloadLabels(namespace string) string {
	var out []string
	for _, w := range c.workloads {
		if w.obj.Namespace == namespace {
			out = append(out, fmt.Sprintf("%s %s has %v", w.obj.Kind, w.obj.Name, labels.Set(w.template.Labels)))
		}
	}
	if len(out) == 0 {
		return "the namespace has no workloads"
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// ---- PodDisruptionBudgets --------------------------------------------------------------------------

// checkPDB: the budget selects exactly one workload's pods and keeps minAvailable of them:
// for a Paxos group (StatefulSet) a majority, for masters at least one; never all (a node
// drain could then never evict any).
func (c *checker) checkPDB(o *Object, pdb *policyv1.PodDisruptionBudget) {
	sel, err := selectorOf(pdb.Spec.Selector)
	if err != nil {
		c.add(o, "spec.selector", "%v", err)
		return
	}
	var matched []*workload
	for _, w := range c.workloads {
		if w.obj.Namespace == o.Namespace && sel.Matches(labels.Set(w.template.Labels)) {
			matched = append(matched, w)
		}
	}
	switch {
	case len(matched) == 0:
		c.add(o, "spec.selector", "%q selects no workload's pods (%s)", sel.String(), c.workloadLabels(o.Namespace))
		return
	case len(matched) > 1:
		var names []string
		for _, w := range matched {
			names = append(names, w.obj.Ref())
		}
		c.add(o, "spec.selector", "%q selects the pods of %s: one budget per workload", sel.String(), strings.Join(names, " and "))
		return
	}
	w := matched[0]
	if pdb.Spec.MaxUnavailable != nil {
		c.add(o, "spec.maxUnavailable", "use minAvailable (checked against the majority of the replicas)")
		return
	}
	if pdb.Spec.MinAvailable == nil {
		c.add(o, "spec.minAvailable", "missing")
		return
	}
	if pdb.Spec.MinAvailable.Type != intstr.Int {
		c.add(o, "spec.minAvailable", "%q: give a number of pods, not a percentage", pdb.Spec.MinAvailable.String())
		return
	}
	minAvailable, n := int(pdb.Spec.MinAvailable.IntVal), w.n()
	lowest := 1
	if w.stateful {
		lowest = n/2 + 1
	}
	switch {
	case w.stateful && minAvailable < lowest:
		c.add(o, "spec.minAvailable", "%d of %s's %d replicas is not a majority (%d): a node drain could take the group's quorum", minAvailable, w.obj.Ref(), n, lowest)
	case minAvailable < lowest:
		c.add(o, "spec.minAvailable", "%d: keep at least 1 of %s's %d pods", minAvailable, w.obj.Ref(), n)
	case minAvailable >= n:
		c.add(o, "spec.minAvailable", "%d of %s's %d replicas: no pod could ever be evicted, so no node could be drained", minAvailable, w.obj.Ref(), n)
	}
}

func (c *checker) checkEveryWorkloadHasPDB() {
	for _, w := range c.workloads {
		found := false
		for _, o := range c.objs {
			pdb, ok := o.Obj.(*policyv1.PodDisruptionBudget)
			if !ok || o.Namespace != w.obj.Namespace {
				continue
			}
			if sel, err := selectorOf(pdb.Spec.Selector); err == nil && sel.Matches(labels.Set(w.template.Labels)) {
				found = true
			}
		}
		if !found {
			c.add(w.obj, "", "no PodDisruptionBudget selects its pods (a node drain could evict all of them at once)")
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ReferencedSecrets lists the Secret names the workloads' pods use (volumes, env), sorted.
func ReferencedSecrets(objs []*Object) []string {
	set := map[string]bool{}
	add := func(spec *corev1.PodSpec) {
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				set[v.Secret.SecretName] = true
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.Secret != nil {
						set[s.Secret.Name] = true
					}
				}
			}
		}
		for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
			for _, ct := range cs {
				for _, e := range ct.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						set[e.ValueFrom.SecretKeyRef.Name] = true
					}
				}
				for _, e := range ct.EnvFrom {
					if e.SecretRef != nil {
						set[e.SecretRef.Name] = true
					}
				}
			}
		}
	}
	for _, o := range objs {
		switch obj := o.Obj.(type) {
		case *appsv1.StatefulSet:
			add(&obj.Spec.Template.Spec)
		case *appsv1.Deployment:
			add(&obj.Spec.Template.Spec)
		}
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
