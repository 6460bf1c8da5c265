package launch_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// nomadJob is what deploy/nomad/README.md promises of one job file.
type nomadJob struct {
	file     string
	job      string
	jobType  string
	driver   string
	dispatch bool // parameterized, for coordinator start --launch nomad
}

var nomadJobs = []nomadJob{
	{file: "worker-dispatch-docker.nomad.hcl", job: "barrage-worker", jobType: "batch", driver: "docker", dispatch: true},
	{file: "worker-dispatch-exec.nomad.hcl", job: "barrage-worker-exec", jobType: "batch", driver: "exec", dispatch: true},
	{file: "worker-fleet-docker.nomad.hcl", job: "barrage-fleet", jobType: "service", driver: "docker"},
	{file: "worker-fleet-exec.nomad.hcl", job: "barrage-fleet-exec", jobType: "service", driver: "exec"},
}

func TestNomadJobFiles(t *testing.T) {
	for _, want := range nomadJobs {
		t.Run(want.file, func(t *testing.T) {
			body := parseHCL(t, filepath.Join("..", "..", "deploy", "nomad", want.file))
			job := onlyBlock(t, body, "job")
			if len(job.Labels) != 1 || job.Labels[0] != want.job {
				t.Errorf("job labels = %v, want [%s]", job.Labels, want.job)
			}
			if got := stringAttr(t, job.Body, "type"); got != want.jobType {
				t.Errorf("job type = %q, want %q", got, want.jobType)
			}

			group := onlyBlock(t, job.Body, "group")
			task := onlyBlock(t, group.Body, "task")
			if got := stringAttr(t, task.Body, "driver"); got != want.driver {
				t.Errorf("task driver = %q, want %q", got, want.driver)
			}
			config := onlyBlock(t, task.Body, "config")
			onlyBlock(t, task.Body, "resources")
			onlyBlock(t, group.Body, "restart")
			if !setsNATSURL(task.Body) {
				t.Error("the task sets NATS_URL neither in env nor in a template")
			}
			if want.driver == "docker" {
				if _, ok := config.Body.Attributes["image"]; !ok {
					t.Error("docker config has no image")
				}
				onlyBlock(t, config.Body, "ulimit")
			} else if _, ok := config.Body.Attributes["command"]; !ok {
				t.Error("exec config has no command")
			}

			if !want.dispatch {
				if _, ok := group.Body.Attributes["count"]; !ok {
					t.Error("the fleet's group has no count")
				}
				if len(blocks(job.Body, "parameterized")) != 0 {
					t.Error("the fleet job is parameterized")
				}
				return
			}
			p := onlyBlock(t, job.Body, "parameterized")
			if got := stringList(t, p.Body, "meta_required"); !slices.Equal(got, []string{"run", "slots"}) {
				t.Errorf("meta_required = %v, want [run slots]", got)
			}
			onlyBlock(t, group.Body, "reschedule")
			args := source(t, config.Body.Attributes["args"])
			for _, arg := range []string{`"--run"`, "NOMAD_META_run", `"--slots"`, "NOMAD_META_slots"} {
				if !strings.Contains(args, arg) {
					t.Errorf("args %s lack %s", args, arg)
				}
			}
		})
	}
}

// parseHCL parses the file at path with the HCL native syntax parser.
func parseHCL(t *testing.T, path string) *hclsyntax.Body {
	t.Helper()
	file, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", path, diags.Error())
	}
	return file.Body.(*hclsyntax.Body)
}

func blocks(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var found []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			found = append(found, b)
		}
	}
	return found
}

// onlyBlock returns the one block of type typ in body.
func onlyBlock(t *testing.T, body *hclsyntax.Body, typ string) *hclsyntax.Block {
	t.Helper()
	found := blocks(body, typ)
	if len(found) != 1 {
		t.Fatalf("found %d %s blocks, want 1", len(found), typ)
	}
	return found[0]
}

// stringAttr evaluates the attribute name of body, which must be a
// literal string.
func stringAttr(t *testing.T, body *hclsyntax.Body, name string) string {
	t.Helper()
	attr, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("no attribute %s", name)
	}
	v, diags := attr.Expr.Value(&hcl.EvalContext{})
	if diags.HasErrors() {
		t.Fatalf("attribute %s: %s", name, diags.Error())
	}
	return v.AsString()
}

// stringList evaluates the attribute name of body, a list of literal
// strings.
func stringList(t *testing.T, body *hclsyntax.Body, name string) []string {
	t.Helper()
	attr, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("no attribute %s", name)
	}
	v, diags := attr.Expr.Value(&hcl.EvalContext{})
	if diags.HasErrors() {
		t.Fatalf("attribute %s: %s", name, diags.Error())
	}
	var list []string
	for _, e := range v.AsValueSlice() {
		list = append(list, e.AsString())
	}
	return list
}

// source returns the text of an attribute's expression.
func source(t *testing.T, attr *hclsyntax.Attribute) string {
	t.Helper()
	if attr == nil {
		t.Fatal("missing attribute")
	}
	r := attr.Expr.Range()
	data, err := os.ReadFile(r.Filename)
	if err != nil {
		t.Fatal(err)
	}
	return string(r.SliceBytes(data))
}

// setsNATSURL reports whether a task sets NATS_URL in its env block or
// in a template that it exports to the environment.
func setsNATSURL(task *hclsyntax.Body) bool {
	for _, env := range blocks(task, "env") {
		if _, ok := env.Body.Attributes["NATS_URL"]; ok {
			return true
		}
	}
	for _, tmpl := range blocks(task, "template") {
		data, ok := tmpl.Body.Attributes["data"]
		envAttr, exported := tmpl.Body.Attributes["env"]
		if !ok || !exported {
			continue
		}
		v, diags := envAttr.Expr.Value(&hcl.EvalContext{})
		text, textDiags := data.Expr.Value(&hcl.EvalContext{})
		if diags.HasErrors() || textDiags.HasErrors() {
			continue
		}
		if v.True() && strings.Contains(text.AsString(), "NATS_URL=") {
			return true
		}
	}
	return false
}
