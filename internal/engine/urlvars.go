package engine

import (
	"fmt"
	"strconv"

	"github.com/barrage-load/barrage/internal/plan"
)

// varKind is the source of a variable's value.
type varKind uint8

const (
	seqVar    varKind = iota // ${seq}: grows by one with each request of the worker
	userVar                  // ${user}: the user's number within its engine
	randomVar                // ${random}: a random 64-bit number
	storedVar                // extracted from a response or read from a data row
)

// varRef is one ${name} in a template.
type varRef struct {
	kind  varKind
	index int // the variable's index in the variableTable, for storedVar
}

// varTemplate is a url, header value or body with ${name} variables,
// split into the literal text between them and the variables.
type varTemplate struct {
	literals []string // one more than refs
	refs     []varRef
}

// parseURLTemplate splits s at its ${name} variables and resolves their
// names in vars. It returns nil for text without variables, and an error
// for a name that is neither built in nor in vars.
func parseURLTemplate(s string, vars *variableTable) (*varTemplate, error) {
	literals, names := plan.SplitVariables(s)
	if len(names) == 0 {
		return nil, nil
	}
	t := &varTemplate{literals: literals}
	for _, name := range names {
		ref, ok := vars.lookup(name)
		if !ok {
			return nil, fmt.Errorf("unknown variable ${%s}", name)
		}
		t.refs = append(t.refs, ref)
	}
	return t, nil
}

// expand appends the text with the user's values to buf. When a stored
// variable has no value yet it returns the index of that variable, and -1
// otherwise.
func (t *varTemplate) expand(buf []byte, u *user) ([]byte, int) {
	for i, ref := range t.refs {
		buf = append(buf, t.literals[i]...)
		switch ref.kind {
		case seqVar:
			// One request uses one ${seq} value wherever it appears.
			if u.seq == 0 {
				u.seq = u.engine.seq.Add(1)
			}
			buf = strconv.AppendInt(buf, u.seq, 10)
		case userVar:
			buf = strconv.AppendInt(buf, int64(u.id), 10)
		case randomVar:
			buf = strconv.AppendUint(buf, u.rng.Uint64(), 10)
		case storedVar:
			if !u.valueSet[ref.index] {
				return buf, ref.index
			}
			buf = append(buf, u.values[ref.index]...)
		}
	}
	return append(buf, t.literals[len(t.literals)-1]...), -1
}

// builtinRef returns the reference to a built-in variable.
func builtinRef(name string) (varRef, bool) {
	switch name {
	case "seq":
		return varRef{kind: seqVar}, true
	case "user":
		return varRef{kind: userVar}, true
	case "random":
		return varRef{kind: randomVar}, true
	}
	return varRef{}, false
}
