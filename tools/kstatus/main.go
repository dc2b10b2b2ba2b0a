// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute), the status
// library behind Flux's health checks and kpt, says about one Kubernetes object. modeldeploy's tests use
// it as a judge no one in this project wrote: the ModelDeployment status must read Current, InProgress or
// Failed to it exactly when the operator means that.
//
//	kstatus [-f FILE|-]                       # the object as JSON or YAML from a file or stdin
//	kstatus --kubeconfig K -n NS RESOURCE NAME  # the object read from the API server (RESOURCE: md, deployment, ...)
//
// It prints one JSON line: {"status": "Current", "message": "...", "conditions": [...]}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	file := flag.String("f", "", "read the object from FILE (- for stdin) instead of the API server")
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig for reading from the API server")
	namespace := flag.String("n", "default", "namespace of the object read from the API server")
	flag.Parse()
	obj, err := load(*file, *kubeconfig, *namespace, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(2)
	}
	result, err := status.Compute(obj)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
	out, err := json.Marshal(map[string]any{
		"status": result.Status, "message": result.Message, "conditions": result.Conditions,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

func load(file, kubeconfig, namespace string, args []string) (*unstructured.Unstructured, error) {
	if file != "" {
		return read(file)
	}
	if len(args) != 2 {
		return nil, fmt.Errorf("usage: kstatus -f FILE|- , or kstatus [--kubeconfig K] [-n NS] RESOURCE NAME")
	}
	return fetch(kubeconfig, namespace, args[0], args[1])
}

func read(file string) (*unstructured.Unstructured, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	// YAML is a superset of JSON, so one path reads both. Unstructured's own JSON decoding keeps integers
	// int64, which kstatus' field accessors (metadata.generation) insist on.
	text, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(text); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return obj, nil
}

func fetch(kubeconfig, namespace, resource, name string) (*unstructured.Unstructured, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	// Short names (md) and plurals resolve the way kubectl resolves them.
	cached := memory.NewMemCacheClient(disco)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	gvr, err := mapper.ResourceFor(schema.ParseGroupResource(resource).WithVersion(""))
	if err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	gvk, err := mapper.KindFor(gvr)
	if err != nil {
		return nil, err
	}
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return client.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	}
	return client.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
}
