package plan

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks a YAML node tree and builds a Plan from it, recording a
// problem for every key or value it cannot use instead of stopping at the
// first one.
type decoder struct {
	*problems
	// dir is the directory that file paths in the plan are relative to.
	dir string
	// vars collects the variables that the plan uses and extracts.
	vars variables
}

// entry is one key of a YAML mapping together with its value.
type entry struct {
	key   *yaml.Node
	value *yaml.Node
}

// fields returns the entries of mapping m by key, recording duplicate,
// unknown and non-string keys. path is the dotted path of m, empty for the
// top-level mapping.
func (d *decoder) fields(m *yaml.Node, path string, known []string) map[string]entry {
	out := make(map[string]entry, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.AliasNode {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.addf(k, path, "invalid key (%s): keys must be plain names such as %s", kindName(k), known[0])
			continue
		}

		key := joinPath(path, k.Value)
		if prev, ok := out[k.Value]; ok {
			d.addf(k, key, "duplicate key %q, already set at line %d; remove one of them",
				k.Value, prev.key.Line)
			continue
		}
		if !slices.Contains(known, k.Value) {
			d.addf(k, key, "%s", unknownKey(k.Value, known))
			continue
		}
		out[k.Value] = entry{key: k, value: v}
	}
	return out
}

// unknownKey builds the message for an unknown key, suggesting the
// closest known key when it is within two edits.
func unknownKey(name string, known []string) string {
	best, bestDistance := "", 3
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDistance {
			best, bestDistance = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q; did you mean %q?", name, best)
	}
	return fmt.Sprintf("unknown key %q; remove it or use one of: %s", name, strings.Join(known, ", "))
}

// editDistance returns the Levenshtein distance between a and b, counted
// in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	curr := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		curr[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			curr[j] = min(prev[j]+1, curr[j-1]+1, prev[j-1]+cost)
		}
		prev, curr = curr, prev
	}
	return prev[len(b)]
}

// scalar reports whether v is a scalar other than null. It records a
// problem when v is null, a list or a mapping. Aliases were reported
// before the walk, so they only return false.
func (d *decoder) scalar(v *yaml.Node, key, rule string) bool {
	if v.Kind == yaml.AliasNode {
		return false
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return false
	}
	return true
}

// text reads a string. Plain scalars that YAML types as numbers or
// booleans, such as 5 or true, are taken as the text they were written as.
func (d *decoder) text(v *yaml.Node, key, rule string) (string, bool) {
	if !d.scalar(v, key, rule) {
		return "", false
	}
	switch v.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool":
		return v.Value, true
	}
	d.addf(v, key, "%s: %s", invalid(v), rule)
	return "", false
}

// count reads a whole number from low to high inclusive. example is a
// valid value to show in the message.
func (d *decoder) count(v *yaml.Node, key string, low, high int64, example string) (int64, bool) {
	label := leaf(key)
	rule := fmt.Sprintf("%s must be a whole number such as %s", label, example)
	if !d.scalar(v, key, rule) {
		return 0, false
	}

	var n int64
	if v.ShortTag() != "!!int" || v.Decode(&n) != nil {
		switch {
		case isHugeInteger(v) && strings.HasPrefix(v.Value, "-"):
			rule = lowRule(label, low)
		case isHugeInteger(v):
			rule = fmt.Sprintf("%s must be at most %d", label, high)
		}
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return 0, false
	}

	switch {
	case n < low:
		d.addf(v, key, "%s: %s", invalid(v), lowRule(label, low))
	case n > high:
		d.addf(v, key, "%s: %s must be at most %d", invalid(v), label, high)
	default:
		return n, true
	}
	return 0, false
}

// lowRule states the lower bound of a whole number.
func lowRule(label string, low int64) string {
	switch low {
	case 0:
		return label + " must be 0 or more"
	case 1:
		return label + " must be greater than 0"
	}
	return fmt.Sprintf("%s must be %d or more", label, low)
}

// isHugeInteger reports whether v is written as a decimal integer too
// large for int64. YAML types such a value as a float, or as an int that
// fails to decode.
func isHugeInteger(v *yaml.Node) bool {
	digits := strings.TrimLeft(strings.ReplaceAll(v.Value, "_", ""), "+-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	return v.ShortTag() == "!!float" || v.ShortTag() == "!!int"
}

// rate reads a finite number greater than 0, such as a rate per second.
func (d *decoder) rate(v *yaml.Node, key, example string) (float64, bool) {
	label := leaf(key)
	rule := fmt.Sprintf("%s must be a number such as %s", label, example)
	if !d.scalar(v, key, rule) {
		return 0, false
	}

	var f float64
	tag := v.ShortTag()
	if (tag != "!!int" && tag != "!!float") || v.Decode(&f) != nil {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.addf(v, key, "%s: %s must be a finite number such as %s", invalid(v), label, example)
		return 0, false
	}
	if f <= 0 {
		d.addf(v, key, "%s: %s must be greater than 0", invalid(v), label)
		return 0, false
	}
	return f, true
}

// duration reads a Go duration string greater than 0.
func (d *decoder) duration(v *yaml.Node, key string) (time.Duration, bool) {
	label := leaf(key)
	rule := fmt.Sprintf("%s must be a Go duration such as 30s, 5m or 1h30m", label)
	if !d.scalar(v, key, rule) {
		return 0, false
	}

	switch v.ShortTag() {
	case "!!str":
	case "!!int", "!!float":
		d.addf(v, key, "%s: %s needs a unit; use a Go duration such as %ss or %sm",
			invalid(v), label, v.Value, v.Value)
		return 0, false
	default:
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return 0, false
	}

	dur, err := time.ParseDuration(v.Value)
	if err != nil {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return 0, false
	}
	if dur <= 0 {
		d.addf(v, key, "%s: %s must be greater than 0", invalid(v), label)
		return 0, false
	}
	return dur, true
}

// invalid starts a message about value v: "invalid value 5",
// "invalid value (a list)" or "missing value" for null.
func invalid(v *yaml.Node) string {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return "missing value"
	}
	if v.Kind == yaml.ScalarNode {
		return "invalid value " + quote(v)
	}
	return "invalid value (" + kindName(v) + ")"
}

// quote returns the scalar v as written, quoted when YAML types it as a
// string and cut short when it is long.
func quote(v *yaml.Node) string {
	const maxShown = 40
	s := v.Value
	if len(s) > maxShown {
		s = s[:maxShown] + "..."
	}
	if v.ShortTag() == "!!str" {
		return strconv.Quote(s)
	}
	return s
}

// kindName describes what kind of YAML value v is, for messages.
func kindName(v *yaml.Node) string {
	switch v.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if v.ShortTag() == "!!null" {
		return "null"
	}
	return "the value " + quote(v)
}

// joinPath appends key to the dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// leaf returns the part of a key path that names the field within its
// task, or the whole path outside tasks: "weight" for "tasks[1].weight"
// and "workers.min" for "workers.min".
func leaf(key string) string {
	if i := strings.LastIndex(key, "]."); i >= 0 {
		return key[i+2:]
	}
	return key
}
