package plan

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// BuiltinVariables are the variables that every plan has: ${seq}, a
// number that grows by one with every request of a worker, ${user}, the
// user's number within its worker, and ${random}, a random 64-bit number.
var BuiltinVariables = []string{"seq", "user", "random"}

// IsVariableName reports whether s may name a variable: a letter or '_'
// followed by letters, digits and '_'.
func IsVariableName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// SplitVariables splits s at its ${name} variables into the literal text
// around them and the names: s is literals[0] + ${names[0]} + literals[1]
// and so on, with one more literal than names. A "${" without a closing
// "}" stays in the literal text, and Parse rejects such a plan.
func SplitVariables(s string) (literals, names []string) {
	rest := s
	for {
		start := strings.Index(rest, "${")
		if start < 0 {
			return append(literals, rest), names
		}
		end := strings.IndexByte(rest[start:], '}')
		if end < 0 {
			return append(literals, rest), names
		}
		literals = append(literals, rest[:start])
		names = append(names, rest[start+2:start+end])
		rest = rest[start+end+1:]
	}
}

// variableUse is one ${name} in a url, header value or body, checked
// once the plan's extracted variables and data columns are known.
type variableUse struct {
	node *yaml.Node
	key  string
	name string
}

// variables collects the variables that a plan uses and defines while it
// is decoded.
type variables struct {
	uses []variableUse
	// extracted maps each extracted variable to the first step that
	// extracts it, such as "step login of task login_flow".
	extracted map[string]string
	// order lists the extracted variables in the order they first
	// appear in the plan.
	order []string
}

// scanVariables records every ${name} in s, the text of value v at key,
// and reports whether their syntax is valid. Whether each name exists is
// checked later by checkVariableUses.
func (d *decoder) scanVariables(v *yaml.Node, key, s string) bool {
	for {
		start := strings.Index(s, "${")
		if start < 0 {
			return true
		}
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			d.addf(v, key, "%s: variable %q has no closing \"}\"; write a variable as ${name}", invalid(v), s[start:])
			return false
		}
		name := s[start+2 : start+end]
		if !IsVariableName(name) {
			d.addf(v, key, "%s: invalid variable name %q in ${%s}: use letters, digits and '_', starting with a letter or '_'", invalid(v), name, name)
			return false
		}
		d.vars.uses = append(d.vars.uses, variableUse{node: v, key: key, name: name})
		s = s[start+end+1:]
	}
}

// defineExtracted records that the step described by where, such as
// "step login of task login_flow", extracts the variable name.
func (d *decoder) defineExtracted(name, where string) {
	if d.vars.extracted == nil {
		d.vars.extracted = make(map[string]string)
	}
	if _, ok := d.vars.extracted[name]; !ok {
		d.vars.extracted[name] = where
		d.vars.order = append(d.vars.order, name)
	}
}

// checkVariableUses reports every variable that the plan uses but that is
// neither built in, extracted by a step nor a column of data, and every
// data column that a step also extracts. data may be nil.
func (d *decoder) checkVariableUses(data *Data, dataNode *yaml.Node) {
	known := slices.Clone(BuiltinVariables)
	known = append(known, d.vars.order...)
	if data != nil {
		for _, c := range data.Columns {
			if where, ok := d.vars.extracted[c]; ok {
				d.addf(dataNode, "data.file", "column %q is also extracted by %s; rename the column or the extracted variable", c, where)
				continue
			}
			known = append(known, c)
		}
	}

	for _, u := range d.vars.uses {
		if slices.Contains(known, u.name) {
			continue
		}
		d.addf(u.node, u.key, "unknown variable ${%s}; the known variables are %s. Define another with a step's extract or a column of data.file",
			u.name, strings.Join(known, ", "))
	}
}
