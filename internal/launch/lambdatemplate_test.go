package launch_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestLambdaTemplate checks that deploy/lambda/template.yaml holds what
// its guide promises. CloudFormation's short tags (!Ref, !If) decode as
// tagged nodes, so the file is read as a node tree.
func TestLambdaTemplate(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "lambda", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("template.yaml is not YAML: %v", err)
	}
	root := doc.Content[0]
	resources := child(t, root, "Resources")
	for _, name := range []string{"WorkerRole", "WorkerFunction", "WorkerInvokeConfig"} {
		child(t, resources, name)
	}
	props := child(t, child(t, resources, "WorkerFunction"), "Properties")
	want := map[string]string{
		"Runtime": "provided.al2023",
		"Handler": "bootstrap",
		"Code":    "build/worker-arm64.zip",
	}
	for key, value := range want {
		if got := child(t, props, key).Value; got != value {
			t.Errorf("WorkerFunction %s = %q, want %q", key, got, value)
		}
	}
	for _, key := range []string{"Role", "MemorySize", "Timeout", "ReservedConcurrentExecutions", "VpcConfig", "Environment", "Architectures"} {
		child(t, props, key)
	}
	params := child(t, root, "Parameters")
	for _, name := range []string{"MemorySize", "Timeout", "ReservedConcurrency", "NatsUrlSecret", "SubnetIds", "SecurityGroupIds"} {
		child(t, params, name)
	}
}

// child returns the value of key in the mapping node m.
func child(t *testing.T, m *yaml.Node, key string) *yaml.Node {
	t.Helper()
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	t.Fatalf("no key %s at line %d", key, m.Line)
	return nil
}
