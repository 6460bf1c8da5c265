package plan

import "strings"

// IsValidName reports whether s may name a task: it is not empty and
// contains only the characters A-Z, a-z, 0-9, '_', '.' and '-'. Names of
// Go task functions follow the same rule.
func IsValidName(s string) bool {
	return s != "" && strings.IndexFunc(s, isNotLabelChar) < 0
}
