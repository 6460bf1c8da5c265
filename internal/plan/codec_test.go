package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestPlanAndShareRoundTrip(t *testing.T) {
	full, err := Parse([]byte(fullPlan))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	minimal, err := Parse([]byte("users: 1\niterations: 3\n" + homeTask))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	share := full.Split(3)[1]

	codecs := []struct {
		name      string
		marshal   func(any) ([]byte, error)
		unmarshal func([]byte, any) error
	}{
		{"json", json.Marshal, json.Unmarshal},
		{"msgpack", msgpack.Marshal, msgpack.Unmarshal},
	}
	for _, c := range codecs {
		t.Run(c.name+" keeps a full plan", func(t *testing.T) {
			roundTrip(t, c.marshal, c.unmarshal, full, &Plan{})
		})
		t.Run(c.name+" keeps a plan without headers", func(t *testing.T) {
			roundTrip(t, c.marshal, c.unmarshal, minimal, &Plan{})
		})
		t.Run(c.name+" keeps a share", func(t *testing.T) {
			roundTrip(t, c.marshal, c.unmarshal, &share, &Share{})
		})
	}
}

func TestPlanJSONUsesSnakeCaseNames(t *testing.T) {
	p, err := Parse([]byte(fullPlan))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	for _, name := range []string{`"spawn_rate":10`, `"max_rps":500`, `"join_timeout":120000000000`, `"url":"http://127.0.0.1:8080/"`} {
		if !strings.Contains(string(data), name) {
			t.Errorf("JSON %s does not contain %s", data, name)
		}
	}
}

// roundTrip encodes in, decodes it into out and asserts that both are
// equal.
func roundTrip[T any](t *testing.T, marshal func(any) ([]byte, error), unmarshal func([]byte, any) error, in, out *T) {
	t.Helper()
	data, err := marshal(in)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if err := unmarshal(data, out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip changed the value:\n got %+v\nwant %+v", out, in)
	}
}
