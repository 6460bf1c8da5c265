package task

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func noop(context.Context, *VU) error { return nil }

func TestRegisterAndLookup(t *testing.T) {
	Register("test.lookup", noop)

	f, ok := Lookup("test.lookup")
	if !ok {
		t.Fatal("Lookup of a registered name returned false")
	}
	if f == nil {
		t.Error("Lookup of a registered name returned a nil function")
	}
	if _, ok := Lookup("test.missing"); ok {
		t.Error("Lookup of an unregistered name returned true")
	}
	if !slices.Contains(Names(), "test.lookup") {
		t.Errorf("Names() = %v, want it to contain test.lookup", Names())
	}
	if !slices.IsSorted(Names()) {
		t.Errorf("Names() = %v, want sorted", Names())
	}
}

func TestRegisterPanics(t *testing.T) {
	Register("test.duplicate", noop)
	tests := []struct {
		name     string
		taskName string
		f        Func
		want     string // part of the panic message
	}{
		{"duplicate name", "test.duplicate", noop, `task "test.duplicate" is already registered`},
		{"empty name", "", noop, `invalid name ""`},
		{"name with a space", "log in", noop, `invalid name "log in"`},
		{"nil function", "test.nil", nil, `nil function for task "test.nil"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("Register(%q) did not panic", tt.taskName)
				}
				msg, _ := r.(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("panic %v does not contain %q", r, tt.want)
				}
			}()
			Register(tt.taskName, tt.f)
		})
	}
	if _, ok := Lookup("test.nil"); ok {
		t.Error("a rejected registration is still registered")
	}
}
